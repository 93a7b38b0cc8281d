"""Autosnapshot on real notebooks: each notebook run cell by cell in a real kernel, plain and with
`%lift autosnapshot on`, in one run.

The notebooks are benchmarks/notebooks/*.ipynb (pandas wrangling, scikit-learn fits, figures, a notebook
class; 10^5-10^6-row frames). Each repetition runs every notebook twice, back to back, in a fresh kernel
(`python -m ipykernel_launcher`, nblift from this working tree) with a fresh project folder: plain (a hidden
first cell `%load_ext nblift`) and with autosnapshot (hidden first cell `%load_ext nblift` and
`%lift autosnapshot on`); the order alternates between repetitions. A cell's time runs from its
execute_request to the kernel's idle status; the kernel's peak memory is its VmHWM after the last cell (its
forked snapshot processes are not counted). A final `%lift snapshot --wait`, outside the timings, lets the
background snapshots land before they are counted. Prints per notebook and overall: totals and their ratio,
the median per-cell ratio, peak memory of both and the difference, and the snapshots written.
Targets: autosnapshot total <= 1.15x plain; peak memory <= +30 MB.

Autosnapshot waits for the kernel to go idle (`autosnapshot_delay_ms`, 1 s): cells sent back to back, as Run
All sends them, take no snapshot until the end (the bench then waits for that one). `--pause S` waits S
seconds between cells, as a person running cells one by one does; with S above the delay every cell is
followed by a background snapshot, whose cost shows in the next cells' times (the pauses are not timed).

These machines set PYTHONDONTWRITEBYTECODE=1, so every kernel would compile what it imports; the venv is
compiled once before timing (`--no-compile` skips it). nblift's own modules are still compiled in each
kernel (tens of ms, more of them with autosnapshot on).

    python benchmarks/bench_autosnapshot.py [--repeat 3] [--notebooks a,b] [--mlflow true|false] [--scale 1]
                                            [--pause 0]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "benchmarks" / "notebooks"
SETUP = {
    "plain": "%load_ext nblift",
    "autosnapshot": "%load_ext nblift\n%lift autosnapshot on",
}
#: Run once before timing, so the first measured kernel finds the libraries in the disk cache.
WARM = (
    "import numpy, pandas, sklearn.ensemble, matplotlib.pyplot\n%load_ext nblift\nimport nblift.snapshot.core"
)
CELL_TIMEOUT_S = 900.0
#: After the last cell: longer than autosnapshot_delay_ms, so the idle snapshot is taken.
IDLE_WAIT_S = 2.0


def code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]


def compile_venv() -> None:
    """Write the .pyc files PYTHONDONTWRITEBYTECODE keeps kernels from writing (later runs skip them)."""
    paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "compileall", "-qq", "-j", "0", *paths], check=False)
    print(f"compiled the venv's site-packages in {time.perf_counter() - start:.1f} s")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


class RssSampler(threading.Thread):
    """Highest RSS of one process, sampled every 20 ms (a check on VmHWM, and its fallback)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except Exception:  # noqa: BLE001 - the kernel went away
                return


class Kernel:
    """A kernel started the way Jupyter starts one, in `project`, with `env`."""

    def __init__(self, project: Path, env: dict[str, str], spec_dir: Path) -> None:
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        ksm = KernelSpecManager(kernel_dirs=[str(spec_dir)], ensure_native_kernel=False)
        self.km = KernelManager(kernel_name="nblift-bench", kernel_spec_manager=ksm)
        self.km.start_kernel(env=env, cwd=str(project))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)
        self.pid = self.km.provisioner.pid

    def run(self, code: str, silent: bool = False) -> tuple[float, list[str]]:
        """Seconds from execute_request to idle, and the errors (and nblift complaints) the cell printed."""
        start = time.perf_counter()
        msg_id = self.kc.execute(code, silent=silent, store_history=not silent)
        problems = []
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=CELL_TIMEOUT_S)
            except queue.Empty:
                raise TimeoutError(f"cell did not finish in {CELL_TIMEOUT_S} s:\n{code}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content["execution_state"] == "idle":
                break
            if kind == "error":
                problems.append(f"{content['ename']}: {content['evalue']}")
            elif kind == "stream" and "nblift: snapshot failed" in content["text"]:
                problems.append(content["text"].strip())
        elapsed = time.perf_counter() - start
        while True:  # take the reply off the shell channel so it does not pile up
            reply = self.kc.get_shell_msg(timeout=CELL_TIMEOUT_S)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        return elapsed, problems

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def kernel_env(args: argparse.Namespace, work: Path, notebook: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "python"), env.get("PYTHONPATH")]))
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    env["NBLIFT_SECRET_FILE"] = str(work / "key" / "secret")
    env["NBLIFT_BENCH_SCALE"] = str(args.scale)
    env["JPY_SESSION_NAME"] = str(notebook)  # as Jupyter sets it: the snapshot stores the notebook too
    env.pop("NBLIFT_SNAPSHOT_MLFLOW", None)
    if args.mlflow is not None:
        env["NBLIFT_SNAPSHOT_MLFLOW"] = args.mlflow
    return env


def count_snapshots(state_dir: Path) -> tuple[int, int]:
    """(automatic, all) snapshot manifests in a project's state folder."""
    from nblift.snapshot.manifest import iter_manifests

    manifests = list(iter_manifests(state_dir))
    return sum(1 for m in manifests if m.get("auto")), len(manifests)


def run_notebook(path: Path, mode: str, args: argparse.Namespace, work: Path, spec_dir: Path) -> dict:
    project = Path(tempfile.mkdtemp(prefix=f"{path.stem}-{mode}-", dir=work))
    notebook = project / path.name
    shutil.copyfile(path, notebook)
    kernel = Kernel(project, kernel_env(args, work, notebook), spec_dir)
    try:
        _, problems = kernel.run(SETUP[mode], silent=True)
        sampler = RssSampler(kernel.pid)
        sampler.start()
        times = []
        for number, source in enumerate(code_cells(path), 1):
            if args.pause and number > 1:
                time.sleep(args.pause)
            elapsed, cell_problems = kernel.run(source)
            times.append(elapsed)
            problems += [f"{mode}, code cell {number}: {problem}" for problem in cell_problems]
        peak = peak_rss_mb(kernel.pid)
        sampler.done.set()
        sampler.join()
        if mode == "autosnapshot":  # the snapshot taken once the kernel is idle, then let it land
            time.sleep(max(args.pause, IDLE_WAIT_S))
            _, end_problems = kernel.run("%lift snapshot --wait", silent=True)
            problems += [f"{mode}, final wait: {problem}" for problem in end_problems]
        auto, total = count_snapshots(project / ".nblift")
    finally:
        kernel.close()
    shutil.rmtree(project, ignore_errors=True)
    return {
        "times": times,
        "total": sum(times),
        "peak_mb": peak,
        "sampled_mb": sampler.peak / 2**20,
        "auto_snapshots": auto,
        "snapshots": total,
        "problems": problems,
    }


def summarize(runs: dict[str, list[dict]]) -> dict:
    """Medians over repetitions for one notebook."""
    plain, auto = runs["plain"], runs["autosnapshot"]
    n_cells = len(plain[0]["times"])
    cell_plain = [statistics.median(r["times"][i] for r in plain) for i in range(n_cells)]
    cell_auto = [statistics.median(r["times"][i] for r in auto) for i in range(n_cells)]
    return {
        "cells": n_cells,
        "plain": statistics.median(r["total"] for r in plain),
        "auto": statistics.median(r["total"] for r in auto),
        "cell_ratios": [a / max(p, 1e-9) for p, a in zip(cell_plain, cell_auto, strict=True)],
        "cell_added": [a - p for p, a in zip(cell_plain, cell_auto, strict=True)],
        "peak_plain": statistics.median(r["peak_mb"] for r in plain),
        "peak_auto": statistics.median(r["peak_mb"] for r in auto),
        "sampled_plain": statistics.median(r["sampled_mb"] for r in plain),
        "sampled_auto": statistics.median(r["sampled_mb"] for r in auto),
        "snapshots": statistics.median(r["auto_snapshots"] for r in auto),
        "problems": sorted({p for r in plain + auto for p in r["problems"]}),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    available = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--notebooks", default=",".join(available), help=f"comma-separated, from: {', '.join(available)}"
    )
    parser.add_argument(
        "--mlflow",
        choices=["true", "false"],
        default=None,
        help="set NBLIFT_SNAPSHOT_MLFLOW in the kernel (default: nblift's own default)",
    )
    parser.add_argument("--scale", type=float, default=1.0, help="data size factor the notebooks read")
    parser.add_argument("--no-compile", action="store_true", help="do not compile the venv first")
    parser.add_argument(
        "--pause", type=float, default=0.0, help="seconds between cells (0: back to back, as Run All)"
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.notebooks.split(",") if n.strip()]
    unknown = [n for n in names if n not in available]
    if unknown:
        parser.error(f"unknown notebooks {unknown}; available: {', '.join(available)}")

    if os.environ.get("PYTHONDONTWRITEBYTECODE") and not args.no_compile:
        compile_venv()
    work = Path(tempfile.mkdtemp(prefix="nblift-bench-auto-"))
    spec_dir = work / "kernels" / "nblift-bench"
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "nblift bench", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    spec_dir = spec_dir.parent

    warm = Kernel(work, kernel_env(args, work, work / "warm.ipynb"), spec_dir)  # fill the disk cache
    warm.run(WARM)
    warm.close()

    results: dict[str, dict[str, list[dict]]] = {n: {"plain": [], "autosnapshot": []} for n in names}
    for rep in range(args.repeat):
        for name in names:
            modes = ["plain", "autosnapshot"] if rep % 2 == 0 else ["autosnapshot", "plain"]
            for mode in modes:
                run = run_notebook(NOTEBOOKS / f"{name}.ipynb", mode, args, work, spec_dir)
                results[name][mode].append(run)
                print(
                    f"  [{rep + 1}/{args.repeat}] {name:18} {mode:12} {run['total']:7.2f} s  "
                    f"peak {run['peak_mb']:6.0f} MB  snapshots {run['auto_snapshots']}",
                    flush=True,
                )
    shutil.rmtree(work, ignore_errors=True)

    mlflow = {"true": "on", "false": "off", None: "nblift's default"}[args.mlflow]
    print(
        f"\nnotebooks run cell by cell in a real kernel; medians of {args.repeat}; scale {args.scale}; "
        f"snapshot MLflow mirror: {mlflow}; pause between cells {args.pause} s"
    )
    header = (
        f"{'notebook':18} {'cells':>5} {'plain s':>8} {'auto s':>8} {'ratio':>6} {'cell ratio':>10} "
        f"{'max +ms':>8} {'@cell':>5} {'peak MB':>8} {'auto MB':>8} {'+MB':>6} {'snaps':>5}"
    )
    print(header)
    summaries = {name: summarize(results[name]) for name in names}
    for name, s in summaries.items():
        print(
            f"{name:18} {s['cells']:5d} {s['plain']:8.2f} {s['auto']:8.2f} {s['auto'] / s['plain']:5.3f}x "
            f"{statistics.median(s['cell_ratios']):9.3f}x {max(s['cell_added']) * 1000:8.0f} "
            f"{s['cell_added'].index(max(s['cell_added'])) + 1:5d} "
            f"{s['peak_plain']:8.0f} {s['peak_auto']:8.0f} {s['peak_auto'] - s['peak_plain']:+6.0f} "
            f"{s['snapshots']:5.0f}"
        )
    plain = sum(s["plain"] for s in summaries.values())
    auto = sum(s["auto"] for s in summaries.values())
    ratios = [r for s in summaries.values() for r in s["cell_ratios"]]
    added = [a for s in summaries.values() for a in s["cell_added"]]
    extra_mb = max(s["peak_auto"] - s["peak_plain"] for s in summaries.values())
    print(
        f"{'overall':18} {len(ratios):5d} {plain:8.2f} {auto:8.2f} {auto / plain:5.3f}x "
        f"{statistics.median(ratios):9.3f}x {max(added) * 1000:8.0f} {'':5} {'':8} {'':8} {extra_mb:+6.0f} "
        f"{sum(s['snapshots'] for s in summaries.values()):5.0f}"
    )
    print(
        "(ratio: autosnapshot total / plain total; cell ratio: median over cells of the per-cell ratio; "
        "max +ms @cell: the code cell that gained most; peak: kernel VmHWM; "
        "+MB overall: the largest difference; snaps: automatic snapshots written)"
    )
    sampled = max(s["sampled_auto"] - s["sampled_plain"] for s in summaries.values())
    print(f"peak RSS sampled every 20 ms instead of VmHWM: largest difference {sampled:+.0f} MB")
    for name, s in summaries.items():
        for problem in s["problems"]:
            print(f"warning: {name}: {problem}")
        if s["problems"]:
            print(f"warning: {name}: cells failed, so its plain and autosnapshot figures are not comparable")
    verdict = {
        "autosnapshot total <= 1.15x plain": auto <= 1.15 * plain,
        "peak kernel memory <= +30 MB": extra_mb <= 30,
    }
    for target, met in verdict.items():
        print(f"target: {target}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
