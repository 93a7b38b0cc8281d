"""Text and HTML renderings of run results (every value escaped in HTML)."""

from __future__ import annotations

import json
from typing import Any

from ..render import grid_html, grid_text, lines_html, when
from .events import EventKind
from .model import RunInfo

RUNS_HEADERS = ("id", "state", "notebook", "backend", "started", "duration", "parameters")


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    return f"{minutes} min {secs:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def mlflow_link(info: RunInfo) -> str | None:
    """The MLflow UI address of the run, when its tracking store is a server."""
    m = info.mlflow or {}
    uri = str(m.get("tracking_uri") or "")
    if uri.startswith(("http://", "https://")) and m.get("run_id"):
        return f"{uri.rstrip('/')}/#/experiments/{m.get('experiment_id')}/runs/{m['run_id']}"
    return None


def cost_line(cost: dict[str, Any], finished: bool) -> str:
    """`cost: $0.42 at $2.50/h (ssh_hosts.box hourly_cost); estimate ~$0.40; budget $5.00`."""
    spent = cost.get("spent")
    line = f"cost: ${spent:.2f}" if spent is not None else "cost:"
    line += f"{'' if finished else ' so far'} at ${cost['hourly']:.2f}/h ({cost.get('source')})"
    if cost.get("estimate") is not None:
        line += f"; estimate ~${cost['estimate']:.2f}"
    if cost.get("budget") is not None:
        line += f"; budget ${cost['budget']:.2f}"
    return line


def _run_lines(info: RunInfo) -> list[str]:
    lines = [f"run {info.id}: {info.state} ({info.notebook} on {info.backend})"]
    if info.parameters:
        lines.append("parameters: " + json.dumps(info.parameters))
    if info.duration is not None:
        lines.append(f"duration: {seconds(info.duration)}")
    if info.cost:
        lines.append(cost_line(info.cost, finished=info.finished is not None))
    if info.error:
        lines.append(f"error: {info.error.get('message')}")
        if info.error.get("traceback") and info.error.get("ename"):
            lines += str(info.error["traceback"]).rstrip().splitlines()[-12:]
    if info.mlflow:
        lines.append(
            f"MLflow run {info.mlflow.get('run_id')} (experiment {info.mlflow.get('experiment_id')}, "
            f"{info.mlflow.get('status', '').lower()})"
        )
    if info.state in ("PENDING", "RUNNING"):
        lines.append(f"follow it with `nblift logs -f {info.id}`; stop it with `nblift cancel {info.id}`")
    elif info.executed:
        lines.append(f"`nblift fetch {info.id}` copies the executed notebook and artifacts here")
    return lines


def run_text(result: Any) -> str:
    info = getattr(result, "info", result)
    return "\n".join(_run_lines(info))


def run_html(result: Any) -> str:
    info = getattr(result, "info", result)
    html = lines_html(_run_lines(info), "nblift-run")
    link = mlflow_link(info)
    if link:
        from html import escape

        html += f"<a href='{escape(link, quote=True)}' target='_blank' rel='noopener'>open the MLflow run</a>"
    return html


def run_json(result: Any) -> Any:
    return getattr(result, "info", result).to_json()


def run_failed(result: Any) -> bool:
    return getattr(result, "info", result).state not in ("SUCCEEDED", "PENDING", "RUNNING")


def _rows(runs: list[RunInfo]) -> list[tuple[str, ...]]:
    return [
        (
            r.id,
            r.state,
            r.notebook,
            r.backend,
            when(r.started or r.created),
            seconds(r.duration),
            ", ".join(f"{k}={v}" for k, v in r.parameters.items())[:60],
        )
        for r in runs
    ]


def runs_text(runs: list[RunInfo]) -> str:
    return (
        grid_text(RUNS_HEADERS, _rows(runs)) if runs else "no runs yet: start one with `nblift run NOTEBOOK`"
    )


def runs_html(runs: list[RunInfo]) -> str:
    return (
        grid_html(RUNS_HEADERS, _rows(runs))
        if runs
        else "<p>no runs yet: start one with <code>%lift run</code></p>"
    )


def runs_json(runs: list[RunInfo]) -> Any:
    return {"runs": [r.to_json() for r in runs]}


def _log_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for event in result["events"]:
        kind = event.get("kind")
        if kind == EventKind.OUTPUT:
            lines += str(event.get("text", "")).rstrip("\n").splitlines()
        elif kind == EventKind.CELL_STARTED:
            lines.append(f"--- cell {event.get('cell') or '(parameters)'}: {event.get('label', '')}")
        elif kind == EventKind.METRIC:
            lines.append(f"metric {event.get('name')}={event.get('value')} step {event.get('step')}")
        elif kind == EventKind.CELL_ERROR:
            shown = str(event.get("traceback") or f"{event.get('ename')}: {event.get('evalue')}")
            lines += shown.rstrip("\n").splitlines()
        elif kind == EventKind.RUN_FINISHED:
            message = (event.get("error") or {}).get("message")
            lines.append(f"--- {event.get('state')}" + (f": {message}" if message else ""))
    return lines


def logs_text(result: dict[str, Any]) -> str:
    return "\n".join(_log_lines(result) or [f"run {result['run'].id} has no output yet"])


def logs_html(result: dict[str, Any]) -> str:
    from html import escape

    return f"<pre>{escape(logs_text(result))}</pre>"


def logs_json(result: dict[str, Any]) -> Any:
    return {"run": result["run"].to_json(), "events": result["events"]}


def fetch_text(result: dict[str, Any]) -> str:
    return f"run {result['id']}: outputs copied; executed notebook at {result['path']}"


def fetch_html(result: dict[str, Any]) -> str:
    return lines_html([fetch_text(result)], "nblift-fetch")
