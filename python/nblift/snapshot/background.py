"""Background snapshots by fork: the child holds a copy-on-write image of the kernel's memory at one
instant, so it can encode and write at leisure while the kernel runs the next cell (as Redis BGSAVE does).

The child never prints, never touches the kernel's sockets, hashes on one thread (a thread pool inherited
through fork has no threads), dies with the kernel (PR_SET_PDEATHSIG) and leaves through os._exit.
It sends its outcome back through a pipe that a reaper thread in the kernel reads.

Fork safety. A forked child has only the forking thread: whatever another thread was in the middle of
stays half-done forever in the child (a module half-imported, a lock held). So:
- the kernel forks only when no module is being imported (the import lock is free and no module in
  `sys.modules` is initializing); while one is, it waits a little, then writes in the foreground;
- it forks only when every other thread of the user's is in the user's own code or waiting in the
  standard library (`threading`, `queue`, `selectors`); a thread inside a library (which may hold that
  library's locks or be half-way through changing its state) makes the snapshot run in the foreground;
- the modules the child needs (cloudpickle, dill, pyarrow when pandas is in use) are imported by the kernel
  before the fork, and the child refuses to import anything else: a value that would need a new import is
  reported and stored by the next snapshot, after the kernel imported the module itself.
The reason for every foreground fallback is in the snapshot's warnings.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import importlib.abc
import os
import pickle
import signal
import sys
import threading
import time
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
    #: Immutable values the kernel held when it forked (see `Snapshotter._unchanged`).
    pins: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: The sys.path stamps at the fork: the child's environment fingerprint is kept for them.
    stamps: str = ""
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


class _NoImports(importlib.abc.MetaPathFinder):
    """Refuses every import in the child: a module imported there could depend on state another thread of
    the kernel held at the fork. The names asked for are kept so the kernel can import them itself."""

    MARKER = "nblift's background snapshot imports nothing"

    def __init__(self) -> None:
        self.refused: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        self.refused.add(fullname)
        raise ImportError(f"{self.MARKER} (it would need {fullname})")


_GUARD: _NoImports | None = None


def refused_imports() -> list[str]:
    """Modules the child was asked to import and refused (empty outside a snapshot child)."""
    return sorted(_GUARD.refused) if _GUARD is not None else []


def _child(snap: Snapshotter, write_fd: int, parent: int, kwargs: dict[str, Any]) -> None:
    global _GUARD
    code = 1
    try:
        _die_with_parent(parent)
        signal.alarm(CHILD_LIMIT_S)
        with contextlib.suppress(OSError):
            os.nice(CHILD_NICENESS)  # the user's next cell comes first
        _quiet_child()
        _GUARD = _NoImports()
        sys.meta_path.insert(0, _GUARD)
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


# -- when forking is safe -----------------------------------------------------------------------------
#: Threads started by these packages belong to the kernel; none of them is ever inside what the child uses.
_KERNEL_PACKAGES = ("ipykernel", "IPython", "jupyter_client", "zmq", "tornado", "nblift")
#: A thread whose innermost Python frame is in one of these standard-library files is waiting.
_WAITING_FILES = ("/threading.py", "/queue.py", "/selectors.py", "/concurrent/futures/thread.py")
#: How long a snapshot waits for another thread's import to finish before writing in the foreground.
IMPORT_WAIT_S = 3.0
#: The thread switch interval while the kernel checks and forks: long enough that no other thread is
#: switched in between (both take well under this), short enough that a thread which does get the GIL
#: (if the kernel's thread ever waits) cannot keep it for long.
_NO_SWITCH_S = 0.25
#: The child's niceness: on a busy machine the kernel's own work goes first.
CHILD_NICENESS = 10
#: A child that has not finished by then is stopped (SIGALRM): a hang never outlives this.
CHILD_LIMIT_S = 3600


def _module_of(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    module = getattr(target, "__module__", None) if target is not None else None
    return module or type(thread).__module__


def _importing(*, thorough: bool = True) -> str | None:
    """The module another thread is importing right now, if any: one whose import lock is held (also
    while its file is still being looked for) or, `thorough`, one that is initializing."""
    import _imp
    from importlib import _bootstrap

    for name, ref in list(getattr(_bootstrap, "_module_locks", {}).items()):
        lock = ref()
        if lock is not None and getattr(lock, "count", 0):
            return name
    if _imp.lock_held():
        return "a module (the import lock is held)"
    if thorough:
        for name, module in list(sys.modules.items()):
            spec = getattr(module, "__spec__", None)
            if spec is not None and getattr(spec, "_initializing", False):
                return name
    return None


def _busy_thread() -> str | None:
    """A user thread inside a library right now (see the module's docstring), described; None if none."""
    me = threading.get_ident()
    frames = sys._current_frames()
    libraries = _library_prefixes()
    for thread in threading.enumerate():
        frame = frames.get(thread.ident or -1)
        if thread.ident == me or frame is None:
            continue
        if _module_of(thread).split(".", 1)[0] in _KERNEL_PACKAGES:
            continue
        filename = frame.f_code.co_filename
        if filename.endswith(_WAITING_FILES) or not filename.startswith(libraries):
            continue
        return f"thread {thread.name!r} is inside {filename}:{frame.f_code.co_name}"
    return None


@functools.cache
def _library_prefixes() -> tuple[str, ...]:
    import sysconfig

    paths = sysconfig.get_paths()
    roots = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(sorted(r for r in roots if r))


def fork_hazard(wait: float = IMPORT_WAIT_S) -> str | None:
    """Why forking now could give the child something half-done (waiting up to `wait` seconds for another
    thread's import to finish); None when it is safe."""
    deadline = time.monotonic() + wait
    thorough = wait == 0  # the final check, just before the fork, also scans sys.modules
    while (importing := _importing(thorough=thorough)) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    if importing is not None:
        return f"another thread was importing {importing}"
    return _busy_thread()


def preload() -> None:
    """Import in the kernel what the child may need, so that the child never imports."""
    from . import codec

    codec.preload_serializers()  # cloudpickle and dill
    if "pandas" in sys.modules:
        with contextlib.suppress(ImportError):
            import pandas.testing  # noqa: F401
            import pyarrow.ipc  # noqa: F401
    if "numpy" in sys.modules:
        import numpy.lib.format  # noqa: F401


def _fork_snapshot(
    snap: Snapshotter,
    message: str,
    full: bool,
    auto: bool,
    sid: str,
    start: float,
    pins: dict[str, Any],
    stamps: str,
) -> _Pending | str:
    """Fork a child that writes the snapshot; else why not (the caller then writes in the foreground).

    The last hazard check and the fork run with thread switching held off, so no other thread can start
    an import in between."""
    read_fd, write_fd = os.pipe()
    parent = os.getpid()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(_NO_SWITCH_S)
    pid = -1
    try:
        hazard = fork_hazard(wait=0)
        if hazard is None:
            pid = os.fork()
    except OSError as exc:
        hazard = f"fork failed ({exc})"
    finally:
        if pid != 0:
            sys.setswitchinterval(interval)
    if hazard is not None:
        os.close(read_fd)
        os.close(write_fd)
        return hazard
    if pid == 0:
        sys.setswitchinterval(interval)
        os.close(read_fd)
        _child(
            snap,
            write_fd,
            parent,
            {"message": message, "full": full, "auto": auto, "sid": sid, "start": start},
        )
    os.close(write_fd)
    pending = _Pending(sid=sid, pid=pid, pins=pins, stamps=stamps)
    pending.reaper = threading.Thread(
        target=_reap, args=(pending, read_fd), name=f"nblift-reap-{sid}", daemon=True
    )
    pending.reaper.start()
    return pending
