"""A new project's embedded MLflow store: MLflow's own migrations, nblift with no template yet (cold) and
nblift with the template for this MLflow version cached on the machine (warm), in one run.

Measured, median of `--repeat`, each on a brand-new project (mlflow imported once before timing): from nothing
to a usable MlflowClient with one run recorded (`tracking.client` + `create_run` in the default experiment),
- MLflow migrations: a fresh SQLite store through MlflowClient alone (what every new project and every remote
  run paid before the template);
- nblift cold: `tracking.client` with an empty cache folder (the template is made, then copied): the first
  new store on a machine for an MLflow version;
- nblift warm: `tracking.client` with the template cached: every later new store.
Target (issue 13): warm under 0.5 s.

    python benchmarks/bench_store.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
TARGET_S = 0.5


def migrations(folder: Path, cache: Path) -> float:
    from mlflow import MlflowClient

    start = time.perf_counter()
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    client.create_run("0")
    return time.perf_counter() - start


def nblift(folder: Path, cache: Path) -> float:
    from nblift import tracking
    from nblift.project import Project

    os.environ["XDG_CACHE_HOME"] = str(cache)
    start = time.perf_counter()
    client = tracking.client(Project.discover(folder))
    client.create_run("0")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import mlflow  # noqa: F401 - its import is not what is measured

    from nblift import tracking

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="nblift-bench-store-") as tmp:
        warm_cache = Path(tmp, "warm-cache")
        os.environ["XDG_CACHE_HOME"] = str(warm_cache)
        tracking._template()  # the warm cases find it made (once per machine and MLflow version)
        cases: dict[str, tuple[Callable[[Path, Path], float], bool]] = {
            "MLflow migrations": (migrations, False),
            "nblift cold (no template yet)": (nblift, False),
            "nblift warm (template cached)": (nblift, True),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for i in range(args.repeat):
            for name, (fn, warm) in cases.items():
                folder = Path(tmp, f"{i}-{len(times[name])}-{name.split()[1]}")
                folder.mkdir()
                cache = warm_cache if warm else Path(tmp, f"cold-cache-{i}-{name.split()[1]}")
                times[name].append(fn(folder, cache))
        made = tracking.template_path().name
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    base = medians["MLflow migrations"]
    print(f"new embedded store to a usable client and one run, median of {args.repeat} (template {made})")
    print(f"{'':<32}{'median':>9}{'min':>9}{'max':>9}{'vs migrations':>15}")
    for name, samples in times.items():
        print(
            f"{name:<32}{medians[name]:>8.3f}s{min(samples):>8.3f}s{max(samples):>8.3f}s"
            f"{medians[name] / base:>14.3f}x"
        )
    warm = medians["nblift warm (template cached)"]
    cold = medians["nblift cold (no template yet)"]
    print(f"warm vs cold: {warm / cold:.3f}x ({cold / warm:.0f} times faster)")
    print(f"target warm < {TARGET_S} s: {'met' if warm < TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
