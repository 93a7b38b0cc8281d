"""Snapshot and restore: nblift beside dill.dump_module/load_module, in one run, on the same namespace.

Namespace: a 200 MB float64 array, a 1M-row DataFrame (int, float, categorical, string columns), a few
small objects; then five cells that each change one small variable. Prints times, bytes and ratios.
Targets (issue 3): first snapshot >= 5x faster than dill; a snapshot after a small change < 50 ms and
< 64 KB new; restore into a fresh process no slower than dill (faster with lazy arrays); autosnapshot adds
< 5% (or < 20 ms) to a cell that changes nothing large.

Compute-heavy cells (printed last; `--only compute` runs this case alone): a notebook-defined function that
reads two globals in a tight loop (10 million global lookups) and a numpy cell (two matmuls and reductions
on a 2000x2000 array), each in a fresh IPython shell per variant: without nblift, with `%load_ext nblift`,
with `%lift autosnapshot on` as in Jupyter (the cells run on an event loop, the kernel idles between them and
the automatic snapshot is taken then, after `autosnapshot_delay_ms`), and with the snapshot taken at the end
of each cell, inside its time (a terminal IPython without an event loop, or a kernel whose last automatic
snapshot is older than `autosnapshot_max_interval`). Each background snapshot lands between runs, outside
the timing. The same cell differs by 10-15% between two processes on a shared machine (memory layout), so
each target is judged on a paired figure: in one process, the two states alternate run by run (nblift's
extension loaded and unloaded; autosnapshot on and off), and the ratio is taken per pair. Target: under 5%
slower with nblift loaded, and with autosnapshot on as in Jupyter; the in-cell variant is printed for what
it costs.

    python benchmarks/bench_snapshot.py [--rows 1000000] [--mb 200] [--only compute] [--lookups 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SETUP = """
import numpy as np, pandas as pd
rng = np.random.default_rng(0)
big = rng.random({n_floats})
df = pd.DataFrame({{
    "i": np.arange({rows}),
    "f": rng.random({rows}),
    "c": pd.Categorical(rng.choice(["red", "green", "blue"], {rows})),
    "s": [f"user-{{k % 50000}}" for k in range({rows})],
}})
config = {{"lr": 0.001, "epochs": 10, "layers": [512, 256, 10]}}
labels = ["cat", "dog", "bird"]
step = 0
"""

SMALL_CELLS = [
    "step = step + 1",
    "config['lr'] = config['lr'] / 2",
    "labels.append('fish')",
    "note = 'tuned learning rate'",
    "step = step + 1",
]


def shell_with_state(setup: str, project: Path):
    from IPython.core.interactiveshell import InteractiveShell

    os.chdir(project)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nblift")
    shell.run_cell(setup, store_history=True)
    return shell


def user_module(shell) -> types.ModuleType:
    from nblift.snapshot.core import user_variables

    mod = types.ModuleType("__main__")
    mod.__dict__.update(user_variables(shell.user_ns, shell.user_ns_hidden))
    return mod


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


RESTORE_NBLIFT = """
import os, sys, time
os.chdir({project!r})
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "nblift")
from nblift.snapshot.verbs import snapshotter
import numpy, pandas  # the notebook's own imports: done before the restore with either tool
t0 = time.perf_counter()
snapshotter(shell).restore({sid!r}, lazy={lazy})
ns = shell.user_ns
x = float(ns["big"][:10].sum()) + len(ns["df"])  # touch the data the way a first cell would
print(time.perf_counter() - t0)
"""

RESTORE_DILL = """
import time, dill
import numpy, pandas  # the notebook's own imports: done before the restore with either tool
t0 = time.perf_counter()
mod = dill.load_module({path!r})
x = float(mod.big[:10].sum()) + len(mod.df)
print(time.perf_counter() - t0)
"""


def row(label: str, ours: float, theirs: float) -> None:
    print(f"{label:46} {ours:10.3f} {theirs:10.3f} {theirs / max(ours, 1e-9):11.1f}x")


def in_fresh_process(code: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return float(out.stdout.strip().splitlines()[-1])


COMPUTE_SETUP = """
import numpy as np
a, b = 1, 2
N = {n}
def loop():
    s = 0
    for i in range(N):
        s += a + b
    return s
X = np.random.default_rng(0).random(({m}, {m}))
"""

COMPUTE_CELLS = {
    "{lookups:,} global lookups (function in a cell)": "total = loop()",
    "numpy: 2 matmuls + reductions, {m}x{m}": (
        "G = X @ X.T\nH = G @ X\n"
        "stats = (float(H.sum()), float(np.linalg.norm(G, axis=0).max()), float(X.mean(axis=1).std()))"
    ),
}

# One variant in a fresh interpreter: the shell, nblift as the variant says, the setup cell, then each
# compute cell once untimed and `runs` times timed; prints the times and any snapshot failures as JSON.
COMPUTE_CHILD = """
import asyncio, json, os, sys, time
params = json.loads(sys.argv[1])
os.chdir(params["project"])
if params["variant"] in ("autosnapshot", "paired-auto"):
    os.environ["NBLIFT_AUTOSNAPSHOT_DELAY_MS"] = "200"
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
loop = asyncio.new_event_loop()  # as a Jupyter kernel: cells run on an event loop that idles between them
if params["variant"] != "plain":
    shell.run_line_magic("load_ext", "nblift")
if params["variant"] in ("autosnapshot", "autosnapshot-in-cell", "paired-auto"):
    shell.run_line_magic("lift", "autosnapshot on")
auto = params["variant"] in ("autosnapshot", "autosnapshot-in-cell", "paired-auto")

def run(cell):
    if params["variant"] in ("autosnapshot", "paired-auto", "paired-loaded"):
        coro = shell.run_cell_async(cell, store_history=True, transformed_cell=shell.transform_cell(cell))
        return loop.run_until_complete(coro)
    return shell.run_cell(cell, store_history=True)

run(params["setup"]).raise_error()
failures = []

def settle():
    if params["variant"] in ("autosnapshot", "paired-auto"):  # idle: the automatic snapshot is taken now
        loop.run_until_complete(asyncio.sleep(0.4))
    if auto:
        try:  # let the background snapshot land, outside the timing
            shell._nblift_snapshotter.collect(wait=True)
        except Exception as exc:  # a failed snapshot is reported with the figures, not fatal
            failures.append(f"{type(exc).__name__}: {exc}")

def timed(cell):
    t0 = time.perf_counter()
    result = run(cell)
    elapsed = time.perf_counter() - t0
    result.raise_error()
    settle()
    return elapsed

def switch(on):
    global auto
    if params["variant"] == "paired-loaded":  # the extension's hooks and magics in, or out
        shell.run_line_magic("load_ext" if on else "unload_ext", "nblift")
        return
    shell.run_line_magic("lift", "autosnapshot " + ("on" if on else "off"))
    auto = on

times = {}
for label, cell in params["cells"].items():
    run(cell).raise_error()
    settle()
    if params["variant"].startswith("paired"):  # (off, on) pairs in one process, the order alternating
        times[label] = []
        for i in range(params["runs"]):
            pair = {}
            for on in ((False, True) if i % 2 == 0 else (True, False)):
                switch(on)
                pair[on] = timed(cell)
            times[label].append(pair[True] / pair[False])
    else:
        times[label] = [timed(cell) for _ in range(params["runs"])]
print(json.dumps({"times": times, "failures": failures}))
"""

COMPUTE_VARIANTS = {
    "plain": "no nblift",
    "loaded": "%load_ext nblift",
    "autosnapshot": "autosnapshot on, as in Jupyter",
    "autosnapshot-in-cell": "autosnapshot at the end of each cell",
}
TARGETED = ("loaded", "autosnapshot")
#: One process with nblift loaded, autosnapshot switched off and on between runs: the ratio on/off per pair.
PAIRED = {"loaded": "paired-loaded", "autosnapshot": "paired-auto"}
PAIRED_WHAT = {
    "paired-loaded": "%load_ext nblift / %unload_ext nblift (its hooks in or out)",
    "paired-auto": "autosnapshot on / off with nblift loaded, as in Jupyter",
}


def compute_case(args: argparse.Namespace, work: Path) -> None:
    """Compute-heavy cells with and without nblift, each variant in its own fresh process, interleaved."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python")}
    n, m = args.lookups // 2, args.matrix  # two global lookups (a and b) per iteration
    cells = {
        label.format(lookups=args.lookups, m=m): cell.format(m=m) for label, cell in COMPUTE_CELLS.items()
    }
    samples: dict[str, dict[str, list[float]]] = {
        v: {c: [] for c in cells} for v in (*COMPUTE_VARIANTS, *PAIRED_WHAT)
    }
    failures: set[str] = set()
    for rep in range(args.repeat):
        for variant in (*COMPUTE_VARIANTS, *PAIRED_WHAT):
            project = work / f"compute-{variant}-{rep}"
            project.mkdir(parents=True)
            params = {
                "project": str(project),
                "variant": variant,
                "setup": COMPUTE_SETUP.format(n=n, m=m),
                "cells": cells,
                "runs": args.compute_runs,
            }
            out = subprocess.run(
                [sys.executable, "-c", COMPUTE_CHILD, json.dumps(params)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if out.returncode != 0:
                sys.exit(f"compute case, variant {variant}, failed:\n{out.stderr}")
            result = json.loads(out.stdout.strip().splitlines()[-1])
            for label, times in result["times"].items():
                samples[variant][label].append(statistics.median(times))
            failures.update(result["failures"])
            shutil.rmtree(project, ignore_errors=True)
    med = {v: {c: statistics.median(t) for c, t in by_cell.items()} for v, by_cell in samples.items()}
    print(
        f"compute-heavy cells: each variant in a fresh IPython shell; median of {args.repeat} processes "
        f"x {args.compute_runs} runs (the same cell differs by up to 10-15% between two processes of one "
        "variant on a shared machine: the paired figures below are the precise ones)"
    )
    print(
        f"{'cell':46} {'plain ms':>9} {'nblift ms':>9} {'auto ms':>9} {'in-cell ms':>10} "
        f"{'nblift/plain':>12} {'auto/plain':>10} {'in-cell/plain':>13}"
    )
    worst = dict.fromkeys(COMPUTE_VARIANTS, 0.0)
    for label in cells:
        p, ld, au, ic = (med[v][label] for v in COMPUTE_VARIANTS)
        for variant, value in zip(COMPUTE_VARIANTS, (p, ld, au, ic), strict=True):
            worst[variant] = max(worst[variant], value / p)
        print(
            f"{label:46} {p * 1000:9.1f} {ld * 1000:9.1f} {au * 1000:9.1f} {ic * 1000:10.1f} "
            f"{ld / p:11.3f}x {au / p:9.3f}x {ic / p:12.3f}x"
        )
    print(
        "paired in one process (the two states alternate, each run timed between two idle periods): median "
        "of the per-process medians of the ratio"
    )
    for paired, what in PAIRED_WHAT.items():
        for label in cells:
            ratios = samples[paired][label]
            print(
                f"{what[:60]:60} {label[:30]:30} {med[paired][label]:7.3f}x "
                f"(processes: {min(ratios):.3f}x to {max(ratios):.3f}x)"
            )
    for variant, paired in PAIRED.items():  # the mechanism's cost, measured without layout noise
        worst[variant] = max(med[paired].values())
    for failure in sorted(failures):
        print(f"warning: a snapshot failed in the compute case: {failure}")
    for variant in TARGETED:
        met = "met" if worst[variant] < 1.05 else "NOT met"
        print(f"target: compute-heavy cells < 5% slower ({COMPUTE_VARIANTS[variant]}, paired): {met}")
    print(f"no target: {COMPUTE_VARIANTS['autosnapshot-in-cell']}: {worst['autosnapshot-in-cell']:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=["compute"], default=None, help="run only this case")
    parser.add_argument("--lookups", type=int, default=10_000_000, help="global lookups in the compute case")
    parser.add_argument("--matrix", type=int, default=2000, help="side of the compute case's array")
    parser.add_argument("--compute-runs", type=int, default=5, help="timed runs of each compute cell")
    args = parser.parse_args()
    # The MLflow mirror runs in a background thread; leave it out so timings measure the snapshot alone.
    os.environ["NBLIFT_SNAPSHOT_MLFLOW"] = "false"
    work = Path(tempfile.mkdtemp(prefix="nblift-bench-"))
    os.environ["NBLIFT_SECRET_FILE"] = str(work / "key" / "secret")
    if args.only is None:
        snapshot_cases(args, work)
        print()
    compute_case(args, work)
    os.chdir(ROOT)  # leave the scratch folder before removing it
    shutil.rmtree(work, ignore_errors=True)


def snapshot_cases(args: argparse.Namespace, work: Path) -> None:
    project = work / "project"
    project.mkdir()
    import dill

    from nblift.snapshot.verbs import snapshotter

    shell = shell_with_state(SETUP.format(n_floats=args.mb * 1024 * 1024 // 8, rows=args.rows), project)
    snap = snapshotter(shell)

    # `%lift snapshot` as users run it: the kernel forks and goes on; the child writes (background).
    t_first, _saving = timed(lambda: snap.snapshot("first", background=True))
    t_durable, first = timed(lambda: snap.collect(wait=True))
    t_durable += t_first
    dill_path = work / "session.pkl"
    t_dill, _ = timed(lambda: dill.dump_module(str(dill_path), module=user_module(shell), refimported=True))
    dill_size = dill_path.stat().st_size
    os.sync()  # dill's file is not fsynced: flush it before nblift's timings

    small_times, small_written, small_fg, small_bytes, dill_small = [], [], [], [], []
    for cell in SMALL_CELLS:
        shell.run_cell(cell, store_history=True)
        # as users run it: the kernel is busy for the checks and the fork; the child re-examines every
        # variable (hashing the array and frame buffers) and writes
        t, _saving = timed(lambda: snap.snapshot("", background=True))
        t_w, result = timed(lambda: snap.collect(wait=True))
        small_times.append(t)
        small_written.append(t + t_w)
        small_bytes.append(result.new_bytes)
        shell.run_cell(cell, store_history=True)
        t_fg, _ = timed(lambda: snap.snapshot(""))  # foreground: the whole cost before it returns
        small_fg.append(t_fg)
    # dill in its own loop: its 240 MB of unsynced writes would be flushed by nblift's next fsync and
    # charged to nblift
    for cell in SMALL_CELLS:
        shell.run_cell(cell, store_history=True)
        t_d, _ = timed(lambda: dill.dump_module(str(dill_path), module=user_module(shell), refimported=True))
        dill_small.append(t_d)
    os.sync()

    # autosnapshot overhead on a cell that changes nothing large
    cell = "step = step + 1"
    plain = [timed(lambda: shell.run_cell(cell, store_history=True))[0] for _ in range(args.repeat * 3)]
    snap.autosnapshot = True
    auto = []
    for _ in range(args.repeat * 3):
        auto.append(timed(lambda: shell.run_cell(cell, store_history=True))[0])
        snap.collect(wait=True)  # let each one finish, so every cell really takes a snapshot
    snap.autosnapshot = False

    sid = first.id
    r_lazy = statistics.median(
        in_fresh_process(RESTORE_NBLIFT.format(project=str(project), sid=sid, lazy=True))
        for _ in range(args.repeat)
    )
    r_eager = statistics.median(
        in_fresh_process(RESTORE_NBLIFT.format(project=str(project), sid=sid, lazy=False))
        for _ in range(args.repeat)
    )
    dill.dump_module(str(dill_path), module=user_module(shell), refimported=True)
    r_dill = statistics.median(
        in_fresh_process(RESTORE_DILL.format(path=str(dill_path))) for _ in range(args.repeat)
    )

    med_small = statistics.median(small_times)
    med_dill_small = statistics.median(dill_small)
    p, a = statistics.median(plain), statistics.median(auto)
    print(
        f"namespace: {args.mb} MB float64 array, {args.rows:,}-row DataFrame (int, float, categorical, str)"
    )
    print(f"{'measure':46} {'nblift':>10} {'dill':>10} {'dill/nblift':>12}")
    row("first snapshot: kernel busy (s)", t_first, t_dill)
    row("first snapshot: written and durable (s)", t_durable, t_dill)
    row("bytes written by first snapshot (MB)", first.new_bytes / 1e6, dill_size / 1e6)
    row("snapshot after a small change: kernel busy (ms, median)", med_small * 1000, med_dill_small * 1000)
    row(
        "snapshot after a small change: written (ms, median)",
        statistics.median(small_written) * 1000,
        med_dill_small * 1000,
    )
    row(
        "snapshot after a small change: --wait (ms, median)",
        statistics.median(small_fg) * 1000,
        med_dill_small * 1000,
    )
    row("new bytes after a small change (KB, max)", max(small_bytes) / 1024, dill_size / 1024)
    row("restore in a fresh process, lazy (s)", r_lazy, r_dill)
    row("restore in a fresh process, eager (s)", r_eager, r_dill)
    print(f"cell `step = step + 1`: {p * 1000:.2f} ms plain, {a * 1000:.2f} ms with autosnapshot on")
    verdict = {
        "first snapshot >= 5x faster than dill (kernel busy)": t_dill / t_first >= 5,
        "snapshot after a small change < 50 ms (kernel busy)": med_small < 0.05,
        "new bytes after a small change < 64 KB": max(small_bytes) < 65536,
        "lazy restore no slower than dill": r_lazy <= r_dill,
        "autosnapshot adds < 20 ms or < 5%": (a - p) < 0.02 or a < 1.05 * p,
    }
    for target, met in verdict.items():
        print(f"target: {target}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
