"""JupyterLab server for the UI tests: galata's settings, a fresh root folder with seeded nblift state."""

import os
import sys
import tempfile
import time
from pathlib import Path

from jupyterlab.galata import configure_jupyter_server

from nblift.project import Project
from nblift.store import ObjectStore

root = Path(tempfile.mkdtemp(prefix="nblift-ui-"))
os.environ["JUPYTERLAB_GALATA_ROOT_DIR"] = str(root)
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Kernels started by this server inherit these: a throwaway signing key, no MLflow mirror (tested elsewhere).
os.environ["NBLIFT_SECRET_FILE"] = str(root.parent / f"{root.name}-key" / "snapshot_secret")
os.environ["NBLIFT_SNAPSHOT_MLFLOW"] = "false"

# Seed real state: two objects kept alive by a ref, as a snapshot would leave them.
store = ObjectStore(Project.discover(root).ensure_state_dir())
store.set_ref(
    "seed", "ui-tests", [store.put_bytes(b"first object"), store.put_bytes(b"second object" * 1000)]
)


def seed_experiments(project: Project) -> None:
    """MLflow runs for the Experiments view: "ui-tests" holds three finished runs (params lr and optimizer,
    metrics loss and accuracy over five steps, test_score once; the first ties back to a notebook and a git
    commit); "ui-pages" holds 55 (more than a page); "ui-live" holds one run still in progress."""
    from mlflow.entities import Metric, Param, RunTag

    from nblift import tracking

    client = tracking.client(project)
    experiment = tracking.ensure_experiment(project, "ui-tests")
    (root / "train.ipynb").write_text(
        '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', encoding="utf-8"
    )
    start = int(time.time() * 1000) - 60_000
    for i, lr in enumerate(["0.1", "0.01", "0.001"]):
        run = client.create_run(experiment, start_time=start + i * 1000, run_name=f"lr-{lr}")
        run_id = run.info.run_id
        rate = float(lr)
        metrics = [
            Metric(key, value, start + i * 1000 + step * 100, step)
            for step in range(5)
            for key, value in (
                ("loss", round(1.0 / (1 + step * rate * 10) + i * 0.05, 4)),
                ("accuracy", round(0.5 + step * rate, 4)),
            )
        ]
        # Logged once per run (a final score): compared as bars, not as a dot on a step axis.
        metrics.append(Metric("test_score", round(0.7 + i * 0.08, 4), start + i * 1000 + 800, 0))
        tags = [RunTag("nblift.kind", "track")]
        if i == 0:
            tags += [
                RunTag("mlflow.source.name", "train.ipynb"),
                RunTag("mlflow.source.git.commit", "0123456789abcdef0123456789abcdef01234567"),
            ]
        client.log_batch(run_id, metrics=metrics, params=[Param("optimizer", "sgd")], tags=tags)
        client.log_param(run_id, "lr", lr)
        client.set_terminated(run_id, "FINISHED", end_time=start + i * 1000 + 900)
    pages = tracking.ensure_experiment(project, "ui-pages")
    for n in range(55):
        run_id = client.create_run(pages, start_time=start + n, run_name=f"page-{n:02d}").info.run_id
        client.log_batch(run_id, params=[Param("i", str(n))])
        client.set_terminated(run_id, "FINISHED")
    live = client.create_run(tracking.ensure_experiment(project, "ui-live"), run_name="in-progress")
    client.log_batch(live.info.run_id, metrics=[Metric("loss", 0.9, int(time.time() * 1000), 0)])


seed_experiments(Project.discover(root))


def seed_scale(project: Project) -> None:
    """The Experiments view at scale: "ui-scale" holds 100,000 runs, written straight into MLflow's SQLite
    store in one transaction by the experiment-search tests' seeder (params lr and depth, metrics loss and
    accuracy, every tenth run FAILED)."""
    from nblift import tracking

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
    from tracking_seed import seed_runs

    experiment = tracking.ensure_experiment(project, "ui-scale")
    seed_runs(project.state_dir / tracking.DB_FILE, experiment, 100_000)
    # "ui-curves": three runs with a 5,000-point loss curve each, longer than a chart draws point by point.
    from mlflow.entities import Metric

    client = tracking.client(project)
    curves = tracking.ensure_experiment(project, "ui-curves")
    # An hour ago, so that "ui-live" stays the experiment updated last (the view opens on it).
    start = int(time.time() * 1000) - 3_600_000
    for i in range(3):
        run_id = client.create_run(curves, start_time=start, run_name=f"curve-{i}").info.run_id
        points = [
            Metric("loss", 1.0 / (1 + step * (i + 1) / 500) + (step % 7) * 0.01, start + step * 10, step)
            for step in range(5000)
        ]
        for n in range(0, len(points), 1000):
            client.log_batch(run_id, metrics=points[n : n + 1000])
        client.log_param(run_id, "width", str(32 * 2**i))
        client.set_terminated(run_id, "FINISHED", end_time=start + 60_000)


seed_scale(Project.discover(root))
# A project of its own for the test that snapshots and tracks from a notebook (its state stays out of the
# root project's, which other tests count).
(root / "lineage-project" / ".nblift").mkdir(parents=True, mode=0o700)
# A project for the registry test, with a promotion policy: `champion` needs accuracy >= 0.5, one approval
# (the server's user approves; the kernel's user registered) and a data gate (the evaluation data matches
# the schema inferred from it; run from the view's Run gates).
(root / "registry-project" / ".nblift").mkdir(parents=True, mode=0o700)
(root / "registry-project" / "data").mkdir()
(root / "registry-project" / "data" / "eval.csv").write_text(
    "age,city\n" + "".join(f"{20 + i % 40},{'ab'[i % 2]}\n" for i in range(60)), encoding="utf-8"
)
(root / "registry-project" / "pyproject.toml").write_text(
    '[tool.nblift.promotion.champion]\nmetrics = ["accuracy >= 0.5"]\napprovals = 1\n'
    '[tool.nblift.promotion.champion.data]\nschema = "gates/schema.yaml"\ndata = "data/eval.csv"\n',
    encoding="utf-8",
)
from nblift.gates.schema import infer_file  # noqa: E402

infer_file(
    Project.discover(root / "registry-project"),
    "data/eval.csv",
    root / "registry-project" / "gates" / "schema.yaml",
)

# An SSH host on loopback and a project naming it, for the test that moves a session there and back.
sys.path.insert(0, str(Path(os.getcwd()).resolve()))
from move_host import serve_move_project  # noqa: E402

serve_move_project(root)

configure_jupyter_server(c)  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821
