"""A small notebook run over SSH by nblift beside a plain `scp` + `ssh host papermill` in the same run.

An OpenSSH server is started on loopback with throwaway keys (the host is this machine, so the numbers are
nblift's own overhead, not a network's). Measured, median of `--repeat` rounds:
- launch to first cell: from the launch to the notebook's first cell executing on the host;
- total: until the run is final (nblift: the state seen locally; baseline: the ssh command returns);
- bytes sent for the bundle.
nblift is measured cold once (a fresh folder on the host: runtime, all objects and the environment built by
uv) and warm (the same work again: nothing to send, the cached environment).
Targets (issue 6): warm launch-to-first-cell under 2 s; a re-push of unchanged work under 100 KB. And the
command line (`nblift run --wait`) returns within a second of the run's end on the host, and
`nblift preflight --backend ssh:NAME` (the host's readiness in one round trip) takes under 3 s.

    python benchmarks/bench_ssh.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sshd_server import Sshd  # noqa: E402

from nblift.project import Project  # noqa: E402
from nblift.runs import service  # noqa: E402
from stamped_notebook import make_notebook as stamped_notebook  # noqa: E402

CELLS = 5


def make_notebook(path: Path) -> None:
    stamped_notebook(path, CELLS)


def configure(folder: Path, sshd: Sshd, remote: Path) -> Project:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    python = getattr(sys, "_base_executable", sys.executable)
    (folder / "pyproject.toml").write_text(
        "[tool.nblift.ssh_hosts.bench]\n"
        f'host = "127.0.0.1"\nport = {sshd.port}\nidentity_file = "{sshd.folder / "client"}"\n'
        f'known_hosts = "{sshd.folder / "known_hosts"}"\nroot = "{remote}"\npython = "{python}"\n'
        f'uv = "{uv}"\noffline = true\n'
    )
    return Project.discover(folder)


def nblift_ssh(project: Project, notebook: Path, stamp: Path) -> tuple[float, float, int]:
    stamp.unlink(missing_ok=True)
    start = time.time()
    info = service.launch(project, notebook, {"stamp_file": str(stamp)}, backend="ssh:bench")
    while service.get_run(project, info.id).state in ("PENDING", "RUNNING"):
        time.sleep(0.05)
    total = time.time() - start
    final = service.get_run(project, info.id)
    assert final.state == "SUCCEEDED", final.error
    sent = next(e for e in service.events(project, info.id)[0] if e["kind"] == "bundle.sent")
    return float(stamp.read_text()) - start, total, int(sent["bytes"])


def cli_lag(project: Project, notebook: Path, stamp: Path) -> float:
    """`nblift run --wait` from a terminal: seconds from the run's end on the host (its `run.finished`
    event) to the command returning."""
    import json

    command = [sys.executable, "-m", "nblift", "-C", str(project.root), "--json", "run", str(notebook)]
    command += ["--backend", "ssh:bench", "--wait", "-p", f"stamp_file={stamp}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    returned = time.time()
    run_id = json.loads(out.stdout)["id"]
    finished = next(e for e in service.events(project, run_id)[0] if e["kind"] == "run.finished")
    return returned - float(finished["t"])


def preflight_seconds(project: Project, notebook: Path) -> float:
    """`nblift preflight --backend ssh:bench` from a terminal: a fresh process, a new SSH connection, the
    host's facts in one round trip and every check."""
    command = [sys.executable, "-m", "nblift", "-C", str(project.root), "preflight"]
    command += ["--notebook", str(notebook), "--backend", "ssh:bench"]
    start = time.time()
    subprocess.run(command, capture_output=True, text=True, check=False)  # findings exit 1: still measured
    return time.time() - start


def baseline(sshd: Sshd, notebook: Path, remote: Path, stamp: Path) -> tuple[float, float]:
    """What a user would type: copy the notebook over, run papermill there."""
    stamp.unlink(missing_ok=True)
    opts = [
        "-i", str(sshd.folder / "client"), "-o", f"UserKnownHostsFile={sshd.folder / 'known_hosts'}",
        "-o", "BatchMode=yes",
    ]  # fmt: skip
    start = time.time()
    subprocess.run(
        ["scp", "-q", "-P", str(sshd.port), *opts, str(notebook), f"127.0.0.1:{remote}/in.ipynb"], check=True
    )
    command = f"{sys.executable} -m papermill --no-progress-bar -p stamp_file {stamp} {remote}/in.ipynb"
    subprocess.run(
        ["ssh", "-p", str(sshd.port), *opts, "127.0.0.1", f"{command} {remote}/out.ipynb"],
        check=True,
        capture_output=True,
    )
    total = time.time() - start
    return float(stamp.read_text()) - start, total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nblift-bench-ssh-") as tmp:
        folder = Path(tmp)
        for name in ("sshd", "project", "remote", "plain"):
            (folder / name).mkdir()
        sshd = Sshd(folder / "sshd")
        try:
            project = configure(folder / "project", sshd, folder / "remote")
            notebook = folder / "project" / "bench.ipynb"
            make_notebook(notebook)
            stamp = folder / "stamp"
            cold = nblift_ssh(project, notebook, stamp)
            warm, plain, lags, checks = [], [], [], []
            for _ in range(args.repeat):
                warm.append(nblift_ssh(project, notebook, stamp))
                plain.append(baseline(sshd, notebook, folder / "plain", stamp))
                lags.append(cli_lag(project, notebook, stamp))
                checks.append(preflight_seconds(project, notebook))
        finally:
            sshd.stop()

    def med(rows: list[tuple[float, ...]], i: int) -> float:
        return statistics.median(r[i] for r in rows)

    b_first, b_total = med(plain, 0), med(plain, 1)
    print(f"{CELLS}-cell notebook over SSH to this machine, median of {args.repeat}")
    print(f"{'':34}{'first cell':>12}{'total':>10}{'sent':>12}")
    print(f"{'scp + ssh papermill (baseline)':34}{b_first:>11.2f}s{b_total:>9.2f}s{'':>12}")
    print(f"{'nblift ssh, cold host':34}{cold[0]:>11.2f}s{cold[1]:>9.2f}s{cold[2]:>10,} B")
    w_first, w_total, w_sent = med(warm, 0), med(warm, 1), med(warm, 2)
    print(f"{'nblift ssh, warm (same work)':34}{w_first:>11.2f}s{w_total:>9.2f}s{w_sent:>10,.0f} B")
    print(
        f"warm vs baseline: first cell {med(warm, 0) / b_first:.2f}x, total {med(warm, 1) / b_total:.2f}x; "
        f"targets: warm first cell < 2 s ({'met' if med(warm, 0) < 2 else 'NOT met'}), "
        f"re-push < 100 KB ({'met' if med(warm, 2) < 100_000 else 'NOT met'})"
    )
    check = statistics.median(checks)
    print(
        f"`nblift preflight --backend ssh:bench` takes {check:.2f}s (median; a fresh process and connection; "
        f"target < 3 s: {'met' if check < 3 else 'NOT met'})"
    )
    lag = statistics.median(lags)
    print(
        f"`nblift run --wait` returns {lag:.2f}s after the run ended on the host (median; target < 1 s: "
        f"{'met' if lag < 1 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
