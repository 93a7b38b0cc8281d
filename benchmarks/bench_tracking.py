"""Metric logging and the runs panel's first page, side by side with MLflow's own calls, in one run.

Logging (the embedded SQLite store), 100,000 points through
- nblift.log (buffer + writer thread): sustained rate from a loop that only logs (points / (loop + final
  flush)), every point read back from MLflow; and the slow-down of a loop whose body does a small training
  step of numpy work (about 250 us here) when it logs one point per step;
- mlflow.log_metric, synchronous and asynchronous (`synchronous=False`, flush included), timed on the first
  --sample points (they manage about a hundred points a second, so 100,000 would take a quarter of an hour);
- MlflowClient.log_batch in batches of 1,000 (MLflow's limit).
Panel: the first page (50 runs, newest first) of an experiment of 100,000 runs, through nblift's search and
through mlflow.search_runs on the same store.
Targets (issue 7): >= 50,000 points/s sustained, loop slowed < 5 %, all points in MLflow; first page < 200 ms.

    python benchmarks/bench_tracking.py [--points 100000] [--runs 100000] [--sample 500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# The training step runs on one core, as the host side of a GPU step does; a BLAS spreading a small matmul
# over both cores of a 2-core machine would measure its threads contending with any other work instead.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))  # the seeding helper the search tests use

import numpy as np  # noqa: E402

WORK = np.random.default_rng(0).random((160, 160))


def step_work() -> float:
    return float((WORK @ WORK).sum())


def timed_loop(points: int, log) -> float:
    start = time.perf_counter()
    for i in range(points):
        step_work()
        if log is not None:
            log(i)
    return time.perf_counter() - start


def logging(points: int, sample: int) -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    import nblift
    from nblift import tracking
    from nblift.experiments import logger
    from nblift.project import Project

    with tempfile.TemporaryDirectory(prefix="nblift-bench-track-") as tmp:
        os.chdir(tmp)
        project = Project.discover(tmp)
        nblift.log(step=0, warm_up=1.0)  # the run, mlflow's import and the database are made once, first
        logger.current().flush()
        start = time.perf_counter()
        for i in range(points):
            nblift.log(step=i, loss=1.0 / (i + 1))
        loop = time.perf_counter() - start
        start = time.perf_counter()
        logger.current().flush()
        flush = time.perf_counter() - start
        run_id = logger.current().run_id
        stored = len(tracking.client(project).get_metric_history(run_id, "loss"))
        rate = points / (loop + flush)
        steps = points // 10
        base = statistics.median(timed_loop(steps, None) for _ in range(3))
        logged = statistics.median(
            timed_loop(steps, lambda i: nblift.log(step=i, acc=1.0 / (i + 1))) for _ in range(3)
        )
        logger.current().flush()
        slowdown = (logged - base) / base * 100
        rows = [
            (
                "nblift.log",
                rate,
                f"{loop / points * 1e6:.1f} us a call, flush {flush:.2f} s, {stored}/{points} in MLflow",
            )
        ]
        mlflow.set_tracking_uri(tracking.engine_uri(tracking.target_for(project)))
        with mlflow.start_run():
            start = time.perf_counter()
            for i in range(sample):
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
            rows.append(
                ("mlflow.log_metric", sample / (time.perf_counter() - start), f"first {sample} points")
            )
        with mlflow.start_run():
            start = time.perf_counter()
            for i in range(sample):
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=False)
            mlflow.flush_async_logging()
            rows.append(
                (
                    "mlflow.log_metric async",
                    sample / (time.perf_counter() - start),
                    f"first {sample}, flush included",
                )
            )
        client = MlflowClient(tracking.engine_uri(tracking.target_for(project)))
        run = client.create_run(tracking.ensure_experiment(project, tracking.experiment_name(project)))
        now = int(time.time() * 1000)
        start = time.perf_counter()
        for first in range(0, points, 1000):
            batch = [Metric("loss", 1.0 / (i + 1), now, i) for i in range(first, min(first + 1000, points))]
            client.log_batch(run.info.run_id, metrics=batch)
        rows.append(("MlflowClient.log_batch", points / (time.perf_counter() - start), "batches of 1000"))
        os.chdir(ROOT)
    print(f"{points} points (embedded SQLite store)")
    print(f"{'':<26}{'points/s':>12}{'vs nblift':>11}  notes")
    for name, points_per_s, note in rows:
        print(f"{name:<26}{points_per_s:>12,.0f}{points_per_s / rate:>10.3f}x  {note}")
    print(
        f"a loop of {base / steps * 1e6:.0f} us training steps, one point logged per step: {slowdown:+.1f} %"
    )
    met = rate >= 50_000 and slowdown < 5 and stored == points
    print(f"target >= 50,000 points/s, loop slowed < 5 %, all stored: {'met' if met else 'NOT met'}")


def first_page(runs: int) -> None:
    import mlflow
    from tracking_seed import seed_runs

    from nblift import tracking
    from nblift.experiments import search
    from nblift.project import Project

    with tempfile.TemporaryDirectory(prefix="nblift-bench-page-") as tmp:
        project = Project.discover(tmp, environ={})
        experiment = tracking.ensure_experiment(project, "history")
        start = time.perf_counter()
        seed_runs(project.state_dir / tracking.DB_FILE, experiment, runs)
        seeded = time.perf_counter() - start
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            page = search.search_runs(project, experiment)
            samples.append(time.perf_counter() - start)
        ours = statistics.median(samples)
        assert len(page["runs"]) == 50 and page["total"] == runs
        mlflow.set_tracking_uri(tracking.engine_uri(tracking.target_for(project)))
        start = time.perf_counter()
        theirs_page = mlflow.search_runs([experiment], max_results=50, output_format="list")
        theirs = time.perf_counter() - start
        assert [r.info.run_id for r in theirs_page] == [r["run_id"] for r in page["runs"]]
    print(f"\nfirst page of 50 runs of {runs:,} (seeded in {seeded:.1f} s), same store, same rows")
    print(f"{'nblift search (panel API)':<30}{ours * 1000:>9.1f} ms")
    print(f"{'mlflow.search_runs':<30}{theirs * 1000:>9.1f} ms   {theirs / ours:.1f}x nblift's time")
    print(f"target first page < 200 ms: {'met' if ours < 0.2 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=500)
    args = parser.parse_args()
    logging(args.points, args.sample)
    first_page(args.runs)


if __name__ == "__main__":
    main()
