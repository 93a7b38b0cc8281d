"""A run's MLflow tags tie it to where it came from: git commit, lock, latest snapshot of the notebook."""

from __future__ import annotations

import pytest
from run_helpers import git, mlflow_run, wait_done, wait_mlflow_closed, write_notebook

from nblift.project import Project
from nblift.runs import service
from nblift.snapshot import manifest as snapshots
from nblift.store import ObjectStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_lineage_tags(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    nb = write_notebook(tmp_path / "train.ipynb", "print(1)")
    (tmp_path / "requirements.txt").write_text("numpy==2.1.0 --hash=sha256:" + "0" * 64 + "\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "first")
    commit = git(tmp_path, "rev-parse", "HEAD")
    project = Project.discover(tmp_path)
    store = ObjectStore(project.ensure_state_dir())
    for sid, created, path in (
        ("aaaa1111", 1.0, "train.ipynb"),
        ("bbbb2222", 2.0, "train.ipynb"),
        ("cccc3333", 3.0, "other.ipynb"),
    ):
        snapshots.save(
            store,
            {
                "format": snapshots.FORMAT,
                "id": sid,
                "created": created,
                "notebook_path": path,
                "variables": {},
            },
        )
    info = service.launch(project, nb)
    assert wait_done(project, info.id).state == "SUCCEEDED"
    tags = mlflow_run(project, wait_mlflow_closed(project, info.id)).data.tags
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["nblift.snapshot"] == "bbbb2222"  # the newest snapshot of this notebook, not of another
    assert len(tags["nblift.lock"]) == 64  # the content hash of requirements.txt in the bundle
    assert tags["nblift.backend"] == "local"
    assert tags["nblift.kind"] == "run"
