"""The ray backend against a real local Ray head the tests start (declared with one logical GPU and a
GPU type), with results coming back through a local S3-compatible server (moto), never a shared folder:
success with parameters and the MLflow run imported, a failing cell, cancel, and a GPU request that reaches
the job."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from ray_cluster import RayHead, s3_bucket
from run_helpers import until, wait_done, wait_for_event, wait_mlflow_closed, write_notebook

from nblift import tracking
from nblift.project import Project
from nblift.runs import service

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
BUCKET = "nblift-results"


@pytest.fixture(scope="module")
def s3():
    with s3_bucket(BUCKET) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def ray_head(s3):
    import ray  # noqa: F401 - a test dependency (./dev test installs it)

    head = RayHead()
    try:
        yield head.address
    finally:
        head.stop()


def project_for(folder: Path, address: str, endpoint: str, **extra: object) -> Project:
    values = {
        "address": address,
        "storage": f"s3://{BUCKET}/nblift",
        "endpoint_url": endpoint,
        "python": sys.executable,
        "install_lock": False,
        **extra,
    }
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in values.items())
    (folder / "pyproject.toml").write_text(f"[tool.nblift.ray_clusters.local]\n{lines}\n")
    return Project.discover(folder)


TRAIN = (
    "import nblift, os, pathlib\n"
    "for i in range(epochs):\n"
    "    nblift.log(step=i, loss=1.0 / (i + 1))\n"
    "pathlib.Path('weights.txt').write_text(f'trained {epochs}')\n"
    "print(f'epochs is {epochs}; gpus are {os.environ.get(\"CUDA_VISIBLE_DEVICES\")!r}')"
)


def test_success_failure_and_gpu_through_s3(ray_head, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = project_for(tmp_path, ray_head, s3, num_gpus=1, gpu_type="T4")
    notebook = write_notebook(tmp_path / "train.ipynb", TRAIN, parameters="epochs = 1")
    info = service.launch(project, notebook, {"epochs": 3}, backend="ray:local")
    done = wait_done(project, info.id, timeout=300)
    assert done.state == "SUCCEEDED", done.error
    executed = service.fetch(project, info.id)
    text = executed.read_text()
    assert "epochs is 3" in text and "gpus are '0'" in text  # the GPU request reached the job
    assert (executed.parent / "artifacts" / "weights.txt").read_text() == "trained 3"
    from ray.job_submission import JobSubmissionClient

    job = JobSubmissionClient(ray_head).get_job_info(f"nblift-{info.id}")
    assert (
        job.metadata == {"nblift_run": info.id}
        and job.entrypoint == f"{sys.executable} -m nblift.target.ray_job"
    )
    final = wait_mlflow_closed(project, info.id)  # the notebook does not use MLflow: home records its run
    assert final.mlflow and final.mlflow.get("recorded_at_home") and final.mlflow["status"] == "FINISHED"
    client = tracking.client(project)
    run = client.get_run(final.mlflow["run_id"])
    assert run.data.params["epochs"] == "3" and run.data.tags["nblift.backend"] == "ray:local"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "outputs")] == ["outputs/weights.txt"]
    assert [a.path for a in client.list_artifacts(run.info.run_id, "notebook")] == [
        f"notebook/{executed.name}"
    ]
    history = sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 1.0 / 3)]

    broken = write_notebook(tmp_path / "broken.ipynb", "x = 1", "raise ValueError('bad batch')")
    failed = wait_done(project, service.launch(project, broken, backend="ray:local").id, timeout=300)
    assert failed.state == "FAILED"
    assert failed.error["cell"] == 2 and "bad batch" in json.dumps(failed.error)
    failed = wait_mlflow_closed(project, failed.id)
    assert failed.mlflow and failed.mlflow["status"] == "FAILED"
    tags = client.get_run(failed.mlflow["run_id"]).data.tags
    assert tags["nblift.state"] == "FAILED" and "ValueError: bad batch" in tags["nblift.error"]
    kinds = [e["kind"] for e in service.events(project, failed.id)[0]]
    assert kinds.count("run.finished") == 1 and kinds.count("cell.error") == 1  # each event brought home once


def test_cancel_stops_the_job(ray_head, s3, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = project_for(tmp_path, ray_head, s3)
    notebook = write_notebook(
        tmp_path / "slow.ipynb",
        "import time\nfor i in range(600):\n    print(i, flush=True)\n    time.sleep(0.5)",
    )
    info = service.launch(project, notebook, backend="ray:local")
    wait_for_event(project, info.id, "cell.started", timeout=300)
    assert service.cancel(project, info.id).state == "CANCELLED"
    from ray.job_submission import JobSubmissionClient

    jobs = JobSubmissionClient(ray_head)
    until(
        lambda: (
            str(jobs.get_job_status(f"nblift-{info.id}")).rsplit(".", 1)[-1]
            in ("SUCCEEDED", "STOPPED", "FAILED")
        ),
        60,
        "the job to end",
    )
