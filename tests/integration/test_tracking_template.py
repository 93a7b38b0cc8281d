"""A new embedded store is a copy of an empty store migrated once per MLflow version (cached per machine),
not a run of MLflow's migrations: it takes every call a store made from scratch takes, and it is the same
store a from-scratch one is (tables, schema revision, default experiment inside the project)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from nblift import tracking
from nblift.fsutil import TEMP_PREFIX
from nblift.project import Project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return folder


@pytest.fixture
def no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder that cannot be made (a file stands where it would go)."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return blocked


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


def _check(project: Project, run_id: str) -> None:
    """The project's store holds exactly its own run, model version and a default experiment inside it."""
    client = tracking.client(project)
    runs = client.search_runs([tracking.ensure_experiment(project, "exp")])
    assert [r.info.run_id for r in runs] == [run_id]
    assert client.get_run(run_id).data.params == {"lr": "0.1"}
    assert client.get_metric_history(run_id, "loss")[0].value == 0.5
    assert [str(v.version) for v in client.search_model_versions("name='model'")] == ["1"]
    default = client.get_experiment("0")
    assert default.artifact_location == f"{project.state_dir.as_uri()}/artifacts/0"  # not the cache's folder
    assert abs(default.creation_time / 1000 - time.time()) < 120  # dated when the project's store was made


_CONSTRAINT = ("CONSTRAINT ", "CHECK ", "FOREIGN KEY", "PRIMARY KEY", "UNIQUE ")


def _definition(sql: str | None) -> tuple[str, ...] | None:
    """A CREATE statement as its lines with the table constraints in a fixed order: Alembic's batch migrations
    rebuild a table with its constraints in set order, which differs between processes (same table)."""
    if sql is None:
        return None
    lines = [line.strip().rstrip(",") for line in sql.splitlines()]
    columns = [line for line in lines if not line.startswith(_CONSTRAINT)]
    return (*columns, *sorted(line for line in lines if line.startswith(_CONSTRAINT)))


def _contents(db: Path, state_dir: Path) -> dict[str, Any]:
    """Schema and rows of a store, with the project's folder written generically and no creation times."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        schema = sorted(
            (
                (kind, name, _definition(sql))
                for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")
            ),
            key=repr,
        )
        rows = {}
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            rows[table] = sorted(conn.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    (experiment_id, name, location, stage, created, updated, *rest) = rows.pop("experiments")[0]
    assert created == updated and abs(created / 1000 - time.time()) < 120
    rows["experiments"] = [
        (experiment_id, name, location.replace(state_dir.as_uri(), "<state>"), stage, *rest)
    ]
    return {"schema": schema, "rows": rows, "journal": journal}


def _no_migrations(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow.store.db.utils

    def refuse(engine: object) -> None:
        raise AssertionError("MLflow's migrations ran for a store that should be a copy of the template")

    monkeypatch.setattr(mlflow.store.db.utils, "_initialize_tables", refuse)


def test_a_new_store_is_a_copy_of_the_template_and_works(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _project(tmp_path / "a")
    run_a = _use(first)
    template = tracking.template_path()
    assert template.is_file() and template.is_relative_to(cache / "nblift")
    second = _project(tmp_path / "b")
    _no_migrations(monkeypatch)  # (bench_store measures how fast the copy is)
    tracking.client(second)  # from the template made for the first
    run_b = _use(second)
    for project, run_id in ((first, run_a), (second, run_b)):  # independent stores
        _check(project, run_id)
    for project in (first, second):
        assert (project.state_dir / tracking.DB_FILE).stat().st_mode & 0o777 == 0o600
    assert not [p for p in first.state_dir.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_a_store_from_the_template_equals_one_from_the_migrations(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied = _project(tmp_path / "copied")
    tracking.client(copied)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").write_text("no cache here: the migrations make the store")
    migrated = _project(tmp_path / "migrated")
    tracking.client(migrated)
    assert not tracking.template_path().exists()
    ours, theirs = (_contents(p.state_dir / tracking.DB_FILE, p.state_dir) for p in (copied, migrated))
    assert ours == theirs
    assert ours["journal"] == "wal" and ours["rows"]["alembic_version"]
    assert ours["rows"]["experiments"][0][2] == "<state>/artifacts/0"


def test_an_empty_database_file_is_filled_from_the_template(cache: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    project.ensure_state_dir()
    (project.state_dir / tracking.DB_FILE).touch()
    _check(project, _use(project))
    assert tracking.template_path().is_file()


def test_an_existing_store_is_never_replaced(cache: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    run_id = _use(project)
    db = project.state_dir / tracking.DB_FILE
    inode = db.stat().st_ino
    tracking.template_path().unlink()  # a new template (another MLflow) leaves the store as it is
    _check(project, run_id)
    assert db.stat().st_ino == inode
    assert tracking.template_path().exists() is False  # an existing store never needed the template


def test_an_unwritable_cache_falls_back_to_migrations(no_cache: Path, tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    run_id = _use(project)
    _check(project, run_id)  # the default experiment is inside the project as with a template
    assert not tracking.template_path().exists()


def test_a_damaged_template_is_replaced_and_never_used(cache: Path, tmp_path: Path) -> None:
    template = tracking.template_path()
    template.parent.mkdir(parents=True)
    template.write_bytes(b"not an SQLite database" * 100)
    first = _project(tmp_path / "a")
    _check(first, _use(first))  # made by the migrations; the damaged template is dropped
    assert not [p for p in first.state_dir.iterdir() if ".corrupt-" in p.name]
    second = _project(tmp_path / "b")
    _check(second, _use(second))  # the template is made again, and used
    with contextlib.closing(sqlite3.connect(template)) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"


RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import mlflow  # imported before the start line, so the processes start making the template together
    from nblift import tracking
    from nblift.project import Project

    print("ready", flush=True)
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.005)
    client = tracking.client(Project.discover(sys.argv[1]))
    print(client.create_experiment("e"), flush=True)
    """
)


def test_processes_racing_to_make_the_template_agree(
    cache: Path, tmp_path: Path, child_env: dict[str, str]
) -> None:
    env = {**child_env, "XDG_CACHE_HOME": str(cache)}
    go = tmp_path / "go"
    folders = [tmp_path / f"p{i}" for i in range(2)]
    for folder in folders:
        folder.mkdir()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(f), str(go)], env=env, stdout=subprocess.PIPE, text=True
        )
        for f in folders
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    go.touch()
    outputs = [child.communicate(timeout=240)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    assert [out.split() for out in outputs] == [["1"], ["1"]]
    template = tracking.template_path()
    folder = cache / "nblift"
    assert sorted(p.name for p in folder.iterdir()) == [
        template.name,
        template.name + ".lock",
    ]  # nothing half-made
    with contextlib.closing(sqlite3.connect(template)) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one file holds it all
        assert conn.execute("SELECT count(*) FROM experiments").fetchone()[0] == 1
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    for f in folders:
        with contextlib.closing(sqlite3.connect(Project.discover(f).state_dir / tracking.DB_FILE)) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == revision
