"""IPython front door: `%load_ext nblift` registers `%lift` and a light post-cell hook.

The hook flushes `nblift.log`'s points, takes in a finished background snapshot and, with
`%lift autosnapshot on`, snapshots once the kernel goes idle: `autosnapshot_delay_ms` after a cell ends,
unless another cell starts first (a Run All takes one snapshot at its end, not one per cell), and at once
after a cell when the last automatic snapshot is older than `autosnapshot_max_interval` seconds (a long run
of cells is never left without one). Nothing heavy is imported here.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from .lift import LiftMagics

__all__ = ["LiftMagics", "register", "unregister"]

log = logging.getLogger("nblift")
#: How long the end of a cell waits for `nblift.log`'s points to reach the tracking store.
FLUSH_TIMEOUT_S = 30.0


class _CellHook:
    """`pre_run_cell`/`post_run_cell` callbacks bound to one shell."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.running = False
        self._idle: asyncio.TimerHandle | None = None
        self._last_auto: float | None = None  # the interval's clock starts at the first cell it sees
        self._started: float | None = None

    def before(self, _info: Any = None) -> None:
        """A cell starts: an automatic snapshot waiting for the kernel to go idle waits for the next one."""
        self.running = True
        self._started = time.perf_counter()
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def __call__(self, result: Any) -> None:
        self.running = False
        count = getattr(result, "execution_count", None)
        if self._started is not None and isinstance(count, int):
            # snapshots keep each cell's time: an estimate of a run's duration reads them
            from ..snapshot.history import cell_seconds

            cell_seconds(self.shell)[count] = round(time.perf_counter() - self._started, 3)
        self._started = None
        _flush_metrics()
        source = getattr(getattr(result, "info", None), "raw_cell", None) or ""
        snap = getattr(self.shell, "_nblift_snapshotter", None)
        if snap is None:
            return  # no snapshot in this kernel yet, autosnapshot off: nothing to do
        try:
            done = snap.collect(wait=False)
            if done is not None and not done.message.startswith("after ["):
                print(f"nblift: snapshot {done.id} saved ({len(done.changed) + len(done.added)} changed)")
            if snap.autosnapshot and not source.lstrip().startswith("%lift"):
                self._schedule(snap, getattr(result, "execution_count", None))
        except Exception as exc:  # noqa: BLE001 - a snapshot must never break the user's cell
            log.warning("nblift snapshot failed: %s", exc)
            print(f"nblift: snapshot failed: {exc}")

    def _schedule(self, snap: Any, count: int | None) -> None:
        settings = snap.project.settings
        now = time.monotonic()
        if self._last_auto is None:
            self._last_auto = now
        overdue = now - self._last_auto >= float(settings.autosnapshot_max_interval)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None  # no event loop (a terminal IPython): snapshot after every cell
        if overdue or loop is None:
            self._auto(snap, count)
            return
        if self._idle is not None:
            self._idle.cancel()
        delay = max(0.0, float(settings.autosnapshot_delay_ms) / 1000)
        self._idle = loop.call_later(delay, self._when_idle, snap, count)

    def _when_idle(self, snap: Any, count: int | None) -> None:
        self._idle = None
        if self.running:
            return  # a cell (awaiting at top level) is in progress: its own end schedules the next one
        try:
            self._auto(snap, count)
        except Exception as exc:  # noqa: BLE001
            log.warning("nblift snapshot failed: %s", exc)
            print(f"nblift: snapshot failed: {exc}")

    def _auto(self, snap: Any, count: int | None) -> None:
        if snap.pending is not None:
            return  # the previous one is still being written: the next cell's covers this one
        self._last_auto = time.monotonic()
        snap.snapshot(f"after [{count}]" if count else "", auto=True, background=_background(snap))


def _flush_metrics() -> None:
    """Write what `nblift.log` buffered during the cell (also when it raised or was interrupted)."""
    module = sys.modules.get("nblift.experiments.logger")
    logger = module.current() if module is not None else None
    if logger is not None and not logger.flush(FLUSH_TIMEOUT_S):
        print(f"nblift: {logger.pending} logged points are still being written ({logger.error or 'busy'})")


def _background(snap: Any) -> bool:
    return bool(snap.project.settings.snapshot_background)


def register(ipython: Any) -> None:
    ipython.register_magics(LiftMagics)
    if getattr(ipython, "_nblift_hook", None) is None:
        hook = _CellHook(ipython)
        ipython.events.register("pre_run_cell", hook.before)
        ipython.events.register("post_run_cell", hook)
        ipython._nblift_hook = hook


def unregister(ipython: Any) -> None:
    line_magics = ipython.magics_manager.magics.get("line", {})
    line_magics.pop("lift", None)
    hook = getattr(ipython, "_nblift_hook", None)
    if hook is not None:
        hook.before()  # cancels an automatic snapshot still waiting for the kernel to go idle
        ipython.events.unregister("pre_run_cell", hook.before)
        ipython.events.unregister("post_run_cell", hook)
        ipython._nblift_hook = None
