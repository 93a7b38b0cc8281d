"""The backend shown in docs/writing-a-backend.md runs real notebooks through the run spine: objects copied
once to its "machine", events mirrored into the record, cancel, outputs fetched back."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from run_helpers import wait_done, wait_for_event, write_notebook

from nblift.backends.registry import BackendSpec, _registered, register_backend
from nblift.project import Project
from nblift.runs import service
from nblift.runs.records import record_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "_examples"


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("NBLIFT_PROCESS_ROOT", str(tmp_path / "machine"))
    monkeypatch.setenv("NBLIFT_RUN_CANCEL_GRACE", "5")
    register_backend(BackendSpec("process", "process_backend:ProcessBackend"), replace=True)
    (tmp_path / "work").mkdir()
    yield Project.discover(tmp_path / "work")
    _registered.pop("process", None)
    sys.modules.pop("process_backend", None)


def test_example_backend_runs_mirrors_and_uploads_once(project, tmp_path):
    nb = write_notebook(project.root / "nb.ipynb", "print('n =', n)", parameters="n = 1")
    first = service.launch(project, nb, {"n": 5}, backend="process")
    done = wait_done(project, first.id)
    assert done.state == "SUCCEEDED", done.error
    assert done.backend == "process"
    executed = service.fetch(project, first.id)
    assert "n = 5" in executed.read_text()
    assert not (record_dir(project.state_dir, first.id) / "runner.log").exists()  # it ran on the "machine"
    second = service.launch(project, nb, {"n": 6}, backend="process")
    handles = [
        json.loads((record_dir(project.state_dir, r.id) / "handle.json").read_text()) for r in (first, second)
    ]
    assert handles[0]["details"]["uploaded_objects"] == 2  # the manifest and the notebook
    assert handles[1]["details"]["uploaded_objects"] == 0  # unchanged work: nothing sent again
    assert wait_done(project, second.id).state == "SUCCEEDED"


def test_example_backend_cancel(project):
    nb = write_notebook(project.root / "slow.ipynb", "import time\ntime.sleep(120)")
    run = service.launch(project, nb, backend="process")
    wait_for_event(project, run.id, "cell.started")
    assert service.cancel(project, run.id).state == "CANCELLED"
