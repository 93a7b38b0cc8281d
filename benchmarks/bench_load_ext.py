"""`%load_ext nblift` cost beyond IPython itself, side by side with what an eager import would cost.

Each variant runs in a fresh interpreter (cold imports, warm disk cache), several times; medians are printed
with the ratio against the bare IPython start. Target (issue 2): nblift adds under 0.3 s.

    python benchmarks/bench_load_ext.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

PRELUDE = """
import time, sys
t0 = time.perf_counter()
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
t1 = time.perf_counter()
"""

VARIANTS = {
    "IPython shell alone": "",
    "+ %load_ext nblift": "shell.run_line_magic('load_ext', 'nblift')",
    "+ %load_ext nblift; %lift status": (
        "shell.run_line_magic('load_ext', 'nblift'); shell.run_line_magic('lift', 'status')"
    ),
    "+ import mlflow (what an eager import would add)": "import mlflow",
}


def run_once(body: str) -> float:
    code = PRELUDE + body + "\nprint(time.perf_counter() - t1)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    results = {}
    for name, body in VARIANTS.items():
        samples = [run_once(body) for _ in range(args.repeat)]
        results[name] = statistics.median(samples)
    base = results["IPython shell alone"]
    print(f"{'variant':50} {'median s after shell start':>28}")
    for name, seconds in results.items():
        print(f"{name:50} {seconds:28.4f}")
    added = results["+ %load_ext nblift"] - base
    eager = results["+ import mlflow (what an eager import would add)"] - base
    print(f"\n%load_ext nblift adds {added * 1000:.1f} ms (target < 300 ms: {added / 0.3:.2f}x of budget)")
    print(
        f"an eager mlflow import would add {eager * 1000:.0f} ms: "
        f"nblift is {eager / max(added, 1e-6):.0f}x cheaper"
    )


if __name__ == "__main__":
    main()
