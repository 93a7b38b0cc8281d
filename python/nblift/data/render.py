"""Text (terminal), HTML (notebook) and JSON renderings of `nblift data` (every value escaped in HTML)."""

from __future__ import annotations

from html import escape
from typing import Any

from ..render import grid_html, grid_text, human_bytes
from .report import DataReport, InputStatus

HEADERS = ("input", "kind", "state", "size", "hash", "note")
_EMPTY = (
    "no data inputs: track files or folders with `nblift track PATH`, or record data with DVC "
    "(`dvc add PATH`)"
)


def _size(i: InputStatus) -> str:
    if i.entry.size is None:
        return "-"
    files = f" in {i.entry.files} files" if i.entry.files is not None and i.entry.kind != "file" else ""
    return human_bytes(i.entry.size) + files


def short_hash(value: str | None) -> str:
    """`algorithm:` and the first 12 hex digits of a hash; `-` for none."""
    if not value:
        return "-"
    algorithm, _, digest = value.partition(":")
    return f"{algorithm}:{digest[:12]}"


def _rows(report: DataReport) -> list[tuple[str, ...]]:
    return [
        (i.entry.uri, i.entry.kind, i.status, _size(i), short_hash(i.entry.hash), i.note)
        for i in report.inputs
    ]


def _footer(report: DataReport) -> list[str]:
    lines = [
        f"compared with {report.baseline}" if report.baseline else "no snapshot or run has recorded data yet"
    ]
    if report.dropped:
        lines.append(f"no longer inputs: {', '.join(report.dropped)}")
    return lines


def data_text(report: DataReport) -> str:
    if not report.inputs:
        return _EMPTY
    return "\n".join([grid_text(HEADERS, _rows(report)), "", *_footer(report)])


def data_html(report: DataReport) -> str:
    if not report.inputs:
        return f"<p>{escape(_EMPTY)}</p>"
    footer = "".join(f"<p>{escape(line)}</p>" for line in _footer(report))
    return f"<div class='nblift-data'>{grid_html(HEADERS, _rows(report))}{footer}</div>"


def data_json(report: DataReport) -> dict[str, Any]:
    return report.to_json()


def data_failed(report: DataReport) -> bool:
    return report.failed
