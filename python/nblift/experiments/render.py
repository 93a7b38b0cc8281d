"""Text and HTML renderings of the runs table and of a comparison (every value escaped in HTML)."""

from __future__ import annotations

import time
from html import escape
from typing import Any

from ..render import grid_html, grid_text

COLORS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
)


def _when(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000)) if ms else ""


def _number(value: Any) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _table(page: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    metrics = page["keys"]["metrics"][:4]
    params = page["keys"]["params"][:4]
    headers = ["run id", "name", "status", "started", *metrics, *params]
    rows = [
        [
            r["run_id"],
            r["name"] or "",
            r["status"],
            _when(r["start_time"]),
            *(_number(r["metrics"].get(k)) for k in metrics),
            *(r["params"].get(k, "") for k in params),
        ]
        for r in page["runs"]
    ]
    return headers, rows


def _footer(page: dict[str, Any]) -> str:
    shown, total = len(page["runs"]), page["total"]
    return f"{shown} of {total} runs" if total is not None else f"{shown} runs"


def experiments_text(page: dict[str, Any]) -> str:
    headers, rows = _table(page)
    title = f"experiment {page['experiment']['name']} ({_footer(page)})"
    return title + "\n" + (grid_text(headers, rows) if rows else "no runs match")


def experiments_html(page: dict[str, Any]) -> str:
    headers, rows = _table(page)
    title = f"<p><b>{escape(page['experiment']['name'])}</b>: {escape(_footer(page))}</p>"
    return title + (grid_html(headers, rows) if rows else "<p>no runs match</p>")


def experiments_json(page: dict[str, Any]) -> Any:
    return page


def compare_text(result: dict[str, Any]) -> str:
    runs = result["runs"]
    headers = ["", *(r["name"] or r["run_id"][:8] for r in runs)]
    rows = [
        [("* " if p["differs"] else "  ") + p["key"], *(p["values"].get(r["run_id"]) or "" for r in runs)]
        for p in result["params"]
    ]
    for key in result["metrics"]:
        rows.append(["  " + key, *(_number(r["metrics"].get(key)) for r in runs)])
    return grid_text(headers, rows) + "\n(* parameters that differ; metrics are the latest values)"


def _plot(key: str, series: dict[str, list[list[float]]], names: dict[str, str]) -> str:
    width, height, pad = 360, 160, 28
    points = [(s, v) for line in series.values() for s, v, _ in line]
    if not points:
        return ""
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    sx = (width - 2 * pad) / ((x1 - x0) or 1)
    sy = (height - 2 * pad) / ((y1 - y0) or 1)
    lines = []
    for n, (run_id, line) in enumerate(series.items()):
        coords = " ".join(f"{pad + (s - x0) * sx:.1f},{height - pad - (v - y0) * sy:.1f}" for s, v, _ in line)
        color = COLORS[n % len(COLORS)]
        lines.append(
            f"<polyline fill='none' stroke='{color}' stroke-width='1.5' points='{coords}'>"
            f"<title>{escape(names[run_id])}</title></polyline>"
        )
    axes = (
        f"<text x='{pad}' y='{height - 8}' font-size='10'>{x0:g}</text>"
        f"<text x='{width - pad}' y='{height - 8}' font-size='10' text-anchor='end'>{x1:g}</text>"
        f"<text x='2' y='{pad}' font-size='10'>{y1:.4g}</text>"
        f"<text x='2' y='{height - pad}' font-size='10'>{y0:.4g}</text>"
    )
    return (
        f"<figure><figcaption>{escape(key)} by step</figcaption>"
        f"<svg width='{width}' height='{height}' role='img' aria-label='{escape(key, quote=True)}'>"
        f"{axes}{''.join(lines)}</svg></figure>"
    )


def compare_html(result: dict[str, Any]) -> str:
    runs = result["runs"]
    names = {r["run_id"]: r["name"] or r["run_id"][:8] for r in runs}
    legend = " ".join(
        f"<span style='color:{COLORS[n % len(COLORS)]}'>&#9632; {escape(names[r['run_id']])}</span>"
        for n, r in enumerate(runs)
    )
    head = "".join(f"<th>{escape(names[r['run_id']])}</th>" for r in runs)
    body = "".join(
        f"<tr style='{'background:#fff3cd' if p['differs'] else ''}'><td>{escape(p['key'])}</td>"
        + "".join(f"<td>{escape(str(p['values'].get(r['run_id']) or ''))}</td>" for r in runs)
        + "</tr>"
        for p in result["params"]
    )
    plots = "".join(_plot(key, series, names) for key, series in result["metrics"].items())
    return f"<div>{legend}</div><table><tr><th>parameter</th>{head}</tr>{body}</table>{plots}"


def compare_json(result: dict[str, Any]) -> Any:
    return result
