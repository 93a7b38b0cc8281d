"""Text (terminal) and HTML (notebook) renderings of core results. Every value is escaped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from typing import Any

from .backends.registry import backend_summary
from .collect import GcReport
from .fsck import FsckReport
from .status import Status


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def yaml_text(data: Any) -> str:
    """YAML as people write it by hand: keys in their order, multi-line strings (scripts) as `|` blocks."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return yaml.dump(data, Dumper=Dumper, sort_keys=False, width=1000, default_flow_style=False)


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def fsck_summary(report: FsckReport | None) -> str:
    if report is None:
        return "never checked (run `nblift fsck`)"
    if report.ok:
        return f"ok: {report.checked} objects verified at {_when(report.finished_at)}"
    problems = []
    if report.corrupt:
        problems.append(f"{len(report.corrupt)} corrupt")
    if report.missing:
        problems.append(f"{len(report.missing)} missing")
    if report.unreadable_refs:
        problems.append(f"{len(report.unreadable_refs)} unreadable refs")
    return f"PROBLEMS: {', '.join(problems)} (checked {_when(report.finished_at)})"


def _status_rows(status: Status) -> list[tuple[str, str]]:
    return [
        ("nblift", status.version),
        ("project", status.project_root),
        ("state folder", status.state_dir),
        ("tracking", status.tracking_uri + (" (embedded)" if status.tracking_embedded else "")),
        ("store", f"{status.store.objects} objects, {human_bytes(status.store.bytes)}"),
        ("fsck", fsck_summary(status.fsck)),
        *([("kernel runs on", str(status.kernel["text"]))] if status.kernel else []),
    ]


def _backend_rows(status: Status) -> list[tuple[str, str]]:
    rows = []
    for b in status.backends:
        rows.append((b.name, f"{backend_summary(b)} [{b.source}]"))
    return rows


def pairs_text(rows: Sequence[tuple[str, str]]) -> str:
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def pairs_html(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th style='text-align:left'>{escape(k)}</th><td style='text-align:left'>{escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"


def status_text(status: Status) -> str:
    backends = _backend_rows(status)
    text = pairs_text(_status_rows(status)) + "\n\nbackends\n"
    return text + (pairs_text(backends) if backends else "(none installed)")


def status_html(status: Status) -> str:
    backends = _backend_rows(status)
    return (
        "<div class='nblift-status'><h4>nblift status</h4>"
        + pairs_html(_status_rows(status))
        + "<h5>Backends</h5>"
        + (pairs_html(backends) if backends else "<p>(none installed)</p>")
        + "</div>"
    )


def _fsck_rows(report: FsckReport) -> list[tuple[str, str]]:
    rows = [("result", fsck_summary(report)), ("temp files", str(report.temp_files))]
    rows += [("corrupt", oid) for oid in report.corrupt]
    rows += [("missing", f"{m['object']} (needed by {m['ref']})") for m in report.missing]
    rows += [("unreadable ref", ref) for ref in report.unreadable_refs]
    return rows


def fsck_text(report: FsckReport) -> str:
    return pairs_text(_fsck_rows(report))


def fsck_html(report: FsckReport) -> str:
    return pairs_html(_fsck_rows(report))


def _gc_rows(report: GcReport) -> list[tuple[str, str]]:
    return [
        ("removed objects", str(report.removed_objects)),
        ("removed temp files", str(report.removed_temp_files)),
        ("freed", human_bytes(report.freed_bytes)),
        ("kept (younger than the grace period)", str(report.kept_recent)),
    ]


def gc_text(report: GcReport) -> str:
    return pairs_text(_gc_rows(report))


def gc_html(report: GcReport) -> str:
    return pairs_html(_gc_rows(report))


def grid_text(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table with a header row, columns padded to their widest cell."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in (headers, *rows)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def grid_html(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th style='text-align:left'>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td style='text-align:left'>{escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def lines_html(lines: Sequence[str], css_class: str) -> str:
    """Lines of a text report as HTML: one escaped <div> each, inside a div of `css_class`."""
    return f"<div class='{css_class}'>" + "".join(f"<div>{escape(x)}</div>" for x in lines) + "</div>"


def when(timestamp: float) -> str:
    return _when(timestamp)
