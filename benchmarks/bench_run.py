"""A ten-cell notebook run by nblift's local backend beside plain papermill on the same notebook, in one run.

Measured for each tool, interleaved, median of `--repeat` rounds:
- launch to first cell: from starting the command to the first cell executing (the cell records the time);
- total: from starting the command until it returns with the executed notebook written.
nblift is measured twice: the `nblift run` command (a fresh process, what a terminal user waits for) and
a launch from a warm process (what the Jupyter server does for the toolbar button and the Runs panel).
The MLflow run closes after the run's state is final; the time until it is closed is printed too.
Targets (issue 5): nblift under 1.5x papermill's total, overhead under 1 s.

    python benchmarks/bench_run.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from nblift.project import Project  # noqa: E402
from nblift.runs import service  # noqa: E402
from stamped_notebook import make_notebook as stamped_notebook  # noqa: E402

CELLS = 10


def make_notebook(path: Path) -> None:
    stamped_notebook(path, CELLS)


def first_cell(stamp: Path, start: float) -> float:
    return float(stamp.read_text()) - start


def papermill(folder: Path, stamp: Path) -> tuple[float, float]:
    start = time.time()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            "--no-progress-bar",
            "bench.ipynb",
            "out.ipynb",
            "-p",
            "stamp_file",
            str(stamp),
        ],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    return first_cell(stamp, start), time.time() - start


def nblift_cli(folder: Path, stamp: Path) -> tuple[float, float, str]:
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "nblift", "--json", "run", "bench.ipynb", "-p", f"stamp_file={stamp}"],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    )
    total = time.time() - start
    reply = json.loads(out.stdout)
    assert reply["state"] == "SUCCEEDED", reply
    return first_cell(stamp, start), total, reply["id"]


def nblift_warm(project: Project, folder: Path, stamp: Path) -> tuple[float, float, str]:
    start = time.time()
    info = service.launch(project, folder / "bench.ipynb", {"stamp_file": str(stamp)})
    done = service.wait(project, info.id, timeout=300)
    total = time.time() - start
    assert done.state == "SUCCEEDED", done.error
    return first_cell(stamp, start), total, info.id


def mlflow_closed_after(project: Project, run_id: str, started: float) -> float:
    while True:
        info = service.get_run(project, run_id)
        if info.mlflow and info.mlflow.get("status") != "RUNNING":
            return time.time() - started
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    samples: dict[str, list[tuple[float, float]]] = {
        "papermill": [],
        "nblift run (CLI)": [],
        "nblift (warm)": [],
    }
    closed: list[float] = []
    with tempfile.TemporaryDirectory(prefix="nblift-bench-run-") as tmp:
        folder = Path(tmp)
        make_notebook(folder / "bench.ipynb")
        project = Project.discover(folder)
        stamp = folder / "stamp.txt"
        # warm-up: the embedded MLflow store is created once, bytecode caches filled
        _, _, run_id = nblift_warm(project, folder, stamp)
        mlflow_closed_after(project, run_id, time.time())
        papermill(folder, stamp)
        for _ in range(args.repeat):
            samples["papermill"].append(papermill(folder, stamp))
            started = time.time()
            first, total, run_id = nblift_cli(folder, stamp)
            samples["nblift run (CLI)"].append((first, total))
            mlflow_closed_after(project, run_id, started)  # its runner is idle before the next measurement
            started = time.time()
            first, total, run_id = nblift_warm(project, folder, stamp)
            samples["nblift (warm)"].append((first, total))
            closed.append(mlflow_closed_after(project, run_id, started))
    base_first = statistics.median(s[0] for s in samples["papermill"])
    base_total = statistics.median(s[1] for s in samples["papermill"])
    print(f"{CELLS}-cell notebook, median of {args.repeat} (seconds; ratio and overhead against papermill)")
    print(f"{'tool':<20}{'to first cell':>15}{'total':>10}{'ratio':>8}{'overhead':>10}")
    for name, rows in samples.items():
        first = statistics.median(r[0] for r in rows)
        total = statistics.median(r[1] for r in rows)
        print(
            f"{name:<20}{first:>15.3f}{total:>10.3f}{total / base_total:>7.2f}x{total - base_total:>+10.3f}"
        )
    print(f"MLflow run closed {statistics.median(closed):.3f} s after a warm launch (in the background)")
    worst = max(
        statistics.median(r[1] for r in rows) for name, rows in samples.items() if name != "papermill"
    )
    print(
        f"target total < 1.5x papermill and overhead < 1 s: "
        f"{'met' if worst < 1.5 * base_total and worst - base_total < 1.0 else 'NOT met'} "
        f"(worst {worst / base_total:.2f}x, {worst - base_total:+.3f} s; "
        f"papermill first cell {base_first:.3f} s)"
    )


if __name__ == "__main__":
    main()
