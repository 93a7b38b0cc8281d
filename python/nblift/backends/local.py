"""The `local` backend: a fresh kernel on this machine, started by a detached runner process.

The runner is the leader of its own session and process group, so it outlives the Jupyter server or the
terminal that launched it, and cancelling reaches the kernel and anything the notebook started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from ..costs.prices import Priced
from ..runs.records import OUTPUT_DIR, RUNNER_LOG
from ..target.checkpoint import CHECKPOINT_DIR, CHECKPOINT_FILE
from .base import Backend, RunHandle, RunRequest

# Runners this process started, so their exit is reaped (no zombies in a long-lived server).
_children: dict[int, subprocess.Popen[bytes]] = {}


def process_start(pid: int) -> int | None:
    """The start time of process `pid` in clock ticks since boot; None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if sys.platform.startswith("linux"):
            return None
        try:  # no /proc: existence is all we can tell
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return 0
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid` (Linux; empty elsewhere)."""
    members = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


class LocalBackend(Backend):
    name = "local"

    def price(self) -> tuple[Priced, str]:
        rate = self.project.settings.local_hourly_cost
        return Priced(hourly_cost=rate, rate_name="local_hourly_cost"), "the local backend"

    def has_checkpoint(self, handle: RunHandle, record_dir: Path) -> bool:
        return (record_dir / CHECKPOINT_DIR / CHECKPOINT_FILE).is_file()  # the runner ran in the record

    def _submit(self, request: RunRequest) -> RunHandle:
        if request.spec.resume_from:  # the checkpoint of the run it continues, where its runner finds it
            earlier = request.record_dir.parent / request.spec.resume_from / CHECKPOINT_DIR
            shutil.copytree(earlier, request.record_dir / CHECKPOINT_DIR, symlinks=True)
        command = [
            sys.executable,
            "-m",
            "nblift.target.runner",
            str(request.record_dir),
            "--store",
            str(request.store_dir),
        ]
        with (request.record_dir / RUNNER_LOG).open("ab") as log:
            child = subprocess.Popen(
                command,
                cwd=request.record_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _children[child.pid] = child
        details = {"pid": child.pid, "start": process_start(child.pid)}
        return RunHandle(self.name, request.run_id, str(child.pid), details)

    def _alive(self, handle: RunHandle) -> bool:
        pid = int(handle.native_id)
        child = _children.get(pid)
        if child is not None and child.poll() is not None:
            del _children[pid]
        start = process_start(pid)
        recorded = handle.details.get("start")
        return start is not None and (recorded is None or start == recorded)

    def _signal_group(self, handle: RunHandle, signum: int) -> None:
        if self._alive(handle):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(handle.native_id), signum)

    def _terminate(self, handle: RunHandle) -> None:
        self._signal_group(handle, signal.SIGTERM)

    def _kill(self, handle: RunHandle) -> None:
        self._signal_group(handle, signal.SIGKILL)

    def _reap(self, handle: RunHandle) -> None:
        """Kill whatever is left of a vanished runner's process group (its kernel)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if group_members(int(handle.native_id)):
                os.killpg(int(handle.native_id), signal.SIGKILL)

    def _fetch(self, handle: RunHandle, record_dir: Path) -> Path:
        return record_dir / OUTPUT_DIR  # the runner wrote its outputs into the record
