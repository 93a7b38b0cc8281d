"""A run's progress in a terminal: one line per cell (or a redrawn bar on a TTY), and its output."""

from __future__ import annotations

from types import TracebackType
from typing import Any, TextIO

from .events import EventKind

BAR = 24


def print_output(event: dict[str, Any], out: TextIO) -> None:
    """Print what a cell wrote (stdout, stderr, results, tracebacks); ignore other events."""
    if event.get("kind") == EventKind.OUTPUT and event.get("text"):
        text = str(event["text"])
        out.write(text if text.endswith("\n") else text + "\n")
        out.flush()


class TerminalProgress:
    """Follows run events: `[####----] 3/8 cells  cell 4: label` on a TTY, plain lines otherwise."""

    def __init__(self, out: TextIO, total: int) -> None:
        self.out = out
        self.total = total
        self.done = 0
        self.tty = out.isatty()
        self._drawn = False

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._clear()

    def _clear(self) -> None:
        if self._drawn:
            self.out.write("\r\x1b[2K")
            self._drawn = False

    def _bar(self, label: str) -> str:
        filled = BAR * self.done // self.total if self.total else 0
        return f"[{'#' * filled}{'-' * (BAR - filled)}] {self.done}/{self.total} cells  {label}"[:120]

    def _say(self, line: str, *, status: bool = False) -> None:
        if self.tty:
            self._clear()
            self.out.write(line if status else line + "\n")
            self._drawn = status
        elif not status:
            self.out.write(line + "\n")
        self.out.flush()

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        cell = event.get("cell")
        name = f"cell {cell}" if cell else "parameters"
        if kind == EventKind.RUN_STARTED:
            self._say(f"run started (pid {event.get('pid')})")
        elif kind == EventKind.KERNEL_STARTING:
            self._say(f"starting kernel {event.get('kernel')}…", status=True)
        elif kind == EventKind.CELL_STARTED:
            line = f"{name}: {event.get('label', '')}"
            self._say(self._bar(line) if self.tty else f"running {line}", status=self.tty)
        elif kind == EventKind.CELL_FINISHED:
            if cell:
                self.done += 1
            if not self.tty:
                self._say(f"  {name} {event.get('status')} in {float(event.get('duration', 0)):.2f} s")
            else:
                self._say(self._bar(f"{name} {event.get('status')}"), status=True)
        elif kind == EventKind.OUTPUT:
            self._clear()
            print_output(event, self.out)
        elif kind == EventKind.METRIC:
            self._say(f"  metric {event.get('name')}={event.get('value'):.6g} (step {event.get('step')})")
        elif kind == EventKind.TRACKING:
            self._say(f"MLflow run {event.get('run_id')} (experiment {event.get('experiment_id')})")
        elif kind == EventKind.TRACKING_ERROR:
            self._say(f"MLflow: {event.get('message')}")
        elif kind == EventKind.RUN_FINISHED:
            self._clear()
