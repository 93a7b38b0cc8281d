"""`nblift.log` outside a run: append to an in-memory buffer (microseconds), write batches from a thread.

The writer wakes every half second (sooner when the buffer grows), creates the notebook's MLflow run the
first time (importing mlflow there, not in the user's loop) and writes each batch in one transaction. The
buffer is flushed at the end of every cell (also one that raised or was interrupted) and at exit. A batch
that could not be written is put back and tried again: nothing logged is dropped.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .sinks import Point, Sink

log = logging.getLogger("nblift")
FLUSH_EVERY_S = 0.5
FLUSH_AT = 50_000


class MetricLogger:
    """One per process. `target` returns (run id, sink), creating the run on first use (writer thread)."""

    def __init__(self, target: Callable[[], tuple[str, Sink]]) -> None:
        self._target = target
        self._resolved: tuple[str, Sink] | None = None
        self._points: list[Point] = []
        self._steps: dict[str, int] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._written = threading.Condition()
        self._appended = 0
        self._done = 0
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.listeners: list[Callable[[list[Point]], None]] = []
        #: Called (in the logging thread) before each `log`: shows the live chart of the cell.
        self.on_log: Callable[[], None] | None = None

    @property
    def run_id(self) -> str | None:
        return self._resolved[0] if self._resolved else None

    def log(self, step: int | None, metrics: Mapping[str, float]) -> None:
        if self.on_log is not None:
            self.on_log()
        now = int(time.time() * 1000)
        with self._lock:
            for key, value in metrics.items():
                at = self._steps.get(key, -1) + 1 if step is None else step
                self._steps[key] = at
                self._points.append((key, float(value), now, at))
            self._appended += len(metrics)
            if len(self._points) >= FLUSH_AT:
                self._wake.set()
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="nblift-metrics", daemon=True)
            self._thread.start()
        atexit.register(self._at_exit)

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_EVERY_S)
            self._wake.clear()
            self._write_pending()

    def _write_pending(self) -> None:
        with self._lock:
            batch, self._points = self._points, []
        if not batch:
            return
        try:
            if self._resolved is None:
                self._resolved = self._target()
            run_id, sink = self._resolved
            sink.write(run_id, batch)
        except Exception as exc:  # noqa: BLE001 - kept and retried; the user's loop never sees it
            with self._lock:
                self._points[:0] = batch
            if self.error is None or str(self.error) != str(exc):
                log.warning("nblift.log could not write %d points yet (will retry): %s", len(batch), exc)
            self.error = exc
            time.sleep(FLUSH_EVERY_S)
            return
        self.error = None
        for listener in list(self.listeners):  # before the flush returns, so views show what is stored
            try:
                listener(batch)
            except Exception as exc:  # noqa: BLE001 - a display problem never stops the writing
                log.debug("metric listener failed: %s", exc)
        with self._written:
            self._done += len(batch)
            self._written.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Write everything logged so far; True once it is all in the store."""
        if self._thread is None:
            return True
        target = self._appended
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._written:
            while self._done < target:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._written.wait(0.1 if remaining is None else min(0.1, remaining))
                self._wake.set()
        return True

    def _at_exit(self) -> None:
        if self._resolved is None and self.pending:
            # Creating the run needs mlflow's import, which registers exit handlers: too late now.
            log.warning(
                "nblift.log: %d points not written: the process ended before its MLflow run existed "
                "(use `with nblift.track():` around short scripts)",
                self.pending,
            )
            return
        self.flush(30.0)

    @property
    def pending(self) -> int:
        return self._appended - self._done


_logger: MetricLogger | None = None
_guard = threading.Lock()


def current() -> MetricLogger | None:
    return _logger


def get(target: Callable[[], tuple[str, Sink]]) -> MetricLogger:
    """The process's logger (created with `target` the first time; in a kernel it draws live charts)."""
    global _logger
    with _guard:
        if _logger is None:
            _logger = MetricLogger(target)
            _attach_charts(_logger)
        return _logger


def _attach_charts(logger: MetricLogger) -> None:
    from .live import CellCharts, kernel_shell

    shell = kernel_shell()
    if shell is None:
        return
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return
    charts = CellCharts(shell)
    logger.on_log = charts
    logger.listeners.append(charts.update)


def reset() -> None:
    """Flush and forget the process's logger (a new run starts with the next `nblift.log`)."""
    global _logger
    with _guard:
        if _logger is not None:
            _logger.flush(30.0)
        _logger = None


def log_metrics(step: int | None, metrics: Mapping[str, float]) -> MetricLogger:
    from .track import notebook_target

    logger = get(notebook_target)
    logger.log(step, metrics)
    return logger


def describe(points: list[Point]) -> dict[str, Any]:
    """The latest value per key in a batch (for live views)."""
    latest: dict[str, Any] = {}
    for key, value, _, step in points:
        latest[key] = (step, value)
    return latest
