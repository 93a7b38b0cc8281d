"""The Experiments view in a real browser, side by side with MLflow's own UI on the same store, in one run.

Seeds a throwaway project's MLflow SQLite store with 100,000 runs (the experiment-search tests' seeder, one
transaction) and three runs with a 100,000-point `train_loss` each, starts JupyterLab (with nblift) and
`mlflow ui` on loopback on that store, and drives Debian's Chromium through the Node Playwright the UI tests
already have (benchmarks/bench_ui.mjs; Python's playwright package is not needed). Timed in the page:
- first page: from the runs-page response's last byte (resource timing) to the frame that shows its first
  row painted, in the Experiments view at 100,000 runs; for MLflow, from its last runs/search response to
  the frame that shows the newest run's name in its runs table (its page loaded afresh each sample);
- comparison of 3 runs of 100,000 points: from the compare response's last byte to the three curves drawn
  (the server sends at most 2,000 points a series, the chart downsamples those to about two a pixel), and
  from the click to the curves drawn (the server reading 300,000 points included).
Targets (issue 18): first page < 300 ms after the response; comparison drawn < 500 ms.

    python benchmarks/bench_ui.py [--runs 100000] [--points 100000] [--samples 5] [--no-mlflow]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))  # the seeding helper the search tests use
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("NBLIFT_CHROMIUM", "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"no answer from {url} in {timeout:.0f} s")


def seed(root: Path, runs: int, points: int) -> tuple[Path, str, str]:
    """The store: `scale` with `runs` runs; `curves` (updated last): run-0..2, `points` train_loss each."""
    from tracking_seed import seed_runs

    from nblift import tracking
    from nblift.project import Project

    project = Project.discover(root, environ={})
    db = project.state_dir / tracking.DB_FILE
    scale = tracking.ensure_experiment(project, "scale")
    seed_runs(db, scale, runs)
    curves = tracking.ensure_experiment(project, "curves")
    ids = seed_runs(db, curves, 3, seed=1, start_ms=int(time.time() * 1000))
    conn = sqlite3.connect(db, timeout=30)
    with conn:
        for i, run_id in enumerate(ids):
            conn.executemany(
                "INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) VALUES (?,?,?,?,?,?)",
                (
                    (
                        "train_loss",
                        1.0 / (1 + step * (i + 1) / 1000) + (step % 13) * 1e-3,
                        step,
                        run_id,
                        step,
                        0,
                    )
                    for step in range(points)
                ),
            )
            conn.execute(
                "INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid) "
                "VALUES (?,?,?,?,?,?)",
                ("train_loss", 1.0, points - 1, points - 1, 0, run_id),
            )
    conn.close()
    return db, scale, curves


def drive(config: dict, logs, tmp: Path) -> dict:
    """Run the browser side (bench_ui.mjs) with `config`; its timings."""
    driver = subprocess.run(
        ["node", str(ROOT / "benchmarks" / "bench_ui.mjs"), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if driver.returncode != 0:
        logs.flush()
        servers = (tmp / "servers.log").read_text(errors="replace")[-3000:]
        sys.exit(f"the browser driver failed:\n{driver.stderr[-4000:]}\nservers:\n{servers}")
    return json.loads(driver.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--no-mlflow", action="store_true", help="skip MLflow's UI")
    args = parser.parse_args()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "NBLIFT_SNAPSHOT_MLFLOW": "false"}
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="nblift-bench-ui-") as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        env["NBLIFT_SECRET_FILE"] = str(Path(tmp) / "key" / "snapshot_secret")
        start = time.perf_counter()
        db, scale, curves = seed(root, args.runs, args.points)
        print(
            f"seeded {args.runs:,} runs and 3 x {args.points:,} points in {time.perf_counter() - start:.1f} s"
        )
        logs = (Path(tmp) / "servers.log").open("wb")  # closed after the servers
        try:
            lab_port = free_port()
            lab = subprocess.Popen(
                [
                    str(BIN / "jupyter"),
                    "lab",
                    "--no-browser",
                    "--ServerApp.ip=127.0.0.1",
                    f"--ServerApp.port={lab_port}",
                    f"--ServerApp.root_dir={root}",
                    "--IdentityProvider.token=",
                    "--ServerApp.password=",
                    "--LabApp.expose_app_in_browser=True",
                    "--ServerApp.allow_root=True",
                ],
                cwd=root,
                env=env,
                stdout=logs,
                stderr=subprocess.STDOUT,
            )
            procs.append(lab)
            lab_url = f"http://127.0.0.1:{lab_port}"
            wait_http(f"{lab_url}/api/status", lab)
            config: dict = {
                "chromium": CHROMIUM,
                "nblift": {
                    "url": lab_url,
                    "scaleId": scale,
                    "curvesId": curves,
                    "samples": args.samples,
                    "compareSamples": 3,
                    "newest": f"run-{args.runs - 1}",
                },
                "mlflow": None,
            }
            result = drive(config, logs, Path(tmp))
            # MLflow's server starts after nblift's part: its start-up writes to the store.
            if not args.no_mlflow:
                ml_port = free_port()
                ml = subprocess.Popen(
                    [
                        str(BIN / "mlflow"),
                        "ui",
                        "--backend-store-uri",
                        f"sqlite:///{db}",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(ml_port),
                    ],
                    cwd=tmp,
                    env=env,
                    stdout=logs,
                    stderr=subprocess.STDOUT,
                )
                procs.append(ml)
                try:
                    wait_http(f"http://127.0.0.1:{ml_port}/health", ml)
                    mlflow_config = {
                        "url": f"http://127.0.0.1:{ml_port}",
                        "scaleId": scale,
                        "samples": 3,
                        "newest": f"run-{args.runs - 1}",
                    }
                    result |= drive({**config, "nblift": None, "mlflow": mlflow_config}, logs, Path(tmp))
                except RuntimeError as error:
                    print(f"MLflow's UI does not run here: {error}")

        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            logs.close()
    report(result, args)


def report(result: dict, args: argparse.Namespace) -> None:
    pages = result["nblift"]["pages"]
    page_ms = median([p["painted"] - p["responseEnd"] for p in pages])
    page_server = median([p["responseEnd"] - p["start"] for p in pages])
    compares = result["nblift"]["compares"]
    draw_ms = median([c["painted"] - c["responseEnd"] for c in compares])
    click_ms = median([c["painted"] - c["clicked"] for c in compares])
    lines = compares[-1]["lines"]
    print(f"median of {len(pages)} / {len(compares)} samples, ms (Chromium, {args.runs:,} runs)")
    print(f"{'':<44}{'nblift':>10}{'MLflow UI':>12}{'ratio':>9}")
    mlflow = result.get("mlflow")
    ml_ms = median([p["painted"] - p["responseEnd"] for p in mlflow]) if mlflow else None
    ml_server = median([p["responseEnd"] - p["start"] for p in mlflow]) if mlflow else None

    def row(name: str, ours: float, theirs: float | None) -> None:
        other = f"{theirs:>12.0f}{theirs / ours:>8.1f}x" if theirs is not None else f"{'-':>12}{'-':>9}"
        print(f"{name:<44}{ours:>10.0f}{other}")

    row("first page: response -> table painted", page_ms, ml_ms)
    row("first page: request -> response", page_server, ml_server)
    row("compare 3 runs: response -> curves drawn", draw_ms, None)
    row("compare 3 runs: click -> curves drawn", click_ms, None)
    print(
        "points per series sent / drawn: "
        + ", ".join(f"{sent:,} / {drawn:,}" for sent, drawn in lines)
        + f" (of {args.points:,} stored)"
    )
    if result.get("mlflowError"):
        print(f"MLflow's UI was not measured: {result['mlflowError']}")
    print("ratio: MLflow's time / nblift's (above 1: nblift is faster)")
    print(
        f"targets: first page < 300 ms: {'met' if page_ms < 300 else 'NOT met'}; "
        f"comparison drawn < 500 ms: {'met' if draw_ms < 500 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
