"""A new project's embedded MLflow store: MLflow's own migrations beside nblift's copy of the migrated
template, in one run.

Measured, median of `--repeat`, on brand-new projects (mlflow imported once before timing): from nothing to a
usable client with one experiment and one run recorded,
- migrations: a fresh SQLite store through MLflow (what every new project and every remote run paid before);
- template: nblift's `tracking.client`, the template for this MLflow version already cached on the machine.
Target (issue 13): the template path under 0.5 s.

    python benchmarks/bench_store.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def migrations(folder: Path) -> float:
    from mlflow import MlflowClient

    start = time.perf_counter()
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    client.create_run(client.create_experiment("bench", artifact_location=(folder / "a").as_uri()))
    return time.perf_counter() - start


def template(folder: Path) -> float:
    from nblift import tracking
    from nblift.project import Project

    start = time.perf_counter()
    project = Project.discover(folder)
    client = tracking.client(project)
    client.create_run(tracking.ensure_experiment(project, "bench"))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import logging

    import mlflow  # noqa: F401 - its import is not what is measured

    logging.getLogger("alembic").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        made = time.perf_counter()
        from nblift import tracking

        tracking._template()  # made once per machine and MLflow version
        made = time.perf_counter() - made
        times: dict[str, list[float]] = {"migrations": [], "template": []}
        for _ in range(args.repeat):
            for name, fn in (("migrations", migrations), ("template", template)):
                with tempfile.TemporaryDirectory() as folder:
                    times[name].append(fn(Path(folder)))
    slow, fast = statistics.median(times["migrations"]), statistics.median(times["template"])
    print(f"new embedded store to a first run, median of {args.repeat}")
    print(f"{'MLflow migrations':<32}{slow:8.2f}s")
    print(f"{'nblift from the template':<32}{fast:8.2f}s   (template made once: {made:.2f}s)")
    print(f"template vs migrations: {fast / slow:.3f}x; target < 0.5 s: {'met' if fast < 0.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
