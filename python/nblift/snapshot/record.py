"""The MLflow record of each snapshot, written outside the user's kernel.

Importing MLflow costs a kernel seconds and over 100 MB, and a thread importing it inside the kernel made
forked snapshots inherit half-imported modules. So the kernel only queues the snapshot's id (an empty file
under `.nblift/snapshots/mlflow-queue/`) and starts a short-lived, low-priority helper process
(`python -m nblift.snapshot.record ROOT`) unless one is already running for the project. The helper
records every queued snapshot as an MLflow run and exits when the queue is empty.

One helper at a time: it holds `mlflow-record.lock` while it drains the queue and looks again after letting
go, so an id queued while it was finishing is never left behind (the kernel writes the id before it tries
the lock).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from ..fsutil import TEMP_PREFIX, atomic_write, ensure_dir, file_lock
from ..project import Project
from . import manifest as mf

QUEUE_DIR = "mlflow-queue"
LOCK_FILE = "mlflow-record.lock"
LOG_FILE = "mlflow-record.log"
#: The helper runs at this niceness: the user's cells come first.
NICENESS = 10


def queue_dir(state_dir: Path) -> Path:
    return mf.snapshots_dir(state_dir) / QUEUE_DIR


def _lock_path(state_dir: Path) -> Path:
    return mf.snapshots_dir(state_dir) / LOCK_FILE


def queued(state_dir: Path) -> list[str]:
    """Snapshot ids waiting for their MLflow record, oldest first."""
    folder = queue_dir(state_dir)
    try:
        entries = [e for e in os.scandir(folder) if not e.name.startswith(TEMP_PREFIX)]
    except FileNotFoundError:
        return []
    return [e.name for e in sorted(entries, key=lambda e: e.stat().st_mtime_ns)]


def enqueue(project: Project, sid: str) -> None:
    """Queue `sid` for its MLflow record and make sure a helper process will write it."""
    state_dir = project.state_dir
    atomic_write(ensure_dir(queue_dir(state_dir)) / mf.check_id(sid), b"")
    with file_lock(_lock_path(state_dir), blocking=False) as free:
        if not free:
            return  # the running helper looks at the queue again after it lets go of the lock
    _start_helper(project.root)


def _start_helper(root: Path) -> None:
    package_parent = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    env.pop("JPY_PARENT_PID", None)
    subprocess.Popen(
        [sys.executable, "-m", "nblift.snapshot.record", str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
        close_fds=True,
    )


def wait_until_recorded(project: Project, timeout: float | None = None) -> bool:
    """Wait until every queued snapshot of the project has its MLflow record; False on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    state_dir = project.state_dir
    while True:
        if not queued(state_dir):
            with file_lock(_lock_path(state_dir), blocking=False) as free:
                if free:
                    return True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def _log(state_dir: Path, text: str) -> None:
    with contextlib.suppress(OSError), (mf.snapshots_dir(state_dir) / LOG_FILE).open("a") as fh:
        fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")


def drain(project: Project) -> int:
    """Record every queued snapshot (this process must hold the lock); returns how many were recorded."""
    from ..tracking import log_snapshot_run

    state_dir = project.state_dir
    done = 0
    for sid in queued(state_dir):
        marker = queue_dir(state_dir) / sid
        try:
            manifest = mf.load(state_dir, sid)
            log_snapshot_run(project, manifest)
            done += 1
        except Exception as exc:  # noqa: BLE001 - one bad record never blocks the others; it is logged
            _log(state_dir, f"snapshot {sid} was not recorded in MLflow: {type(exc).__name__}: {exc}")
        marker.unlink(missing_ok=True)
    return done


def main(argv: list[str]) -> int:
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    project = Project.discover(argv[0])
    state_dir = project.state_dir
    while True:
        with file_lock(_lock_path(state_dir), blocking=False) as held:
            if not held:
                return 0  # another helper is draining the queue
            drain(project)
        if not queued(state_dir):
            return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
