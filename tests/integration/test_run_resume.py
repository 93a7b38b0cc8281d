"""`nblift run --resume RUN` on the local backend: a real runner told to stop for a preemption (SIGUSR1, the
signal the checkpoint listens to) checkpoints after the running cell and ends; the run is LOST saying it
was preempted; resuming it starts a new run that restores the kernel's state and runs only the cells left,
its executed notebook noting where it resumed. Runs without a checkpoint, or that cannot be resumed, are
refused with what to do instead."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import nbformat
import pytest
from run_helpers import events_of, runner_pid, wait_done, wait_for_event, write_notebook

from nblift.errors import InvalidInput, NotFound
from nblift.project import Project
from nblift.runs import service
from nblift.runs.model import RunSpec
from nblift.runs.records import record_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def project(run_project: Project) -> Project:
    return run_project  # short heartbeat and cancel timings (tests/conftest.py)


CELLS = (
    "import os\nfirst_pid = os.getpid()\nx = 41",
    "import time\ntime.sleep(3)\nx += 1",
    "print('x is', x, '; restored in a new kernel:', first_pid != os.getpid())",
)


def _cli(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nblift", "-C", str(project.root), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=240, check=False)


def test_a_preempted_local_run_resumes_from_the_next_cell(project, tmp_path):
    notebook = write_notebook(tmp_path / "resume.ipynb", *CELLS)
    first = service.launch(project, notebook, backend="local")
    wait_for_event(project, first.id, "cell.started", timeout=90, cell=2)
    os.kill(runner_pid(project, first.id), signal.SIGUSR1)  # the runner alone, as a pod's supervisor does
    lost = wait_done(project, first.id, timeout=120)
    assert lost.state == "LOST"
    assert "preempted" in lost.error["message"] and f"--resume {first.id}" in lost.error["message"]
    assert (record_dir(project.state_dir, first.id) / "checkpoint" / "checkpoint.json").is_file()

    done = _cli(project, "run", "--resume", first.id[:6], "--wait")
    assert done.returncode == 0, done.stderr
    resumed_id = done.stderr.split("as run ", 1)[1].split()[0]
    resumed = service.get_run(project, resumed_id)
    assert resumed.state == "SUCCEEDED", resumed.error
    spec = RunSpec.read(record_dir(project.state_dir, resumed_id))
    assert spec.resume_from == first.id and spec.tags["nblift.resumed_from"] == first.id
    submitted = next(e for e in events_of(project, resumed_id) if e["kind"] == "run.submitted")
    assert submitted["resumed_from"] == first.id  # the event vocabulary says it too
    started = [e["cell"] for e in events_of(project, resumed_id) if e["kind"] == "cell.started"]
    assert started == [3]  # cells 1 and 2 ran in the first run; their state came back from the checkpoint

    nb = nbformat.read(service.fetch(project, resumed_id), as_version=4)
    assert "x is 42 ; restored in a new kernel: True" in json.dumps(nb.cells[-1].outputs)
    note = nb.cells[2]
    assert note.cell_type == "markdown" and "resumed here" in note.source
    assert f"Run {first.id} stopped after cell 2" in note.source
    assert nb.metadata["nblift"]["resumed"]["from_run"] == first.id
    assert nb.cells[1].execution_count  # ran before the preemption, its outputs replayed

    # the same run again: it ended LOST and still has its checkpoint, but a finished run has nothing left
    with pytest.raises(InvalidInput, match="ended SUCCEEDED") as refused:
        service.resume(project, resumed_id)
    assert "starts it over" in refused.value.hint


def test_runs_without_a_checkpoint_are_refused_with_what_to_do(project, tmp_path):
    notebook = write_notebook(tmp_path / "sleep.ipynb", "import time\ntime.sleep(60)")
    info = service.launch(project, notebook, backend="local")
    with pytest.raises(InvalidInput, match=r"is (PENDING|RUNNING)"):
        service.resume(project, info.id)
    wait_for_event(project, info.id, "cell.started", timeout=90, cell=1)
    assert service.cancel(project, info.id).state == "CANCELLED"
    with pytest.raises(NotFound, match="left no checkpoint") as refused:
        service.resume(project, info.id)
    assert "nblift run sleep.ipynb --backend local` starts it over" in refused.value.hint

    cli = _cli(project, "run", "--resume", info.id)
    assert cli.returncode != 0 and "left no checkpoint" in cli.stderr and "starts it over" in cli.stderr
    mixed = _cli(project, "run", "sleep.ipynb", "--resume", info.id)
    assert mixed.returncode != 0 and "it takes no notebook" in mixed.stderr


async def test_resume_over_rest(jp_fetch, jp_root_dir, monkeypatch):
    from test_handlers import body_of, openapi_doc, response_validator
    from tornado.httpclient import HTTPClientError

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = Project.discover(jp_root_dir)
    notebook = write_notebook(jp_root_dir / "resume.ipynb", *CELLS)
    first = service.launch(project, notebook, backend="local")
    wait_for_event(project, first.id, "cell.started", timeout=90, cell=2)
    os.kill(runner_pid(project, first.id), signal.SIGUSR1)
    assert wait_done(project, first.id, timeout=120).state == "LOST"

    async def resume(run_id: str, body: dict) -> dict:
        response = await jp_fetch(
            "nblift", "api", "runs", run_id, "resume", method="POST", body=json.dumps(body)
        )
        assert response.code == 201
        return body_of(response)

    with pytest.raises(HTTPClientError) as bad:
        await resume(first.id, {"budget": "lots"})
    assert bad.value.code == 400 and "not an amount" in bad.value.response.body.decode()
    resumed = await resume(first.id, {"timeout": "10m"})
    response_validator(openapi_doc(), "/nblift/api/runs/{run_id}/resume", "post", 201).validate(resumed)
    assert resumed["id"] != first.id and resumed["timeout"] == 600
    assert wait_done(project, resumed["id"], timeout=120).state == "SUCCEEDED"
    with pytest.raises(HTTPClientError) as finished:
        await resume(resumed["id"], {})
    assert finished.value.code == 400 and "ended SUCCEEDED" in finished.value.response.body.decode()


def test_a_backend_without_checkpoints_says_so(project, tmp_path):
    """An SSH run that was LOST: its checkpoint, if any, stayed on the host, so `--resume` says it cannot."""
    from nblift.runs.model import RunHandle, RunState
    from nblift.runs.records import HANDLE_FILE, new_record, write_json

    (tmp_path / "pyproject.toml").write_text('[tool.nblift.ssh_hosts.box]\nhost = "127.0.0.1"\n')
    project = Project.discover(tmp_path)
    spec = RunSpec(id="0123456789ab", notebook="nb.ipynb", backend="ssh:box", bundle="0" * 64)
    record = new_record(project.ensure_state_dir(), spec)
    write_json(record.folder / HANDLE_FILE, RunHandle("ssh:box", spec.id, "1", {"target": "box"}).to_json())
    record.update_state(state=RunState.LOST.value, error={"message": "no heartbeat"})
    with pytest.raises(InvalidInput, match="the ssh backend keeps no checkpoint") as refused:
        service.resume(project, spec.id)
    assert "nblift run nb.ipynb --backend ssh:box` starts it over" in refused.value.hint
    with pytest.raises(InvalidInput, match="not a run id"):
        service.resume(project, "nope")
