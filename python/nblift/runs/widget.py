"""The notebook's view of a run (`%lift run`): a progress bar per cell, streaming output, metrics, a Cancel
button, then links to the executed notebook and the MLflow run. Updated from a background thread, so the
notebook stays usable while the run goes on."""

from __future__ import annotations

import html
import os
import threading
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..project import Project
from . import service
from .events import EventKind
from .model import RunInfo, RunState
from .render import mlflow_link, seconds

_STYLE = {
    "pending": ("", 0),
    "running": ("info", 1),
    "ok": ("success", 1),
    "error": ("danger", 1),
}


class RunView(widgets.VBox):  # type: ignore[misc]
    def __init__(self, project: Project, info: RunInfo, total: int) -> None:
        self.project = project
        self.info = info
        self.total = total
        self.header = widgets.HTML()
        self.bar = widgets.IntProgress(min=0, max=max(total, 1), value=0, description="cells")
        self.cells = widgets.VBox()
        self.metrics = widgets.HTML()
        self.output = widgets.Output(layout={"max_height": "240px", "overflow": "auto"})
        self.links = widgets.HTML()
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", button_style="warning")
        self.cancel_button.on_click(self._cancel)
        self._rows: dict[int, tuple[widgets.IntProgress, widgets.HTML]] = {}
        self._labels: dict[int, str] = {}
        self._latest: dict[str, tuple[float, int]] = {}
        self._done = 0
        self._thread: threading.Thread | None = None
        super().__init__(
            [
                self.header,
                widgets.HBox([self.bar, self.cancel_button]),
                self.cells,
                self.metrics,
                self.output,
                self.links,
            ]
        )
        self._render_header()

    # -- events ------------------------------------------------------------------------------------------

    def on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("kind")
        if kind == EventKind.CELL_STARTED:
            self._row(event, "running")
        elif kind == EventKind.CELL_FINISHED:
            self._row(event, str(event.get("status", "ok")), float(event.get("duration", 0.0)))
            if event.get("cell"):
                self._done += 1
                self.bar.value = min(self._done, self.bar.max)
        elif kind == EventKind.OUTPUT and event.get("text"):
            text = str(event["text"])
            if event.get("stream") in ("stderr", "error"):
                self.output.append_stderr(text)
            else:
                self.output.append_stdout(text if text.endswith("\n") else text + "\n")
        elif kind == EventKind.METRIC:
            self._latest[str(event.get("name"))] = (
                float(event.get("value", 0.0)),
                int(event.get("step") or 0),
            )
            self.metrics.value = "<b>metrics</b> " + ", ".join(
                f"{html.escape(k)}={v:.4g} <small>(step {s})</small>"
                for k, (v, s) in sorted(self._latest.items())
            )
        elif kind in (EventKind.RUN_STARTED, EventKind.TRACKING):
            self.info = service.get_run(self.project, self.info.id)
            self._render_header()

    def _row(self, event: dict[str, Any], status: str, duration: float | None = None) -> None:
        index = int(event.get("index", 0))
        if index not in self._rows:
            bar = widgets.IntProgress(min=0, max=1, value=0, layout={"width": "120px"})
            label = widgets.HTML()
            self._rows[index] = (bar, label)
            self.cells.children = (*self.cells.children, widgets.HBox([bar, label]))
        bar, label = self._rows[index]
        style, value = _STYLE.get(status, ("", 0))
        bar.bar_style, bar.value = style, value
        name = f"cell {event.get('cell')}" if event.get("cell") else "parameters"
        text = str(event.get("label") or self._labels.get(index, ""))
        self._labels[index] = text  # as the cell says it: escaped once, when shown
        took = f" <small>{duration:.2f} s</small>" if duration is not None else ""
        label.value = f"<code>{name}</code> {html.escape(text)} — {status}{took}"

    def _render_header(self) -> None:
        i = self.info
        color = {"SUCCEEDED": "green", "FAILED": "red", "LOST": "red", "TIMED_OUT": "orange"}.get(i.state, "")
        params = ", ".join(f"{html.escape(k)}={html.escape(repr(v))}" for k, v in i.parameters.items())
        error = f"<br><span style='color:red'>{html.escape(i.error['message'])}</span>" if i.error else ""
        self.header.value = (
            f"<b>run {i.id}</b> of <code>{html.escape(i.notebook)}</code> on {html.escape(i.backend)}: "
            f"<b style='color:{color}'>{i.state}</b> {seconds(i.duration)}"
            + (f"<br>parameters: {params}" if params else "")
            + error
        )

    def _finished(self, info: RunInfo) -> None:
        """The run is over (its `run.finished` event comes just before its final state is recorded)."""
        self.info = info
        self._render_header()
        self.cancel_button.disabled = True
        self.cancel_button.layout.display = "none"  # nothing left to cancel: no bright button after the end
        parts = []
        if self.info.executed:
            try:
                path = service.fetch(self.project, self.info.id)
                rel = os.path.relpath(path, Path.cwd())
                parts.append(
                    f"<a href='{html.escape(rel, quote=True)}' target='_blank'>executed notebook</a>"
                )
            except Exception as exc:  # noqa: BLE001 - the run is done; say why its outputs did not come back
                parts.append(f"outputs not fetched: {html.escape(str(exc))}")
        link = mlflow_link(self.info)
        if link:
            parts.append(
                f"<a href='{html.escape(link, quote=True)}' target='_blank' rel='noopener'>MLflow run</a>"
            )
        elif self.info.mlflow:
            parts.append(f"MLflow run <code>{html.escape(str(self.info.mlflow.get('run_id')))}</code>")
        self.links.value = " · ".join(parts)

    def _cancel(self, _button: Any) -> None:
        self.cancel_button.disabled = True
        self.cancel_button.description = "Cancelling…"
        threading.Thread(target=service.cancel, args=(self.project, self.info.id), daemon=True).start()

    # -- following ---------------------------------------------------------------------------------------

    def wait(self) -> RunInfo:
        """Follow the run in the foreground; an interrupt (the stop button) cancels it."""
        try:
            self._finished(service.wait(self.project, self.info.id, self.on_event))
        except KeyboardInterrupt:
            self._finished(service.cancel(self.project, self.info.id))
        return self.info

    def follow(self) -> None:
        """Follow the run from a background thread."""

        def loop() -> None:
            try:
                self._finished(service.wait(self.project, self.info.id, self.on_event))
            except Exception as exc:  # noqa: BLE001 - shown in the view instead of dying silently
                self.links.value = (
                    f"<span style='color:red'>stopped following: {html.escape(str(exc))}</span>"
                )

        self._thread = threading.Thread(target=loop, name=f"nblift-run-{self.info.id}", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> RunInfo:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.info

    def to_json(self) -> dict[str, Any]:
        return self.info.to_json()

    @property
    def terminal(self) -> bool:
        return RunState(self.info.state).terminal
