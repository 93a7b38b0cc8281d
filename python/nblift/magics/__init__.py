"""IPython front door: `%load_ext nblift` registers `%lift` and a light post-cell hook.

The hook flushes `nblift.log`'s points, takes in a finished background snapshot and, with
`%lift autosnapshot on`, snapshots after the cell. Nothing heavy is imported here.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from .lift import LiftMagics

__all__ = ["LiftMagics", "register", "unregister"]

log = logging.getLogger("nblift")
#: How long the end of a cell waits for `nblift.log`'s points to reach the tracking store.
FLUSH_TIMEOUT_S = 30.0


class _CellHook:
    """`post_run_cell` callback bound to one shell."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell

    def __call__(self, result: Any) -> None:
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
                if snap.pending is not None:
                    return  # the previous one is still being written: the next cell's covers this one
                count = getattr(result, "execution_count", None)
                snap.snapshot(f"after [{count}]" if count else "", auto=True, background=_background(snap))
        except Exception as exc:  # noqa: BLE001 - a snapshot must never break the user's cell
            log.warning("nblift snapshot failed: %s", exc)
            print(f"nblift: snapshot failed: {exc}")


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
        ipython.events.register("post_run_cell", hook)
        ipython._nblift_hook = hook


def unregister(ipython: Any) -> None:
    line_magics = ipython.magics_manager.magics.get("line", {})
    line_magics.pop("lift", None)
    hook = getattr(ipython, "_nblift_hook", None)
    if hook is not None:
        ipython.events.unregister("post_run_cell", hook)
        ipython._nblift_hook = None
