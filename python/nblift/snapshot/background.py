"""Background snapshots by fork: the child holds a copy-on-write image of the kernel's memory at one
instant, so it can encode and write at leisure while the kernel runs the next cell (as Redis BGSAVE does).

The child never prints, never touches the kernel's sockets, hashes on one thread (a thread pool inherited
through fork has no threads), dies with the kernel (PR_SET_PDEATHSIG) and leaves through os._exit.
It sends its outcome back through a pipe that a reaper thread in the kernel reads.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import pickle
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import store as store_module

if TYPE_CHECKING:
    from .core import Snapshotter, _Outcome

_PR_SET_PDEATHSIG = 1


@dataclasses.dataclass
class _Pending:
    """A snapshot being written by a child process."""

    sid: str
    pid: int
    reaper: threading.Thread = dataclasses.field(default_factory=threading.Thread)
    outcome: _Outcome | None = None
    error: str | None = None


def background_supported() -> bool:
    """Fork-based snapshots need Linux (fork is unsafe on macOS with system frameworks loaded)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _die_with_parent(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the kernel died between fork and prctl
        os._exit(1)


def _quiet_child() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = sys.stderr = Path(os.devnull).open("w")  # noqa: SIM115 - lives as long as the child


def _child(snap: Snapshotter, write_fd: int, parent: int, kwargs: dict[str, Any]) -> None:
    code = 1
    try:
        _die_with_parent(parent)
        _quiet_child()
        store_module.single_threaded_hashing()
        outcome = snap._snapshot(progress=None, **kwargs)
        payload = pickle.dumps(("ok", outcome), protocol=pickle.HIGHEST_PROTOCOL)
        code = 0
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the kernel as text
        payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
    try:
        with os.fdopen(write_fd, "wb") as fh:
            fh.write(payload)
    finally:
        os._exit(code)


def _reap(pending: _Pending, read_fd: int) -> None:
    with os.fdopen(read_fd, "rb") as fh:
        payload = fh.read()
    _, status = os.waitpid(pending.pid, 0)
    if not payload:
        pending.error = f"the snapshot process ended without a result (wait status {status})"
        return
    try:
        kind, value = pickle.loads(payload)  # noqa: S301 - our own child wrote it through a private pipe
    except Exception as exc:  # noqa: BLE001
        pending.error = f"unreadable result from the snapshot process: {exc}"
        return
    if kind == "ok":
        pending.outcome = value
    else:
        pending.error = str(value)


def _fork_snapshot(
    snap: Snapshotter, message: str, full: bool, auto: bool, sid: str, start: float, touched: set[str]
) -> _Pending | None:
    """Fork a child that writes the snapshot; None if fork is impossible (the caller then writes inline)."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:
        os.close(read_fd)
        _child(
            snap,
            write_fd,
            parent,
            {"message": message, "full": full, "auto": auto, "sid": sid, "start": start, "touched": touched},
        )
    os.close(write_fd)
    pending = _Pending(sid=sid, pid=pid)
    pending.reaper = threading.Thread(
        target=_reap, args=(pending, read_fd), name=f"nblift-reap-{sid}", daemon=True
    )
    pending.reaper.start()
    return pending
