"""The k8s backend against a Kubernetes API stand-in on loopback (kmock, with the control plane and a node
played by kube_node.KubeStandIn) and a local S3-compatible server (moto) as the bucket: a run succeeds with
its notebook, metrics and MLflow run back; a failing cell gives FAILED naming it; cancel deletes the Job; an
eviction mid-run resumes from the last completed cell; a budget stop ends the run with the reason; the pod
log stream is taken up again after the server drops it; `--resume` continues a stopped run from its
checkpoint; the pod builds the run's environment from the lock, once per lock. Every Job nblift sends is
validated in strict mode against the Kubernetes schema of the targets' release (kube_schema)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
from kube_node import KubeStandIn
from kube_schema import validate_job
from ray_cluster import s3_bucket
from run_helpers import until, wait_done, wait_for_event, wait_mlflow_closed, write_notebook

from nblift import tracking
from nblift.backends.k8s_manifest import DEFAULT_KUBERNETES
from nblift.errors import NotFound
from nblift.project import Project
from nblift.runs import service

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
BUCKET = "nblift-k8s"


@pytest.fixture(scope="module")
def s3():
    with s3_bucket(BUCKET) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def kube(s3, tmp_path_factory):
    stand_in = KubeStandIn({**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    config = stand_in.kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    saved = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(config)
    yield stand_in
    stand_in.stop()
    assert stand_in.created_jobs
    for job in stand_in.created_jobs:  # every manifest nblift sent, against the targets' release
        validate_job(job, DEFAULT_KUBERNETES)
    if saved is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = saved


def project_for(folder: Path, endpoint: str, **extra: object) -> Project:
    values = {
        "context": "stand-in",
        "namespace": "ml",
        "image": "python:3.11-slim",
        "python": sys.executable,
        "storage": f"s3://{BUCKET}/nblift",
        "endpoint_url": endpoint,
        "gpus": 2,
        "gpu_product": "NVIDIA-A100-SXM4-80GB",
        "priority_class": "spot-batch",
        "preempt_grace": 20,
        "image_has_env": True,  # the test's interpreter has what runs need (an environment is built below)
        **extra,
    }
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
    tolerations = '[{key = "nvidia.com/gpu", operator = "Exists", effect = "NoSchedule"}]'
    placement = f'tolerations = {tolerations}\nnode_selector = {{pool = "spot"}}\n'
    (folder / "pyproject.toml").write_text(f"[tool.nblift.kubernetes.a100]\n{lines}\n{placement}")
    return Project.discover(folder)


def job_of(kube: KubeStandIn, run_id: str) -> dict:
    return next(j for j in kube.created_jobs if j["metadata"]["name"] == f"nblift-{run_id}")


TRAIN = (
    "import nblift, pathlib\n"
    "for i in range(epochs):\n"
    "    nblift.log(step=i, loss=1.0 / (i + 1))\n"
    "pathlib.Path('weights.txt').write_text(f'trained {epochs}')\n"
    "print(f'epochs is {epochs}')"
)


def test_run_succeeds_then_a_failing_cell_fails_the_job(kube, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = project_for(tmp_path, s3)
    notebook = write_notebook(tmp_path / "train.ipynb", TRAIN, parameters="epochs = 1")
    info = service.launch(project, notebook, {"epochs": 3}, backend="k8s:a100")
    done = wait_done(project, info.id, timeout=180)
    assert done.state == "SUCCEEDED", done.error
    executed = service.fetch(project, info.id)
    assert "epochs is 3" in executed.read_text()
    assert (executed.parent / "artifacts" / "weights.txt").read_text() == "trained 3"

    job = job_of(kube, info.id)
    validate_job(job, DEFAULT_KUBERNETES)  # every Job of the module is checked at its end too
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod["nodeSelector"] == {"pool": "spot", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}
    assert pod["priorityClassName"] == "spot-batch" and pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert job["metadata"]["labels"]["nblift.dev/run"] == info.id
    assert job["spec"]["template"]["metadata"]["labels"]["nblift.dev/run"] == info.id
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert "AWS_SECRET_ACCESS_KEY" not in env  # the bucket's credentials come from the cluster, not the Job
    sent = [e for e in service.events(project, info.id)[0] if e["kind"] == "bundle.sent"]
    assert sent and sent[0]["objects"] >= 2

    final = wait_mlflow_closed(project, info.id)
    assert final.mlflow and final.mlflow["status"] == "FINISHED"
    client = tracking.client(project)
    run = client.get_run(final.mlflow["run_id"])
    assert run.data.params["epochs"] == "3" and run.data.tags["nblift.backend"] == "k8s:a100"
    history = sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1.0 / 3)]
    log_file = project.state_dir / "runs" / info.id / "pod.log"
    log = until(lambda: "run SUCCEEDED" in log_file.read_text() and log_file.read_text(), 20, "the pod's log")
    assert "epochs is 3" in log  # the pod's log, streamed home

    again = service.launch(project, notebook, {"epochs": 2}, backend="k8s:a100")
    resent = wait_for_event(project, again.id, "bundle.sent", timeout=30)
    assert resent["objects"] == 0  # the same work: everything is in the bucket already
    assert wait_done(project, again.id, timeout=180).state == "SUCCEEDED"

    broken = write_notebook(tmp_path / "broken.ipynb", "x = 1", "raise ValueError('bad batch')")
    failed = wait_done(project, service.launch(project, broken, backend="k8s:a100").id, timeout=180)
    assert failed.state == "FAILED"
    assert failed.error["cell"] == 2 and "bad batch" in failed.error["message"]
    conditions = until(
        lambda: kube.call(_job_status(kube, f"nblift-{failed.id}")), 20, "the Job's Failed condition"
    )
    assert conditions["reason"] == "PodFailurePolicy" and "exit code 42" in conditions["message"]
    assert len(kube.pods_of(failed.id)) == 1  # a notebook error is not retried


async def _job_status(kube: KubeStandIn, name: str) -> dict | None:
    async with kube.http.get(f"/apis/batch/v1/namespaces/ml/jobs/{name}") as reply:
        job = await reply.json()
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Failed":
            return cond
    return None


def test_cancel_deletes_the_job_and_its_pods(kube, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = project_for(tmp_path, s3)
    notebook = write_notebook(tmp_path / "long.ipynb", "import time\ntime.sleep(120)")
    info = service.launch(project, notebook, backend="k8s:a100")
    wait_for_event(project, info.id, "cell.started", timeout=90, cell=1)
    cancelled = service.cancel(project, info.id)
    assert cancelled.state == "CANCELLED"
    assert f"nblift-{info.id}" in kube.deleted_jobs
    until(lambda: all(p.removed for p in kube.pods_of(info.id)), 30, "the pods deleted")
    assert all(p.exit_code is not None for p in kube.pods_of(info.id))  # the process is gone too

    # the Job deleted behind nblift's back (an operator, a cluster cleanup): LOST, saying so
    other = service.launch(project, notebook, backend="k8s:a100")
    wait_for_event(project, other.id, "cell.started", timeout=90, cell=1)
    from kubernetes import client, config

    batch = client.BatchV1Api(config.new_client_from_config(os.environ["KUBECONFIG"], "stand-in"))
    batch.delete_namespaced_job(f"nblift-{other.id}", "ml", propagation_policy="Background")
    lost = wait_done(project, other.id, timeout=120)
    assert lost.state == "LOST" and f"the Job nblift-{other.id} was deleted" in lost.error["message"]


RESUMABLE = (
    "import os\nfirst_pid = os.getpid()\nx = 41",
    "import time\ntime.sleep(4)\nx += 1",
    "print('x is', x, '; restored in a new kernel:', first_pid != os.getpid())",
)


def test_eviction_resumes_from_the_last_completed_cell(kube, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = project_for(tmp_path, s3)
    notebook = write_notebook(tmp_path / "resume.ipynb", *RESUMABLE)
    info = service.launch(project, notebook, backend="k8s:a100")
    wait_for_event(project, info.id, "cell.started", timeout=90, cell=2)
    evicted = kube.evict(info.id)
    done = wait_done(project, info.id, timeout=180)
    assert done.state == "SUCCEEDED", done.error
    pods = kube.pods_of(info.id)
    assert len(pods) == 2 and pods[0].name == evicted and pods[0].disrupted
    events = service.events(project, info.id)[0]
    started = [e["cell"] for e in events if e["kind"] == "cell.started"]
    assert started == [1, 2, 3]  # cells 1 and 2 ran once, in the evicted pod; the new pod ran cell 3 only
    executed = service.fetch(project, info.id)
    nb = nbformat.read(executed, as_version=4)
    assert "x is 42 ; restored in a new kernel: True" in json.dumps(nb.cells[-1].outputs)
    note = nb.cells[2]
    assert note.cell_type == "markdown" and "resumed here" in note.source and "after cell 2" in note.source
    assert nb.metadata["nblift"]["resumed"]["after_cell"] == 2
    assert nb.cells[1].outputs == [] and nb.cells[1].execution_count  # ran before the eviction


def test_a_stopped_preempted_run_resumes_on_a_new_job(kube, s3, tmp_path, monkeypatch):
    """Evicted, no room for the retried pod, cancelled: `--resume` continues it from the checkpoint its
    evicted pod left under its prefix, on a new Job with the run's checkpoint key."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("NBLIFT_RUN_CANCEL_GRACE", "5")
    project = project_for(tmp_path, s3)
    notebook = write_notebook(tmp_path / "resume.ipynb", *RESUMABLE)
    first = service.launch(project, notebook, backend="k8s:a100")
    wait_for_event(project, first.id, "cell.started", timeout=90, cell=2)
    kube.no_capacity = True
    try:
        kube.evict(first.id)
        until(lambda: kube.pods_of(first.id)[0].exit_code == 75, 60, "the evicted pod's checkpoint")
        assert service.cancel(project, first.id).state == "CANCELLED"
    finally:
        kube.no_capacity = False
    resumed = service.resume(project, first.id)
    done = wait_done(project, resumed.id, timeout=180)
    assert done.state == "SUCCEEDED", done.error
    started = [e["cell"] for e in service.events(project, resumed.id)[0] if e["kind"] == "cell.started"]
    assert started == [3]
    nb = nbformat.read(service.fetch(project, resumed.id), as_version=4)
    assert "x is 42 ; restored in a new kernel: True" in json.dumps(nb.cells[-1].outputs)
    assert nb.metadata["nblift"]["resumed"]["from_run"] == first.id
    keys = [
        {e["name"]: e["value"] for e in job_of(kube, r)["spec"]["template"]["spec"]["containers"][0]["env"]}
        for r in (first.id, resumed.id)
    ]
    assert keys[0]["NBLIFT_CHECKPOINT_KEY"] == keys[1]["NBLIFT_CHECKPOINT_KEY"]  # verifies what run 1 wrote
    assert keys[0]["NBLIFT_PREFIX"] != keys[1]["NBLIFT_PREFIX"]

    # a k8s run that never checkpointed: refused, saying that `nblift run` starts it over
    plain = service.launch(project, notebook, backend="k8s:a100")
    wait_for_event(project, plain.id, "cell.started", timeout=90, cell=2)
    assert service.cancel(project, plain.id).state == "CANCELLED"
    with pytest.raises(NotFound, match="left no checkpoint") as refused:
        service.resume(project, plain.id)
    assert "starts it over" in refused.value.hint


def test_the_pod_builds_the_environment_from_the_lock_once(kube, s3, tmp_path, monkeypatch):
    """No environment in the image: the pod builds it with uv from the lock that came with the bundle, in
    the env_cache volume; the next run with the same lock finds it there."""
    from env_helpers import WheelIndex, build_wheel, clean_env, make_package, uv
    from env_helpers import run as run_tool
    from nblift.environment.lock import pin

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    uv_path = uv() or str(Path(sys.executable).parent / "uv")
    wheel = build_wheel(make_package(tmp_path / "src", "libk8senv", "2.0.0"), tmp_path / "dist")
    project = project_for(
        tmp_path, s3, image_has_env=False, env_cache="nblift-envs", offline=True, uv=uv_path
    )
    with WheelIndex([wheel]) as index:
        (tmp_path / "requirements.in").write_text("libk8senv\n")
        pin(project, requirements=tmp_path / "requirements.in", environ=clean_env(PIP_INDEX_URL=index.url))
        # the pod installs offline (the test's node has no package index): the uv cache gets the wheel
        warm = [uv_path, "pip", "install", "-q", "--target", str(tmp_path / "warm")]
        run_tool([*warm, "-r", str(project.root / "requirements.txt")])
    code = (
        "import importlib.metadata as m, sys\nprint('libk8senv is', m.version('libk8senv'), 'in', sys.prefix)"
    )
    notebook = write_notebook(tmp_path / "env.ipynb", code)
    runs = []
    for _ in range(2):
        run = wait_done(project, service.launch(project, notebook, backend="k8s:a100").id, timeout=300)
        assert run.state == "SUCCEEDED", run.error
        runs.append(run)
    first, second = (
        [e["kind"] for e in service.events(project, r.id)[0] if e["kind"].startswith("env.")] for r in runs
    )
    assert first == ["env.building", "env.ready"] and second == ["env.ready"]  # built once, by lock hash
    text = service.fetch(project, runs[1].id).read_text()
    assert f"libk8senv is 2.0.0 in {kube.claims['nblift-envs']}/envs/" in text  # the volume's environment
    job = job_of(kube, runs[1].id)
    assert job["spec"]["template"]["spec"]["volumes"][1]["persistentVolumeClaim"] == {
        "claimName": "nblift-envs"
    }
    validate_job(job, DEFAULT_KUBERNETES)

    # a lock the pod cannot install (offline, and the package is in no cache): FAILED with uv's reason
    broken = tmp_path / "broken"
    broken.mkdir()
    other = project_for(broken, s3, image_has_env=False, offline=True, uv=uv_path)
    missing = build_wheel(make_package(tmp_path / "src2", "libk8snowhere", "1.0.0"), tmp_path / "dist2")
    with WheelIndex([missing]) as index:
        (broken / "requirements.in").write_text("libk8snowhere\n")
        pin(other, requirements=broken / "requirements.in", environ=clean_env(PIP_INDEX_URL=index.url))
    notebook = write_notebook(broken / "nb.ipynb", "1")
    failed = wait_done(other, service.launch(other, notebook, backend="k8s:a100").id, timeout=120)
    assert failed.state == "FAILED"
    assert "could not build the run's environment" in failed.error["message"]
    assert "libk8snowhere" in failed.error["message"]  # uv's own reason
    assert len(kube.pods_of(failed.id)) == 1  # not retried


def test_budget_stop_and_a_dropped_log_stream(kube, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = project_for(tmp_path, s3, hourly_cost=3600.0)  # a dollar a second
    chatty = write_notebook(
        tmp_path / "chatty.ipynb",
        "import time\nfor i in range(12):\n    print(f'line {i}', flush=True)\n    time.sleep(0.25)",
    )
    kube.drop_logs_after = 4
    info = service.launch(project, chatty, backend="k8s:a100", budget=60.0)
    assert wait_done(project, info.id, timeout=180).state == "SUCCEEDED"
    assert kube.dropped == 1  # the server dropped the stream once, mid-run
    log = until(
        lambda: (
            (p := project.state_dir / "runs" / info.id / "pod.log").is_file()
            and "run SUCCEEDED" in p.read_text()
            and p.read_text()
        ),
        20,
        "the whole pod log",
    )
    lines = [line for line in log.splitlines() if "line " in line and line.startswith("[")]
    assert [line.split("line ")[1] for line in lines] == [
        str(i) for i in range(12)
    ]  # each line once, in order

    slow = write_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(60)")
    spent = service.launch(project, slow, backend="k8s:a100", budget=4.0)
    job = until(
        lambda: any(j["metadata"]["name"] == f"nblift-{spent.id}" for j in kube.created_jobs), 10, "the Job"
    )
    assert job and job_of(kube, spent.id)["spec"]["activeDeadlineSeconds"] == 4 + 120
    done = wait_done(project, spent.id, timeout=120)
    assert done.state == "TIMED_OUT" and done.error["reason"] == "budget"
    assert "budget of $4.00" in done.error["message"]
