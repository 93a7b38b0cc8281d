"""Runs on the local backend, end to end: real runner processes, real kernels, a real MLflow store."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import nbformat
import pytest
from run_helpers import (
    events_of,
    gone,
    group_empty,
    kill_quietly,
    mlflow_run,
    runner_pid,
    until,
    wait_done,
    wait_for_event,
    wait_mlflow_closed,
    write_notebook,
)

from nblift.project import Project
from nblift.runs import service
from nblift.runs.records import OUTPUT_DIR, record_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def project(run_project: Project) -> Project:
    return run_project  # short heartbeat and cancel timings (tests/conftest.py)


SLEEPER = (
    "import os, pathlib\npathlib.Path('kernel.pid').write_text(str(os.getpid()))",
    "import time\ntime.sleep(120)",
)


def kernel_pid(project: Project, run_id: str) -> int:
    # the sleeper writes its kernel's pid into the run's scratch folder
    path = record_dir(project.state_dir, run_id) / "work" / "kernel.pid"
    return int(until(lambda: path.is_file() and path.read_text(), 60, "the kernel pid"))


def test_parameters_metrics_artifacts_and_mlflow_come_back(project, tmp_path):
    nb = write_notebook(
        tmp_path / "train.ipynb",
        "import nblift\nfor step in range(epochs):\n    nblift.log(step=step, loss=1.0 / (step + 1))\n"
        "print(f'trained {name} for {epochs} epochs')",
        "import mlflow\nmlflow.log_metric('direct', 7.0)",
        "open('model.txt', 'w').write(name * 2)",
        parameters="epochs = 1\nname = 'default'",
    )
    info = service.launch(project, nb, {"epochs": 3, "name": "resnet"})
    done = wait_done(project, info.id)
    assert done.state == "SUCCEEDED", done.error
    executed = service.fetch(project, info.id)
    assert executed == tmp_path / "nblift-runs" / info.id / "train.ipynb"
    cells = nbformat.read(executed, as_version=4).cells
    assert "injected-parameters" in cells[1].metadata.tags
    assert "trained resnet for 3 epochs" in cells[2].outputs[0]["text"]
    assert (executed.parent / "artifacts" / "model.txt").read_text() == "resnetresnet"
    assert not (record_dir(project.state_dir, info.id) / "work").exists()  # scratch folder removed

    done = wait_mlflow_closed(project, info.id)
    run = mlflow_run(project, done)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"epochs": "3", "name": "resnet"}
    assert run.data.metrics["direct"] == 7.0  # mlflow inside the notebook logged into the same run
    from nblift import tracking

    history = tracking.client(project).get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
        (0, 1.0),
        (1, 0.5),
        (2, 1 / 3),
    ]
    tags = run.data.tags
    assert tags["nblift.run_id"] == info.id
    assert tags["nblift.bundle"] == info.bundle
    assert tags["nblift.state"] == "SUCCEEDED"
    assert tags["mlflow.source.name"] == "train.ipynb"
    artifacts = {a.path for a in tracking.client(project).list_artifacts(run.info.run_id, "notebook")}
    assert artifacts == {"notebook/train.ipynb"}
    kinds = [e["kind"] for e in events_of(project, info.id)]
    assert kinds[0] == "run.submitted" and kinds[-1] == "run.finished"
    assert kinds.count("cell.started") == kinds.count("cell.finished") == 5  # 4 cells + injected


def test_failing_cell_names_the_cell_from_the_cli(project, tmp_path, child_env):
    nb = write_notebook(tmp_path / "bad.ipynb", "x = 1", "y = x / 0", "print('never')")
    result = subprocess.run(
        [sys.executable, "-m", "nblift", "--json", "run", str(nb)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
        env={**child_env, "NBLIFT_RUN_HEARTBEAT_TIMEOUT": "10"},
    )
    assert result.returncode == 1, result.stderr
    reply = json.loads(result.stdout)
    assert reply["state"] == "FAILED"
    assert reply["error"]["cell"] == 2
    assert reply["error"]["ename"] == "ZeroDivisionError"
    assert reply["error"]["message"].startswith("cell 2 raised ZeroDivisionError")
    assert "y = x / 0" in reply["error"]["traceback"]
    assert "running cell 2" in result.stderr  # the progress went to stderr
    executed = record_dir(project.state_dir, reply["id"]) / reply["executed"]
    cells = nbformat.read(executed, as_version=4).cells
    (never,) = [c for c in cells if c.source == "print('never')"]
    assert never.outputs == []  # nothing ran after the failing cell
    assert any("papermill-error-cell" in c.source for c in cells)  # papermill marks where it failed
    done = wait_mlflow_closed(project, reply["id"])
    assert mlflow_run(project, done).info.status == "FAILED"


def test_cancel_mid_run_stops_every_process(project, tmp_path):
    info = service.launch(project, write_notebook(tmp_path / "slow.ipynb", *SLEEPER))
    kernel = kernel_pid(project, info.id)
    wait_for_event(project, info.id, "cell.started", cell=2)
    runner = runner_pid(project, info.id)
    cancelled = service.cancel(project, info.id)
    assert cancelled.state == "CANCELLED"
    until(lambda: gone(runner), 60, "the runner to exit")
    assert gone(kernel)
    assert group_empty(runner)
    assert service.get_run(project, info.id).state == "CANCELLED"  # never turned into SUCCEEDED
    finished = [e for e in events_of(project, info.id) if e["kind"] == "cell.finished"]
    assert [(e["cell"], e["status"]) for e in finished] == [(1, "ok"), (2, "interrupted")]
    assert wait_mlflow_closed(project, info.id).mlflow["status"] == "KILLED"


def test_killed_runner_is_lost_and_its_kernel_reaped(project, tmp_path):
    info = service.launch(project, write_notebook(tmp_path / "slow.ipynb", *SLEEPER))
    kernel = kernel_pid(project, info.id)
    runner = runner_pid(project, info.id)
    kill_quietly(runner, signal.SIGKILL)
    lost = until(lambda: (r := service.get_run(project, info.id)).state == "LOST" and r, 10, "LOST")
    assert "gone" in lost.error["message"]
    until(lambda: gone(kernel), 10, "the orphaned kernel to be killed")
    assert group_empty(runner)


def test_hung_runner_is_lost_after_the_heartbeat_timeout(project, tmp_path):
    info = service.launch(project, write_notebook(tmp_path / "slow.ipynb", *SLEEPER))
    kernel = kernel_pid(project, info.id)
    runner = runner_pid(project, info.id)
    kill_quietly(runner, signal.SIGSTOP)  # alive, but its heartbeat stops
    try:
        assert service.get_run(project, info.id).state == "RUNNING"
        lost = until(lambda: (r := service.get_run(project, info.id)).state == "LOST" and r, 15, "LOST")
        assert "heartbeat" in lost.error["message"]
        until(lambda: gone(runner) and gone(kernel), 10, "the hung run to be killed")
    finally:
        kill_quietly(runner, signal.SIGKILL)


def test_timeout_ends_timed_out(project, tmp_path):
    info = service.launch(project, write_notebook(tmp_path / "slow.ipynb", *SLEEPER), timeout=4)
    done = wait_done(project, info.id)
    assert done.state == "TIMED_OUT"
    assert "time limit" in done.error["message"]
    executed = record_dir(project.state_dir, info.id) / OUTPUT_DIR / "slow.ipynb"
    assert executed.is_file()  # what ran before the limit is kept


def test_second_push_of_unchanged_work_stores_nothing_new(project, tmp_path):
    (tmp_path / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    nb = write_notebook(
        tmp_path / "uses.ipynb",
        "import helpers\nprint(helpers.double(21), open('data.csv').read().count(','))",
    )
    first = service.launch(project, nb)
    second = service.launch(project, nb)
    requests = [
        json.loads((record_dir(project.state_dir, r.id) / "request.json").read_text())
        for r in (first, second)
    ]
    assert requests[0]["bundle_new_bytes"] > 0
    assert requests[1]["bundle_new_bytes"] == 0
    assert first.bundle == second.bundle
    for run in (first, second):
        done = wait_done(project, run.id)
        assert done.state == "SUCCEEDED", done.error
        executed = service.fetch(project, run.id)
        assert "42 2" in nbformat.read(executed, as_version=4).cells[0].outputs[0]["text"]


def test_magic_runs_waits_follows_and_lists(project, tmp_path):
    from kernel_helpers import Kernel

    write_notebook(tmp_path / "m.ipynb", "print('k is', k)", parameters="k = 1")
    kernel = Kernel(tmp_path, env={"NBLIFT_RUN_HEARTBEAT_TIMEOUT": "10"})
    try:
        kernel.run("%load_ext nblift")
        waited = kernel.run(
            "r = %lift run m.ipynb -p k=40 --wait\nprint(r.data['state'], r.data['parameters'])"
        )
        assert "SUCCEEDED {'k': 40}" in waited
        detached = kernel.run("v = %lift run m.ipynb -p k=2\nprint(type(v).__name__)")
        assert "RunView" in detached  # returned at once, following in the background
        assert kernel.value("v.join(120).state") == "SUCCEEDED"
        assert kernel.value("v.bar.value") == 2  # both code cells counted in the progress bar
        assert "k is 2" in kernel.value("str(v.output.outputs)")
        kernel.run("listed = %lift --json runs")
        listed = kernel.value("listed.data")
        assert [r["parameters"] for r in listed["runs"]] == [{"k": 2}, {"k": 40}]
        error = kernel.run("%lift run --timeout soon m.ipynb", allow_error=True)
        assert "not a duration" in error
    finally:
        kernel.shutdown()


@pytest.mark.parametrize(
    ("ending", "says"),
    [
        ("exit()", "cell 2 raised SystemExit"),
        ("import sys\nsys.exit(1)", "cell 2 raised SystemExit"),
        ("import os\nos._exit(3)", "DeadKernelError"),
    ],
)
def test_exit_or_a_dying_kernel_fails_the_run_and_its_mlflow_run(project, tmp_path, ending, says):
    info = service.launch(project, write_notebook(tmp_path / "ends.ipynb", "x = 1", ending, "print('after')"))
    done = wait_done(project, info.id)
    assert done.state == "FAILED"
    assert says in done.error["message"], done.error
    executed = nbformat.read(record_dir(project.state_dir, info.id) / done.executed, as_version=4)
    assert "after" not in json.dumps([c.get("outputs") for c in executed.cells])
    assert mlflow_run(project, wait_mlflow_closed(project, info.id)).info.status == "FAILED"
