"""`nblift.log` outside runs, in real kernels against the embedded store and a real MLflow server: every
point arrives, also from a cell that raises, from an interrupted loop and from two kernels at once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from kernel_helpers import Kernel
from run_helpers import until

from nblift import tracking
from nblift.experiments import search
from nblift.project import Project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def tracked_runs(project: Project):
    client = tracking.client(project)
    experiment = client.get_experiment_by_name(tracking.experiment_name(project))
    return client, client.search_runs([experiment.experiment_id]) if experiment else []


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


@pytest.fixture
def kernel(tmp_path):
    k = Kernel(tmp_path)
    k.run("%load_ext nblift\nimport nblift")
    yield k
    k.shutdown()


def test_points_from_a_loop_a_failing_cell_and_a_track_block(kernel, tmp_path):
    shown = kernel.run("for i in range(20_000):\n    nblift.log(step=i, loss=i * 0.5)")
    assert "HTML(" in shown  # the cell's live chart was displayed under it
    chart = kernel.value("nblift.experiments.logger.current().on_log.chart.widget.value")
    assert "<polyline" in chart and "loss" in chart and "19999" in chart  # redrawn up to the last step
    failed = kernel.run(
        "for i in range(1000):\n    nblift.log(acc=i / 1000)\nraise ValueError('boom')", allow_error=True
    )
    assert "boom" in failed
    project = Project.discover(tmp_path)
    client, runs = tracked_runs(project)
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["nblift.kind"] == "track"
    loss = history(client, run.info.run_id, "loss")
    assert loss == [(i, i * 0.5) for i in range(20_000)]
    assert [s for s, _ in history(client, run.info.run_id, "acc")] == list(range(1000))  # counted up from 0
    assert run.data.metrics["loss"] == 19_999 * 0.5  # latest value, as MLflow keeps it

    kernel.run("with nblift.track('explicit') as rid:\n    nblift.log(step=0, f1=0.5)")
    started = kernel.run("%lift track run by magic")
    assert "started" in started
    kernel.run("nblift.log(step=0, recall=0.75)")
    assert "ended FINISHED" in kernel.run("%lift track stop")
    assert "no run was started" in kernel.run("%lift track stop", allow_error=True)
    kernel.run("try:\n    with nblift.track('broken'):\n        1 / 0\nexcept ZeroDivisionError:\n    pass")
    _, runs = tracked_runs(project)
    by_name = {r.info.run_name: r for r in runs}
    assert by_name["explicit"].info.status == "FINISHED"
    assert by_name["explicit"].data.metrics == {"f1": 0.5}
    assert by_name["broken"].info.status == "FAILED"
    assert by_name["by magic"].info.status == "FINISHED"
    assert by_name["by magic"].data.metrics == {"recall": 0.75}


def test_frameworks_autolog_into_the_notebooks_run(kernel, tmp_path):
    fit = "LogisticRegression(C={}, max_iter=200).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])"
    kernel.run("from sklearn.linear_model import LogisticRegression")
    kernel.run(f"with nblift.track('explicit'):\n    nblift.log(step=0, custom=1.0)\n    {fit.format(0.5)}")
    kernel.run("nblift.log(step=0, custom=2.0)")  # the notebook's own run, created in the background
    kernel.run(fit.format(0.25))  # a later cell: its fit logs into that run
    _, runs = tracked_runs(Project.discover(tmp_path))
    assert len(runs) == 2  # scikit-learn's autologging joined nblift's runs instead of starting its own
    for run in runs:
        expected = "0.5" if run.info.run_name == "explicit" else "0.25"
        assert run.data.params["C"] == expected
        assert "training_accuracy_score" in run.data.metrics
        assert "custom" in run.data.metrics


def test_interrupted_loop_keeps_every_point(kernel, tmp_path):
    kernel.kc.execute(
        "import time\nfor i in range(10**9):\n    nblift.log(step=i, x=float(i))\n    time.sleep(0.0005)"
    )
    time.sleep(4)
    os.kill(kernel.pid, signal.SIGINT)
    last = until(lambda: _last_i(kernel), 30, "the interrupted loop to stop")
    client, runs = tracked_runs(Project.discover(tmp_path))
    points = history(client, runs[0].info.run_id, "x")
    assert len(points) in (last, last + 1) and points[:last] == [(i, float(i)) for i in range(last)]
    assert last > 100


def _last_i(kernel: Kernel) -> int | None:
    try:
        return int(kernel.value("i"))
    except AssertionError:
        return None


def test_points_are_written_when_the_kernel_shuts_down(tmp_path):
    kernel = Kernel(tmp_path)
    kernel.run("import nblift\nnblift.log(step=0, y=0.0)\nnblift.experiments.logger.current().flush()")
    # no end-of-cell hook (no %load_ext), and a writer that would not wake for an hour: only the exit writes
    kernel.run("nblift.experiments.logger.FLUSH_EVERY_S = 3600")
    kernel.run("import time\ntime.sleep(1)\nfor i in range(1, 5000):\n    nblift.log(step=i, y=float(i))")
    kernel.kc.stop_channels()
    kernel.km.shutdown_wait_time = 60
    kernel.km.shutdown_kernel(now=False)  # a polite shutdown: the exit handler writes what is left
    client, runs = tracked_runs(Project.discover(tmp_path))
    assert len(history(client, runs[0].info.run_id, "y")) == 5000


def test_two_kernels_at_once_lose_nothing(tmp_path):
    kernels = [Kernel(tmp_path) for _ in range(2)]
    try:
        for k in kernels:
            k.run("%load_ext nblift\nimport nblift")
        for n, k in enumerate(kernels):
            k.kc.execute(f"for i in range(30_000):\n    nblift.log(step=i, k{n}=float(i))\nprint('done')")
        # meanwhile the server extension reads: the panel's search never meets a locked database
        project = Project.discover(tmp_path)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for experiment in search.list_experiments(project)["experiments"]:
                search.search_runs(project, experiment["id"])
        outputs = [k.run("print('after')") for k in kernels]  # waits for each kernel's loop to end
        assert all("locked" not in out for out in outputs)
        client, runs = tracked_runs(Project.discover(tmp_path))
        assert len(runs) == 2
        counts = sorted(len(history(client, r.info.run_id, key)) for r in runs for key in r.data.metrics)
        assert counts == [30_000, 30_000]
    finally:
        for k in kernels:
            k.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    store = tmp_path / "server"
    store.mkdir()
    log = (tmp_path / "mlflow-server.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{store / 'mlflow.db'}",
            "--default-artifact-root",
            str(store / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    uri = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as reply:
                return reply.status == 200
        except OSError:
            return False

    try:
        until(up, 120, "mlflow server to answer", every=0.5)
        yield uri
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
        log.close()


def test_against_a_real_mlflow_server(tmp_path, mlflow_server, monkeypatch):
    kernel = Kernel(tmp_path, env={"MLFLOW_TRACKING_URI": mlflow_server})
    try:
        kernel.run("%load_ext nblift\nimport nblift")
        kernel.run("for i in range(3000):\n    nblift.log(step=i, loss=1.0 / (i + 1))")
    finally:
        kernel.shutdown()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    client, runs = tracked_runs(Project.discover(tmp_path))
    assert len(runs) == 1
    assert len(history(client, runs[0].info.run_id, "loss")) == 3000
