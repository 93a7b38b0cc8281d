"""Moving a live session to an SSH host and back with nblift, beside the manual route, in one run.

The session of the snapshot benchmark (a 200 MB array, a 1M-row DataFrame, small variables) in a real
notebook kernel of a real `jupyter server`; the host is an OpenSSH server on loopback with its own root folder
(so the numbers are nblift's own work, not a network's). Measured:
- nblift: `%lift move ssh:bench` typed in the kernel, until a cell runs in the kernel on the host with the
  variables there ("time to the first remote cell"); `%lift move back` until a cell at home sees them; then a
  small change at home and the move again: its time and the bytes it sent.
- manual: `dill.dump_session()` in the kernel, `scp` of the file, a kernel started on the host with its
  ports forwarded through `ssh -L`, `dill.load_session()` in it and the cell (the issue's manual route).
Targets (issue 14): the first remote cell in at most half the manual route's time; moving again after a small
change sends under 1 MB and takes under 3 s.

    python benchmarks/bench_move.py [--mb 200] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import nbformat  # noqa: E402
from jupyter_server_proc import api, new_session, run_in_kernel, start_server, stop_server  # noqa: E402
from sshd_server import Sshd  # noqa: E402

from bench_snapshot import SETUP  # noqa: E402
from bench_ssh import configure as configure_host  # noqa: E402


def configure(root: Path, sshd: Sshd, remote: Path) -> None:
    """The host as `ssh:bench` (bench_ssh's settings) and a lock for the project."""
    configure_host(root, sshd, remote)
    (root / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.11"\n')


def session_kernel(port: int, session: str) -> str:
    return str(api(port, f"sessions/{session}")["kernel"]["id"])


def switched(port: int, session: str, old: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while (kernel := session_kernel(port, session)) == old:
        if time.monotonic() > deadline:
            raise SystemExit("the session did not switch")
        time.sleep(0.05)
    return kernel


def first_cell(runtime: Path, kernel: str) -> str:
    """Run a cell that uses the moved state, retrying while the kernel's channels come up."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return run_in_kernel(runtime, kernel, "print(len(df), big.shape[0], step)")
        except (AssertionError, RuntimeError, OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def manual(runtime: Path, kernel: str, sshd: Sshd, remote: Path, work: Path) -> dict[str, float]:
    """The route a user has today: `dill.dump_session()` in the kernel, `scp` of the file, a kernel started on
    the host with its ports forwarded through `ssh -L` (as one reaches a remote kernel by hand), then
    `dill.load_session()` and the cell in it. Its phases' times (`dump`, `copy`, `kernel`, `load`) and
    `total`."""
    from jupyter_client import BlockingKernelClient
    from jupyter_client.connect import write_connection_file

    dump = work / "session.pkl"
    ssh = ["-i", str(sshd.folder / "client"), "-o", f"UserKnownHostsFile={sshd.folder / 'known_hosts'}"]
    host = "127.0.0.1"
    start = time.perf_counter()
    run_in_kernel(runtime, kernel, f"import dill\ndill.dump_session({str(dump)!r})", timeout=1200)
    times = {"dump": time.perf_counter() - start}
    target = remote / dump.name
    # the kernel's connection file (ports free on the host) copied there; the user's ports forwarded to it
    there, info = write_connection_file(str(work / "manual-kernel.json"), ip="127.0.0.1")
    _, mine = write_connection_file(str(work / "manual-local.json"), ip="127.0.0.1")
    remote_file = remote / Path(there).name
    mark = time.perf_counter()
    subprocess.run(
        ["scp", "-q", "-P", str(sshd.port), *ssh, str(dump), there, f"{host}:{remote}/"], check=True
    )
    times["copy"] = time.perf_counter() - mark
    mark = time.perf_counter()
    subprocess.run(
        [
            "ssh", "-p", str(sshd.port), *ssh, host,
            f"cd {remote} || exit 1; setsid nohup {sys.executable} -m ipykernel_launcher -f {remote_file} "
            "> manual-kernel.log 2>&1 < /dev/null &",
        ],
        check=True,
    )  # fmt: skip
    ports = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
    forwards = [arg for p in ports for arg in ("-L", f"{mine[p]}:127.0.0.1:{info[p]}")]
    tunnel = subprocess.Popen(
        ["ssh", "-N", "-p", str(sshd.port), *ssh, "-o", "ExitOnForwardFailure=yes", *forwards, host]
    )
    client = BlockingKernelClient()
    client.load_connection_info({**info, **{p: mine[p] for p in ports}})
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        times["kernel"] = time.perf_counter() - mark
        mark = time.perf_counter()
        code = f"import dill; dill.load_session({str(target)!r}); print(len(df), big.shape[0], step)"
        reply = client.execute_interactive(code, timeout=1200, output_hook=lambda m: None)
        assert reply["content"]["status"] == "ok", reply["content"]
        times["load"] = time.perf_counter() - mark
        times["total"] = time.perf_counter() - start
        client.shutdown()
    finally:
        client.stop_channels()
        tunnel.terminate()
    return times


def recompute(setup: str) -> float:
    """The other way to have the state on the host: the setup cell run again in a fresh Python there (what
    ElasticNotebook's recompute would do), imports included, interpreter start not."""
    code = f"import time\nstart = time.perf_counter()\nexec({setup!r})\nprint(time.perf_counter() - start)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def warm_up(port: int, runtime: Path) -> None:
    """A small session moved there and back first: the host then has the lock's environment (built once,
    cached as runs' are) and nblift's runtime, as it has after a user's first move."""
    session = new_session(port, "warmup.ipynb")
    home = session["kernel"]["id"]
    run_in_kernel(runtime, home, "%load_ext nblift\nimport numpy\nstep = 0\nbig = numpy.zeros(1)\ndf = [0]")
    run_in_kernel(runtime, home, "%lift move ssh:bench", timeout=1200)
    there = switched(port, session["id"], home)
    first_cell(runtime, there)
    run_in_kernel(runtime, there, "%lift move back", timeout=1200)
    switched(port, session["id"], there)
    api(port, f"sessions/{session['id']}", "DELETE")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nblift-bench-move-"))
    (work / "sshd").mkdir()
    sshd = Sshd(work / "sshd")
    root, remote = work / "project", work / "host"
    root.mkdir()
    remote.mkdir()
    configure(root, sshd, remote)
    for name in ("warmup.ipynb", "session.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), root / name)
    runtime = work / "runtime"
    environ = {"JUPYTER_DATA_DIR": str(work / "data"), "NBLIFT_SNAPSHOT_MLFLOW": "false"}
    server, port = start_server(root, runtime, **environ)
    try:
        warm_up(port, runtime)
        session = new_session(port, "session.ipynb")
        home = session["kernel"]["id"]
        setup = SETUP.format(n_floats=args.mb * 1024 * 1024 // 8, rows=args.rows)
        run_in_kernel(runtime, home, "%load_ext nblift\n" + setup, timeout=1200)

        phases = manual(runtime, home, sshd, remote, work)
        manual_s = phases["total"]

        start = time.perf_counter()
        said = run_in_kernel(runtime, home, "%lift move ssh:bench", timeout=1200)
        remote_kernel = switched(port, session["id"], home)
        first_cell(runtime, remote_kernel)
        moved_s = time.perf_counter() - start
        sent_first = re.search(r"send (\d+) object\(s\), ([\d.]+ \w+)", said)

        start = time.perf_counter()
        run_in_kernel(runtime, remote_kernel, "%lift move back", timeout=1200)
        home = switched(port, session["id"], remote_kernel)
        first_cell(runtime, home)
        back_s = time.perf_counter() - start

        run_in_kernel(runtime, home, "step = step + 1")
        start = time.perf_counter()
        said = run_in_kernel(runtime, home, "%lift move ssh:bench", timeout=1200)
        remote_kernel = switched(port, session["id"], home)
        first_cell(runtime, remote_kernel)
        again_s = time.perf_counter() - start
        sent_again = re.search(r"send (\d+) object\(s\), ([\d.]+ \w+)", said)
        run_in_kernel(runtime, remote_kernel, "%lift move back", timeout=1200)
        switched(port, session["id"], remote_kernel)
        recompute_s = recompute(setup)
    finally:
        stop_server(server)
        sshd.stop()
    print(f"session: {args.mb} MB array, {args.rows:,}-row DataFrame, small variables")
    print(
        "manual route (dill.dump_session, scp, a kernel on the host through ssh -L, dill.load_session, "
        f"a cell): {manual_s:.2f} s (dump {phases['dump']:.2f}, copy {phases['copy']:.2f}, kernel "
        f"{phases['kernel']:.2f}, load + cell {phases['load']:.2f})"
    )
    print(
        "floors of a first move on this machine: copying the session's bytes alone (its scp) "
        f"{phases['copy']:.2f} s = {phases['copy'] / manual_s:.2f}x; running the setup cell again on the "
        f"host instead {recompute_s:.2f} s = {recompute_s / manual_s:.2f}x; each before a kernel starts"
    )
    first_sent = sent_first.group(2) if sent_first else "?"
    print(
        f"nblift move to the host, to the first remote cell (environment cached): {moved_s:.2f} s"
        f"  ratio {moved_s / manual_s:.2f}x (target <= 0.5x); sent {first_sent}"
    )
    print(f"nblift move back, to the first cell at home: {back_s:.2f} s")
    again_sent = f"{sent_again.group(2)} in {sent_again.group(1)} object(s)" if sent_again else "?"
    print(
        f"nblift move again after a small change: {again_s:.2f} s (target < 3 s), sent {again_sent} (< 1 MB)"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
