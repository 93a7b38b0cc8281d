"""Kubernetes targets as the settings name them, and the `batch/v1` Job nblift writes for one run.

    [tool.nblift.kubernetes.NAME]
    context = ""                        # the kubeconfig context ("" : the current one, or in-cluster)
    namespace = "default"
    image = "python:3.11"               # Python with boto3 and uv (nblift comes along; the rest: the lock)
    python = "python"  uv = "uv"        # the image's interpreter and uv
    image_has_env = false               # true: the image's Python already has the lock's packages, papermill
                                        # and ipykernel; nothing is built
    env_cache = ""                      # a PersistentVolumeClaim that keeps built environments by lock hash
    offline = false                     # uv installs from its cache only (no package index from the pod)
    kubernetes_version = "1.30"         # the cluster's Kubernetes release (the Job is checked against it)
    storage = "s3://bucket/nblift"      # the S3-compatible bucket bundle, runtime and results go through
    endpoint_url = ""                   # for S3-compatible stores
    credentials_secret = ""             # a Secret whose keys become the pod's environment (AWS_*)
    gpus = 1                            # resources.limits["nvidia.com/gpu"]
    gpu_product = "NVIDIA-A100-SXM4-80GB"   # the node label nvidia.com/gpu.product
    node_selector = {}                  # more node labels
    tolerations = []                    # [{key = "nvidia.com/gpu", operator = "Exists"}]
    queue = ""                          # a Kueue LocalQueue (kueue.x-k8s.io/queue-name; suspended)
    priority_class = ""
    service_account = ""
    cpu = ""  memory = ""               # requests and limits, e.g. "8", "32Gi"
    retries = 3                         # backoffLimit: failures other than disruptions
    preempt_grace = 120                 # seconds an evicted pod gets to checkpoint between cells
    ttl_seconds = 3600                  # ttlSecondsAfterFinished
    hourly_cost = 0.0  max_cost = 0.0   # see docs/costs.md

The Job's single container runs a short bootstrap (`BOOTSTRAP`) that fetches nblift's runtime from the
bucket by content hash and hands over to `nblift.target.k8s_job`, which builds the run's environment from
the bundle's lock with uv (the SSH agent's builder) unless `image_has_env`, in the `env_cache` volume when
there is one (keyed by the lock's hash: the next run with the same lock starts at once), else in the pod.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from ..costs.prices import PRICE_KEYS, Priced
from ..errors import ConfigError
from .remote import parse_targets

#: The exit status of a pod whose runner recorded a terminal state other than SUCCEEDED: the Job fails at
#: once (podFailurePolicy FailJob), never retried. Kept equal to nblift.target.k8s_job.FINISHED_UNSUCCESSFUL.
NOTEBOOK_ERROR_EXIT = 42
RUN_LABEL = "nblift.dev/run"
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
WORK_DIR = "/nblift"
#: The environment's plan in the run's prefix (`run/ENV_PLAN`): absent when the image has the environment.
ENV_PLAN = "launch.json"
#: Where the `env_cache` volume is mounted (the pod is told by NBLIFT_ENV_CACHE).
ENV_CACHE_DIR = "/nblift-envs"
#: The oldest Kubernetes release with what the Job uses (podFailurePolicy with onPodConditions).
MIN_KUBERNETES = (1, 26)
DEFAULT_KUBERNETES = "1.30"
_VERSION = re.compile(r"v?(\d+)\.(\d+)(\.\d+)?")
_DNS_1123 = re.compile(r"[a-z0-9]([-a-z0-9]{0,251}[a-z0-9])?")
#: Seconds past the run's own limit before Kubernetes stops the Job: time to record the state and upload.
DEADLINE_MARGIN_S = 120
_QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?")
_KEYS: dict[str, type] = {
    "context": str,
    "namespace": str,
    "image": str,
    "python": str,
    "uv": str,
    "image_has_env": bool,
    "env_cache": str,
    "offline": bool,
    "kubernetes_version": str,
    "storage": str,
    "endpoint_url": str,
    "credentials_secret": str,
    "gpus": int,
    "gpu_product": str,
    "queue": str,
    "priority_class": str,
    "service_account": str,
    "cpu": str,
    "memory": str,
    "retries": int,
    "preempt_grace": int,
    "ttl_seconds": int,
    **PRICE_KEYS,
}

#: What the container runs: fetch the runtime (once per pod), then run nblift.target.k8s_job.
BOOTSTRAP = """\
import io, os, sys, tarfile
import boto3
home = os.getcwd()
runtime = os.path.join(home, "runtime")
if not os.path.isdir(os.path.join(runtime, "nblift")):
    s3 = boto3.client("s3", endpoint_url=os.environ.get("NBLIFT_S3_ENDPOINT") or None)
    body = s3.get_object(Bucket=os.environ["NBLIFT_BUCKET"], Key=os.environ["NBLIFT_RUNTIME"])["Body"].read()
    tarfile.open(fileobj=io.BytesIO(body)).extractall(runtime, filter="data")
sys.path.insert(0, runtime)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [runtime, os.environ.get("PYTHONPATH")]))
from nblift.target.k8s_job import main
sys.exit(main(home))
"""


@dataclasses.dataclass(frozen=True)
class K8sTarget(Priced):
    name: str
    storage: str
    image: str
    context: str = ""
    namespace: str = "default"
    python: str = "python"
    uv: str = "uv"
    image_has_env: bool = False
    env_cache: str = ""
    offline: bool = False
    kubernetes_version: str = DEFAULT_KUBERNETES
    endpoint_url: str = ""
    credentials_secret: str = ""
    gpus: int = 0
    gpu_product: str = ""
    node_selector: Mapping[str, str] = dataclasses.field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    queue: str = ""
    priority_class: str = ""
    service_account: str = ""
    cpu: str = ""
    memory: str = ""
    retries: int = 3
    preempt_grace: int = 120
    ttl_seconds: int = 3600

    @property
    def gpus_text(self) -> str:
        return f"{self.gpus}{f' x {self.gpu_product}' if self.gpu_product else ''}"


def _check_table(where: str, values: dict[str, Any], raw: Mapping[str, Any]) -> None:
    for key in ("image", "storage"):
        if not values.get(key):
            raise ConfigError(f"{where} has no {key}", hint=f"set {key} in its table")
    if urlparse(values["storage"]).scheme != "s3":
        raise ConfigError(
            f"{where}: storage must be an s3:// URI", hint='e.g. storage = "s3://bucket/nblift"'
        )
    for key in ("cpu", "memory"):
        if values.get(key) and not _QUANTITY.fullmatch(values[key]):
            raise ConfigError(f"{where}: {key} {values[key]!r} is not a quantity", hint='e.g. "8" or "32Gi"')
    version = _VERSION.fullmatch(values.get("kubernetes_version", DEFAULT_KUBERNETES))
    if version is None or (int(version[1]), int(version[2])) < MIN_KUBERNETES:
        raise ConfigError(
            f"{where}: kubernetes_version {values['kubernetes_version']!r} is not a release nblift supports",
            hint='give the cluster\'s release as MAJOR.MINOR, 1.26 or newer (podFailurePolicy), e.g. "1.30"',
        )
    if values.get("env_cache") and not _DNS_1123.fullmatch(values["env_cache"]):
        raise ConfigError(
            f"{where}: env_cache {values['env_cache']!r} is not a PersistentVolumeClaim name",
            hint='name a claim in the namespace, e.g. env_cache = "nblift-envs"',
        )
    for key in ("gpus", "retries", "preempt_grace", "ttl_seconds"):
        if values.get(key, 0) < 0:
            raise ConfigError(f"{where}: {key} is negative", hint=f"give {key} as 0 or more")
    selector = raw.get("node_selector", {})
    if not isinstance(selector, Mapping) or not all(isinstance(v, str) for v in selector.values()):
        raise ConfigError(
            f"{where}: node_selector must be a table of texts", hint='node_selector = {pool = "gpu"}'
        )
    tolerations = raw.get("tolerations", [])
    allowed = {"key", "operator", "value", "effect", "tolerationSeconds"}
    if not isinstance(tolerations, list) or not all(
        isinstance(t, Mapping) and set(t) <= allowed for t in tolerations
    ):
        raise ConfigError(
            f"{where}: tolerations must be a list of tables with {', '.join(sorted(allowed))}",
            hint='tolerations = [{key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule"}]',
        )


def k8s_targets(project: Any) -> dict[str, K8sTarget]:
    tables = dict(project.settings.kubernetes)
    plain = {
        n: {k: v for k, v in t.items() if k not in ("node_selector", "tolerations")}
        for n, t in tables.items()
    }
    found = {}
    for name, values in parse_targets(plain, _KEYS, "kubernetes").items():
        raw = tables[name]
        _check_table(f"kubernetes.{name}", values, raw)
        found[name] = K8sTarget(
            name=name,
            node_selector=dict(raw.get("node_selector", {})),
            tolerations=tuple(dict(t) for t in raw.get("tolerations", [])),
            **values,
        )
    return found


def job_name(run_id: str) -> str:
    return f"nblift-{run_id}"


def deadline_seconds(timeout: float | None, budget_seconds: float | None) -> int | None:
    """activeDeadlineSeconds: the run's time limit or its budget at the target's rate, whichever is first,
    plus a margin for the runner to record its end (the runner stops itself at the limit; this is the
    backstop that holds even when the pod cannot)."""
    limits = [x for x in (timeout, budget_seconds) if x]
    return int(min(limits)) + DEADLINE_MARGIN_S if limits else None


def job_manifest(
    target: K8sTarget, run_id: str, env: Mapping[str, str], deadline: int | None
) -> dict[str, Any]:
    """The batch/v1 Job of one run."""
    labels = {RUN_LABEL: run_id, "app.kubernetes.io/managed-by": "nblift"}
    job_labels = {**labels, **({QUEUE_LABEL: target.queue} if target.queue else {})}
    resources: dict[str, dict[str, str]] = {}
    if target.gpus:
        resources.setdefault("limits", {})[GPU_RESOURCE] = str(target.gpus)
    for key in ("cpu", "memory"):
        value = getattr(target, key)
        if value:
            resources.setdefault("limits", {})[key] = value
            resources.setdefault("requests", {})[key] = value
    container: dict[str, Any] = {
        "name": "runner",
        "image": target.image,
        "command": [target.python, "-c", BOOTSTRAP],
        "workingDir": WORK_DIR,
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "volumeMounts": [{"name": "work", "mountPath": WORK_DIR}],
    }
    volumes: list[dict[str, Any]] = [{"name": "work", "emptyDir": {}}]
    if target.env_cache and not target.image_has_env:
        container["volumeMounts"].append({"name": "envs", "mountPath": ENV_CACHE_DIR})
        container["env"].append({"name": "NBLIFT_ENV_CACHE", "value": ENV_CACHE_DIR})
        volumes.append({"name": "envs", "persistentVolumeClaim": {"claimName": target.env_cache}})
    if resources:
        container["resources"] = resources
    if target.credentials_secret:
        container["envFrom"] = [{"secretRef": {"name": target.credentials_secret}}]
    selector = dict(target.node_selector)
    if target.gpu_product:
        selector[GPU_PRODUCT_LABEL] = target.gpu_product
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": target.preempt_grace + 30,
        "containers": [container],
        "volumes": volumes,
    }
    if selector:
        pod["nodeSelector"] = selector
    if target.tolerations:
        pod["tolerations"] = [dict(t) for t in target.tolerations]
    if target.priority_class:
        pod["priorityClassName"] = target.priority_class
    if target.service_account:
        pod["serviceAccountName"] = target.service_account
    spec: dict[str, Any] = {
        "backoffLimit": target.retries,
        "ttlSecondsAfterFinished": target.ttl_seconds,
        "podFailurePolicy": {
            "rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": "runner",
                        "operator": "In",
                        "values": [NOTEBOOK_ERROR_EXIT],
                    },
                },
            ]
        },
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    if deadline:
        spec["activeDeadlineSeconds"] = deadline
    if target.queue:
        spec["suspend"] = True  # Kueue admits it (unsuspends) when the queue has room
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(run_id), "namespace": target.namespace, "labels": job_labels},
        "spec": spec,
    }
