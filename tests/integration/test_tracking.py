"""The embedded MLflow store (SQLite in WAL mode under .nblift/), URI handling, and concurrent writers."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
import textwrap

import pytest

from nblift import tracking
from nblift.errors import InvalidInput
from nblift.project import Project

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_telemetry(monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture
def project(tmp_path):
    return Project.discover(tmp_path, environ={})


def test_client_creates_wal_database(project):
    db = project.state_dir / "mlflow.db"
    assert not db.exists()
    mlflow_client = tracking.client(project)
    assert db.is_file()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(project.state_dir.stat().st_mode) == 0o700
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"experiments", "runs", "metrics"} <= tables  # MLflow created its schema there
    assert mlflow_client.tracking_uri.startswith(f"sqlite:///{db}")


def test_target_for_embedded(project):
    target = tracking.target_for(project)
    assert target.embedded
    assert target.uri == f"sqlite:///{project.state_dir / 'mlflow.db'}"
    assert target.artifact_root == (project.state_dir / "artifacts").as_uri()
    assert not project.state_dir.exists()  # target_for touches nothing


def test_ensure_experiment_artifacts_under_state_dir(project):
    experiment_id = tracking.ensure_experiment(project, "train")
    found = tracking.client(project).get_experiment(experiment_id)
    assert found.name == "train"
    prefix = (project.state_dir / "artifacts").as_uri() + "/"
    assert found.artifact_location.startswith(prefix)
    assert tracking.ensure_experiment(project, "train") == experiment_id  # found, not created again
    assert tracking.ensure_experiment(project, "other") != experiment_id


def test_log_and_read_back_a_run(project):
    experiment_id = tracking.ensure_experiment(project, "train")
    mlflow_client = tracking.client(project)
    run = mlflow_client.create_run(experiment_id, run_name="first")
    run_id = run.info.run_id
    for step, loss in enumerate([0.9, 0.5, 0.25]):
        mlflow_client.log_metric(run_id, "loss", loss, step=step)
    mlflow_client.log_param(run_id, "lr", "0.01")
    mlflow_client.set_terminated(run_id, "FINISHED")

    again = tracking.client(project)  # a fresh client reads what the first one wrote
    stored = again.get_run(run_id)
    assert stored.data.metrics["loss"] == 0.25
    assert stored.data.params == {"lr": "0.01"}
    assert stored.info.status == "FINISHED"
    history = again.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.9), (1, 0.5), (2, 0.25)]
    assert stored.info.artifact_uri.startswith((project.state_dir / "artifacts").as_uri())


def test_mlflow_tracking_uri_points_elsewhere(tmp_path):
    other = tmp_path / "shared" / "other.db"
    other.parent.mkdir()
    uri = f"sqlite:///{other}"
    project = Project.discover(tmp_path, environ={"MLFLOW_TRACKING_URI": uri})
    target = tracking.target_for(project)
    assert target.uri == uri
    assert not target.embedded
    assert target.artifact_root is None
    assert project.settings.sources["tracking_uri"] == "MLFLOW_TRACKING_URI"

    experiment_id = tracking.ensure_experiment(project, "elsewhere")
    assert other.is_file()
    assert not (project.state_dir / "mlflow.db").exists()
    conn = sqlite3.connect(other)
    try:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM experiments WHERE experiment_id = ?", (int(experiment_id),)
            )
        ]
    finally:
        conn.close()
    assert names == ["elsewhere"]


def test_nblift_tracking_uri_wins(tmp_path):
    project = Project.discover(
        tmp_path,
        environ={"MLFLOW_TRACKING_URI": "http://mlflow-a:5000", "NBLIFT_TRACKING_URI": "https://mlflow-b"},
    )
    assert tracking.target_for(project).uri == "https://mlflow-b"


def test_target_for_refuses_a_bad_uri(tmp_path):
    project = Project.discover(tmp_path, environ={"MLFLOW_TRACKING_URI": "http://169.254.169.254/latest"})
    with pytest.raises(InvalidInput):
        tracking.target_for(project)


def test_display_uri_hides_credentials(tmp_path):
    project = Project.discover(
        tmp_path, environ={"MLFLOW_TRACKING_URI": "https://alice:s3cr3t@mlflow.example/x"}
    )
    target = tracking.target_for(project)
    assert target.display_uri == "https://mlflow.example/x"
    assert "s3cr3t" not in target.display_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://user:tok@host/x", "https://host/x"),
        ("https://tok@host:8443/x?y=1#z", "https://host:8443/x?y=1#z"),
        ("http://oauth2:ghp_abc@10.0.0.5:5000", "http://10.0.0.5:5000"),
        ("https://u:p@[::1]:5000/x", "https://[::1]:5000/x"),
        ("https://host/x", "https://host/x"),
        ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
        ("postgresql+psycopg2://admin:pw@db:5432/mlflow", "postgresql+psycopg2://db:5432/mlflow"),
    ],
)
def test_redact_uri(uri, expected):
    assert tracking.redact_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "ftp://x",
        "",
        "/just/a/path",
        "host:5000",
        "javascript:alert(1)",
        "gopher://x",
        "http://169.254.169.254/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",
        "http://0xa9fea9fe/",
        "http://169.254.43518/",
        "http://0.0.0.0:5000",
        "http://224.0.0.1/",
    ],
)
def test_check_tracking_uri_refuses(uri):
    with pytest.raises(InvalidInput) as info:
        tracking.check_tracking_uri(uri)
    assert info.value.hint


@pytest.mark.parametrize(
    "uri",
    [
        "https://mlflow.example.com",
        "https://mlflow.example.com:8443/prefix",
        "http://127.0.0.1:5000",
        "http://localhost:5000",
        "sqlite:////tmp/x.db",
        "postgresql://u@db/mlflow",
        "postgresql+psycopg2://db/mlflow",
        "databricks://my-profile",
        "file:///tmp/mlruns",
    ],
)
def test_check_tracking_uri_accepts(uri):
    assert tracking.check_tracking_uri(uri) == uri


WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from nblift import tracking
    from nblift.project import Project

    root, worker, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    import mlflow  # pay the import before the start line, so the writers really overlap
    for _ in range(6000):
        if go.exists():
            break
        time.sleep(0.01)
    project = Project.discover(root, environ={})
    mlflow_client = tracking.client(project)
    experiment_id = tracking.ensure_experiment(project, f"worker-{worker}")
    run_id = mlflow_client.create_run(experiment_id, run_name=f"worker-{worker}").info.run_id
    for step in range(25):
        mlflow_client.log_metric(run_id, "m", float(step) + int(worker) / 10, step=step)
    mlflow_client.set_terminated(run_id, "FINISHED")
    print(json.dumps({"worker": worker, "run_id": run_id}), flush=True)
    """
)


def test_concurrent_writers_first_start(tmp_path, child_env):
    """4 processes open a store that does not exist yet and log at once: one creates the schema while
    the others wait, no 'database is locked' reaches anyone, and every metric is there."""
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(worker), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env,
        )
        for worker in range(4)
    ]
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=280)
        assert "database is locked" not in err
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    mlflow_client = tracking.client(Project.discover(tmp_path, environ={}))
    for result in results:
        worker = int(result["worker"])
        history = mlflow_client.get_metric_history(result["run_id"], "m")
        assert sorted((m.step, m.value) for m in history) == [
            (step, float(step) + worker / 10) for step in range(25)
        ]
        assert mlflow_client.get_run(result["run_id"]).info.status == "FINISHED"
    assert len({r["run_id"] for r in results}) == 4


def test_client_does_not_import_mlflow_before_needed(child_env):
    code = "import sys, nblift.tracking, nblift.status; print('mlflow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env, check=True
    )
    assert out.stdout.strip() == "False"


def test_a_corrupt_embedded_database_is_moved_aside_and_tracking_goes_on(tmp_path, monkeypatch, caplog):
    """SECURITY.md: a corrupt embedded SQLite database at start is moved aside with a clear warning."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    from nblift.project import Project
    from nblift.tracking import DB_FILE, client

    project = Project.discover(tmp_path)
    project.ensure_state_dir()
    db = project.state_dir / DB_FILE
    db.write_bytes(b"this is not a database, it was truncated by a crash" * 100)
    with caplog.at_level("WARNING", logger="nblift"):
        mlflow_client = client(project)
    aside = [p for p in project.state_dir.iterdir() if p.name.startswith(f"{DB_FILE}.corrupt-")]
    assert len(aside) == 1
    assert aside[0].read_bytes().startswith(b"this is not a database")  # kept, never deleted
    assert "moved it to" in caplog.text
    experiment = mlflow_client.create_experiment("after-recovery")
    assert mlflow_client.get_experiment(experiment).name == "after-recovery"
