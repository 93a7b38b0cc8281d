"""A new embedded store is a copy of an empty store migrated once per MLflow version (cached per machine),
not a run of MLflow's migrations: it takes every call a store made from scratch takes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nblift import tracking
from nblift.project import Project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return folder


def _project(path: Path) -> Project:
    path.mkdir(parents=True, exist_ok=True)
    return Project.discover(path)


def _use(project: Project) -> str:
    """Record a run with a parameter, a metric and a registered model version; return the run id."""
    client = tracking.client(project)
    experiment = tracking.ensure_experiment(project, "exp")
    run = client.create_run(experiment)
    client.log_param(run.info.run_id, "lr", "0.1")
    client.log_metric(run.info.run_id, "loss", 0.5, step=1)
    client.set_terminated(run.info.run_id)
    client.create_registered_model("model")
    client.create_model_version("model", f"runs:/{run.info.run_id}/model", run.info.run_id)
    return run.info.run_id


def test_a_new_store_is_a_copy_of_the_template_and_works(cache, tmp_path):
    first = _project(tmp_path / "a")
    run_a = _use(first)
    template = tracking.template_path()
    assert template.is_file() and template.is_relative_to(cache)
    second = _project(tmp_path / "b")
    run_b = _use(second)  # from the template made for the first
    for project, run_id in ((first, run_a), (second, run_b)):
        client = tracking.client(project)
        assert [r.info.run_id for r in client.search_runs([tracking.ensure_experiment(project, "exp")])] == [
            run_id
        ]
        assert client.get_run(run_id).data.params == {"lr": "0.1"}
        assert client.get_metric_history(run_id, "loss")[0].value == 0.5
        assert [str(v.version) for v in client.search_model_versions("name='model'")] == ["1"]
        default = client.get_experiment("0").artifact_location
        assert default.startswith(project.state_dir.as_uri()), default  # inside the project, not the cache
    assert (first.state_dir / tracking.DB_FILE).stat().st_mode & 0o777 == 0o600


def test_an_existing_store_is_never_replaced(cache, tmp_path):
    project = _project(tmp_path / "p")
    run_id = _use(project)
    tracking.template_path().unlink()  # even a new template leaves the store as it is
    client = tracking.client(project)
    assert client.get_run(run_id).data.params == {"lr": "0.1"}


def test_an_unwritable_cache_falls_back_to_migrations(tmp_path, monkeypatch):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    project = _project(tmp_path / "p")
    run_id = _use(project)
    assert tracking.client(project).get_run(run_id).info.status == "FINISHED"
    assert not tracking.template_path().exists()


def test_processes_racing_to_make_the_template_agree(cache, tmp_path, child_env):
    code = (
        "import sys; from nblift.project import Project; from nblift import tracking; "
        "c = tracking.client(Project.discover(sys.argv[1])); "
        "print(c.create_experiment('e'))"
    )
    env = {**child_env, "XDG_CACHE_HOME": str(cache)}
    folders = [tmp_path / f"p{i}" for i in range(3)]
    for folder in folders:
        folder.mkdir()
    children = [
        subprocess.Popen([sys.executable, "-c", code, str(f)], env=env, stdout=subprocess.PIPE, text=True)
        for f in folders
    ]
    outputs = [child.communicate(timeout=240)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0, 0], outputs
    assert [p.name for p in cache.joinpath("nblift").iterdir() if p.suffix == ".db"] == [
        tracking.template_path().name
    ]
    assert not [
        p for p in cache.joinpath("nblift").iterdir() if p.name.startswith(".")
    ]  # no half-made copies
