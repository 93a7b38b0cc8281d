"""The Job nblift writes for a Kubernetes target, and the target settings, checked without a cluster: every
manifest nblift writes (the Job, and the Role and volume claim the docs give) validates in strict mode against
the Kubernetes schema of the release the target names (tests/integration/kube_schema.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nblift.backends.k8s_manifest import (
    DEFAULT_KUBERNETES,
    ENV_CACHE_DIR,
    NOTEBOOK_ERROR_EXIT,
    K8sTarget,
    deadline_seconds,
    job_manifest,
    k8s_targets,
)
from nblift.errors import ConfigError
from nblift.project import Project

pytest.importorskip("kubernetes_validate", reason="a test dependency: ./dev test installs it")
from integration.kube_schema import validate, validate_job

FULL = K8sTarget(
    name="a100",
    storage="s3://bucket/nblift",
    image="ghcr.io/acme/train:1",
    gpus=8,
    gpu_product="NVIDIA-A100-SXM4-80GB",
    node_selector={"pool": "spot"},
    tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
    queue="team-a",
    priority_class="spot-batch",
    service_account="trainer",
    credentials_secret="bucket-keys",
    cpu="16",
    memory="120Gi",
    env_cache="nblift-envs",
    kubernetes_version="1.31",
)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "kubernetes.md"


@pytest.mark.parametrize(
    "target",
    [FULL, K8sTarget(name="cpu", storage="s3://b", image="python:3.11", image_has_env=True)],
    ids=["everything", "bare"],
)
def test_every_manifest_validates(target):
    job = validate_job(
        job_manifest(target, "0123456789ab", {"NBLIFT_BUCKET": "b"}, deadline_seconds(600, None)),
        target.kubernetes_version,
    )
    spec = job["spec"]
    assert spec["activeDeadlineSeconds"] == 720 and spec["ttlSecondsAfterFinished"] == 3600
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0]["action"] == "Ignore" and rules[0]["onPodConditions"][0]["type"] == "DisruptionTarget"
    assert rules[1]["action"] == "FailJob" and rules[1]["onExitCodes"]["values"] == [NOTEBOOK_ERROR_EXIT]
    pod = spec["template"]["spec"]
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    if target.env_cache:  # the environment cache: the claim, mounted where the pod is told
        assert claims == [{"name": "envs", "persistentVolumeClaim": {"claimName": "nblift-envs"}}]
        assert env["NBLIFT_ENV_CACHE"] == ENV_CACHE_DIR
    else:
        assert claims == [] and "NBLIFT_ENV_CACHE" not in env


def test_strict_validation_catches_what_the_api_server_would_refuse():
    job = job_manifest(FULL, "0123456789ab", {}, None)
    job["spec"]["template"]["spec"]["containers"][0]["gpu"] = 1  # a field no Container has
    with pytest.raises(Exception, match="gpu"):
        validate(job, DEFAULT_KUBERNETES)
    job = job_manifest(FULL, "0123456789ab", {}, None)
    job["spec"]["backoffLimit"] = "3"
    with pytest.raises(Exception, match="'3' is not of type 'integer'"):
        validate(job, DEFAULT_KUBERNETES)


def test_the_manifests_in_the_docs_validate():
    import yaml

    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.S)
    kinds = []
    for block in blocks:
        for manifest in yaml.safe_load_all(block):
            validate(manifest, DEFAULT_KUBERNETES)
            kinds.append(manifest["kind"])
    assert {"Role", "PersistentVolumeClaim"} <= set(kinds)


def test_gpus_queue_and_placement():
    job = job_manifest(FULL, "0123456789ab", {}, None)
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "8", "cpu": "16", "memory": "120Gi"}
    assert pod["nodeSelector"] == {"pool": "spot", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert job["spec"]["suspend"] is True  # Kueue admits it
    assert "activeDeadlineSeconds" not in job["spec"]
    assert container["envFrom"] == [{"secretRef": {"name": "bucket-keys"}}]
    assert pod["terminationGracePeriodSeconds"] > FULL.preempt_grace


def test_deadline_is_the_earlier_of_time_limit_and_budget():
    assert deadline_seconds(None, None) is None
    assert deadline_seconds(3600, 60) == 60 + 120
    assert deadline_seconds(30, 600) == 30 + 120


def test_settings_are_checked(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nblift.kubernetes.a]\nimage = "x"\nstorage = "s3://b/p"\ngpus = 2\n'
        'tolerations = [{key = "g", operator = "Exists"}]\nnode_selector = {pool = "gpu"}\n'
    )
    target = k8s_targets(Project.discover(tmp_path))["a"]
    assert (
        target.gpus == 2 and target.node_selector == {"pool": "gpu"} and target.tolerations[0]["key"] == "g"
    )
    for bad, words in [
        ('image = "x"\nstorage = "/local"', "s3://"),
        ('image = "x"\nstorage = "s3://b"\ngpus = "two"', "whole number"),
        ('image = "x"\nstorage = "s3://b"\nmemory = "lots"', "not a quantity"),
        ('image = "x"\nstorage = "s3://b"\ntolerations = [{color = "red"}]', "tolerations"),
        ('storage = "s3://b"', "no image"),
        ('image = "x"\nstorage = "s3://b"\nkubernetes_version = "1.24"', "1.26 or newer"),
        ('image = "x"\nstorage = "s3://b"\nkubernetes_version = "latest"', "MAJOR.MINOR"),
        ('image = "x"\nstorage = "s3://b"\nenv_cache = "My Volume"', "PersistentVolumeClaim"),
        ('image = "x"\nstorage = "s3://b"\nimage_has_env = "yes"', "true or false"),
    ]:
        (tmp_path / "pyproject.toml").write_text(f"[tool.nblift.kubernetes.a]\n{bad}\n")
        with pytest.raises(ConfigError, match=words):
            k8s_targets(Project.discover(tmp_path))


def test_launch_targets_list_kubernetes_targets_with_their_gpus(tmp_path):
    from nblift.runs import service

    (tmp_path / "pyproject.toml").write_text(
        '[tool.nblift.kubernetes.a100]\nimage = "x"\nstorage = "s3://b/p"\ngpus = 2\n'
        'gpu_product = "NVIDIA-A100-SXM4-80GB"\n'
    )
    listed = {t["name"]: t for t in service.launch_targets(Project.discover(tmp_path))}
    assert listed["k8s:a100"]["gpus"] == "2 x NVIDIA-A100-SXM4-80GB" and listed["k8s:a100"]["launchable"]
    assert "k8s" not in listed  # only configured targets are offered
