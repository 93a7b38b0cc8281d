"""`%lift env` capture beside `pip freeze`, `importlib.metadata` enumeration and `uv pip freeze`, and the
re-pin of an unchanged project, all in one run on the same environment (this interpreter's, 130+ packages).

In-process rows are what `%lift env` costs inside a warm kernel; process rows include interpreter start-up
and compare like with like against the freeze commands. Targets (issue 4): capture under 100 ms and within 3x
of `uv pip freeze`; re-pin of an unchanged project under 0.5 s.

    python benchmarks/bench_env.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from nblift.environment.capture import capture  # noqa: E402
from nblift.environment.wheels import find_uv  # noqa: E402
from nblift.project import Project  # noqa: E402


def median_of(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(cmd: list[str]) -> Callable[[], object]:
    return lambda: subprocess.run(cmd, capture_output=True, check=True)


def importlib_enumeration() -> list[tuple[str, str]]:
    return [(d.metadata["Name"], d.version) for d in metadata.distributions()]


def pip_command() -> list[str] | None:
    """pip freeze of this environment's site-packages (pip itself may live in the base interpreter)."""
    site = sysconfig.get_paths()["purelib"]
    for python in (sys.executable, getattr(sys, "_base_executable", ""), shutil.which("python3") or ""):
        if python and subprocess.run([python, "-m", "pip", "--version"], capture_output=True).returncode == 0:
            return [python, "-m", "pip", "freeze", "--path", site]
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    uv = find_uv()
    count = len(capture(gpu=False).distributions)
    rows: dict[str, float] = {}
    rows["nblift capture, in process (warm kernel)"] = median_of(lambda: capture(gpu=False), args.repeat)
    rows["importlib.metadata enumeration, in process"] = median_of(importlib_enumeration, args.repeat)
    child = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from nblift.environment.capture import capture\ncapture()"
    )
    rows["nblift capture, own process"] = median_of(
        run([sys.executable, "-c", child, str(ROOT / "python")]), args.repeat
    )
    rows["uv pip freeze"] = median_of(run([uv, "pip", "freeze", "--python", sys.executable]), args.repeat)
    pip = pip_command()
    if pip:
        rows["pip freeze"] = median_of(run(pip), max(3, args.repeat // 2))

    print(f"environment: {sys.prefix} ({count} distributions)\n")
    uv_freeze = rows["uv pip freeze"]
    print(f"{'what':45} {'median ms':>10} {'x uv pip freeze':>16}")
    for name, seconds in rows.items():
        print(f"{name:45} {seconds * 1000:10.1f} {seconds / uv_freeze:16.2f}")
    in_process = rows["nblift capture, in process (warm kernel)"]
    print(
        f"\ncapture in a kernel: {in_process * 1000:.1f} ms (target < 100 ms), "
        f"{in_process / uv_freeze:.2f}x uv pip freeze (target < 3x)"
    )
    print(
        f"importlib.metadata is {rows['importlib.metadata enumeration, in process'] / in_process:.1f}x slower"
    )
    if pip:
        print(f"pip freeze is {rows['pip freeze'] / in_process:.0f}x slower")

    from nblift.environment.lock import pin

    with tempfile.TemporaryDirectory() as tmp:
        project = Project.discover(tmp)
        start = time.perf_counter()
        first = pin(project)
        first_s = time.perf_counter() - start
        repin = median_of(lambda: pin(project), args.repeat)
        state = Path(tmp, ".nblift", "lock", "state.json")

        def resolve_again() -> None:
            state.unlink()
            pin(project)

        offline = median_of(resolve_again, 3)
    print(
        f"\npin of this environment ({first.packages} packages for {first.target.platform}): "
        f"first {first_s:.2f} s ({'offline' if first.offline else 'online'})"
    )
    print(f"re-pin, unchanged: {repin * 1000:.1f} ms (target < 500 ms; includes the capture)")
    print(f"re-resolve with uv --offline (cache forgotten): {offline * 1000:.0f} ms")


if __name__ == "__main__":
    main()
