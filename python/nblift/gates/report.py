"""Reports of gate results: a static HTML page for a drift comparison (inline CSS and SVG histograms, no
scripts, nothing fetched from elsewhere) and Markdown verdict tables for CI systems to show."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fsutil import atomic_write, ensure_dir

if TYPE_CHECKING:
    from .drift import DriftResult
    from .summaries import ColumnSummary

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}"
    ".bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}svg{display:block}"
    ".legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem}"
)
_BINS = 24


def _shares(ref: ColumnSummary, cur: ColumnSummary) -> tuple[list[str], list[float], list[float]]:
    """Both columns' shares over the same categories or bins, for the picture."""
    import numpy as np

    if ref.kind == "cat" or (ref.shape == "discrete" and cur.shape == "discrete"):
        mine, theirs = ref.counts(), cur.counts()
        keys = sorted(set(mine) | set(theirs), key=lambda k: -(mine.get(k, 0) + theirs.get(k, 0)))[:_BINS]
        return (
            [str(k) for k in keys],
            [mine.get(k, 0) / max(ref.n, 1) for k in keys],
            [theirs.get(k, 0) / max(cur.n, 1) for k in keys],
        )
    low, high = min(ref.minimum, cur.minimum), max(ref.maximum, cur.maximum)
    edges = np.linspace(low, high if high > low else low + 1, _BINS + 1)

    def shares(s: ColumnSummary) -> list[float]:
        cdf = s.cdf(edges)
        cdf[-1] = 1.0
        return [float(v) for v in np.diff(np.concatenate([[0.0], cdf[1:]]))]

    return [f"{e:.3g}" for e in edges[:-1]], shares(ref), shares(cur)


def histogram_svg(ref: ColumnSummary, cur: ColumnSummary) -> str:
    labels, r, c = _shares(ref, cur)
    top = max([*r, *c, 1e-12])
    width, height, n = 240, 60, max(len(labels), 1)
    step = width / n
    bars = []
    for i, label in enumerate(labels):
        for j, (value, colour) in enumerate(((r[i], "#7a9cc6"), (c[i], "#e08a3c"))):
            h = height * value / top
            bars.append(
                f'<rect x="{i * step + j * step / 2:.1f}" y="{height - h:.1f}" width="{step / 2:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{html.escape(label)}: {value:.3%}</title></rect>'
            )
    return f'<svg width="{width}" height="{height}" role="img">{"".join(bars)}</svg>'


def drift_html(result: DriftResult) -> str:
    e = html.escape
    ref, cur = result.summaries if result.summaries is not None else (None, None)
    rows = []
    for col in sorted(result.columns, key=lambda c: (not c.drifted, c.column)):
        picture = ""
        both = ref is not None and col.column in ref.columns and col.column in cur.columns
        if both and ref.columns[col.column].kind == cur.columns[col.column].kind:
            picture = histogram_svg(ref.columns[col.column], cur.columns[col.column])
        verdict = '<span class="bad">drifted</span>' if col.drifted else '<span class="ok">stable</span>'
        value = "" if col.value is None else f"{col.value:.4g}"
        rows.append(
            f"<tr><td>{e(col.column)}</td><td>{e(col.kind)}</td><td>{e(col.test)}</td><td>{value}</td>"
            f"<td>{col.threshold:.4g}</td><td>{verdict}</td><td>{e(col.detail)}</td><td>{picture}</td></tr>"
        )
    status = "passed" if result.passed else "FAILED"
    head = (
        f"<h1>Drift: {e(result.current)} against {e(result.reference)}</h1>"
        f'<p><b class="{"ok" if result.passed else "bad"}">{status}</b>: {len(result.drifted)} of '
        f"{len(result.columns)} columns drifted ({result.share:.1%}; allowed {result.max_share:.1%}). "
        f"Rows: {result.rows[0]:,} reference, {result.rows[1]:,} current.</p>"
        f"<p>Reference <code>{e(result.reference_digest)}</code>, current "
        f"<code>{e(result.current_digest)}</code>.</p>"
        '<p class="legend"><span style="background:#7a9cc6"></span>reference'
        '<span style="background:#e08a3c"></span>current</p>'
    )
    table = (
        "<table><thead><tr><th>column</th><th>kind</th><th>test</th><th>value</th><th>threshold</th>"
        "<th>verdict</th><th>detail</th><th>distribution</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>nblift drift report</title>'
        f"<style>{_CSS}</style></head><body>{head}{table}</body></html>"
    )


def write_html(result: DriftResult, path: Path) -> Path:
    ensure_dir(path.parent)
    atomic_write(path, drift_html(result).encode())
    result.report = str(path)
    return path


def _cell(value: Any) -> str:
    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def drift_markdown(result: DriftResult) -> str:
    status = "passed" if result.passed else "failed"
    rows = [
        [
            c.column,
            c.test,
            "" if c.value is None else f"{c.value:.4g}",
            f"{c.threshold:.4g}",
            "**drifted**" if c.drifted else "stable",
            c.detail,
        ]
        for c in sorted(result.columns, key=lambda c: (not c.drifted, c.column))
    ]
    lines = [
        f"### Drift: {status}",
        "",
        f"`{_cell(result.current)}` against `{_cell(result.reference)}`: {len(result.drifted)} of "
        f"{len(result.columns)} columns drifted (allowed share {result.max_share:.0%}).",
        "",
        markdown_table(["column", "test", "value", "threshold", "verdict", "detail"], rows),
    ]
    if result.report:
        lines += ["", f"HTML report: `{_cell(result.report)}`"]
    return "\n".join(lines) + "\n"


def write_markdown(text: str, path: Path) -> Path:
    ensure_dir(path.parent)
    atomic_write(path, text.encode())
    return path
