"""Text and HTML renderings of snapshot results (every value escaped in HTML)."""

from __future__ import annotations

from html import escape
from typing import Any

from ..data.render import short_hash
from ..render import grid_html, grid_text, human_bytes, lines_html, when
from .bundle import BundleResult
from .core import RestoreResult, SnapshotResult
from .diff import RunDiff, SnapshotDiff
from .plan import RestorePlan
from .verify import VerifyResult


def _changes(result: SnapshotResult) -> str:
    parts = []
    if result.added:
        parts.append("added " + ", ".join(result.added[:8]) + ("…" if len(result.added) > 8 else ""))
    if result.changed:
        parts.append("changed " + ", ".join(result.changed[:8]) + ("…" if len(result.changed) > 8 else ""))
    if result.removed:
        parts.append("removed " + ", ".join(result.removed[:8]))
    return "; ".join(parts) or "nothing changed"


def _snapshot_lines(r: SnapshotResult) -> list[str]:
    if r.state == "saving":
        return [
            f"snapshot {r.id}: saving in the background (the kernel was busy {r.seconds * 1000:.0f} ms); "
            "`%lift snapshots` lists it once written, `--wait` writes in the foreground"
        ]
    lines = [
        f"snapshot {r.id}: {r.variables} variables, {_changes(r)}",
        f"{human_bytes(r.new_bytes)} new in {r.seconds * 1000:.0f} ms",
    ]
    if r.redacted:
        lines.append("not stored (look like secrets): " + ", ".join(r.redacted))
    lines += [f"warning: {w}" for w in r.warnings]
    return lines


def snapshot_text(r: SnapshotResult | VerifyResult) -> str:
    return "\n".join(r.lines() if isinstance(r, VerifyResult) else _snapshot_lines(r))


def snapshot_html(r: SnapshotResult | VerifyResult) -> str:
    return lines_html(r.lines() if isinstance(r, VerifyResult) else _snapshot_lines(r), "nblift-snapshot")


def _restore_lines(r: RestoreResult) -> list[str]:
    lines = [
        f"restored {len(r.restored)} variables from {r.id} in {r.seconds * 1000:.0f} ms"
        + (f": {', '.join(r.restored[:10])}" if r.restored else "")
    ]
    if r.rerun:
        lines.append("re-ran the cells that made: " + ", ".join(r.rerun))
    lines += [f"not restored: {name}: {why}" for name, why in r.failed.items()]
    lines += [
        f"restored without a part it held: {name}: {'; '.join(parts)}" for name, parts in r.partial.items()
    ]
    lines += [
        f"not stored: {name}: {why} (use --rerun to re-run the cell that made it)"
        for name, why in r.unstorable.items()
    ]
    if r.redacted:
        lines.append("secrets are never stored; set these again: " + ", ".join(r.redacted))
    return lines


def restore_text(r: RestoreResult | RestorePlan) -> str:
    return "\n".join(r.lines() if isinstance(r, RestorePlan) else _restore_lines(r))


def restore_html(r: RestoreResult | RestorePlan) -> str:
    return lines_html(r.lines() if isinstance(r, RestorePlan) else _restore_lines(r), "nblift-restore")


LIST_HEADERS = ("id", "time", "message", "variables", "size", "what changed")


def list_rows(manifests: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    rows = []
    for m in manifests:
        summary = m.get("summary", {})
        size = sum(e.get("size", 0) for e in m.get("encodings", {}).values())
        changed = summary.get("added", []) + summary.get("changed", [])
        what = ", ".join(changed[:6]) + ("…" if len(changed) > 6 else "") if changed else "-"
        if summary.get("removed"):
            what += f" (removed {', '.join(summary['removed'][:4])})"
        message = m.get("message") or ("(auto)" if m.get("auto") else "")
        rows.append(
            (
                m["id"],
                when(m.get("created", 0)),
                message,
                str(len(m.get("variables", {}))),
                human_bytes(size),
                what,
            )
        )
    return rows


def _show_lines(m: dict[str, Any]) -> list[str]:
    lines = [
        f"snapshot {m['id']} ({when(m['created'])}) {m.get('message', '')}".rstrip(),
        f"trusted: {'yes' if m.get('trusted') else 'NO (run `nblift snapshots trust ' + m['id'] + '`)'}",
    ]
    git = m.get("git") or {}
    if git:
        lines.append(
            f"git: {git.get('branch')} {git.get('commit')}"
            + (" (uncommitted changes)" if git.get("dirty") else "")
        )
    env = m.get("environment", {})
    lines.append(
        f"python {env.get('python')} on {env.get('platform')}, {len(env.get('packages', {}))} packages"
    )
    for name, var in sorted(m.get("variables", {}).items()):
        extra = f" ({var['reason']})" if var.get("reason") else ""
        lines.append(
            f"  {name}: {var.get('type', '?')} {var['status']} {human_bytes(var.get('size', 0))}{extra}"
        )
    lines += [f"warning: {w}" for w in m.get("warnings", [])]
    return lines


TRACK_HEADERS = ("path", "size", "blake3")


def _track_rows(files: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (f["path"], human_bytes(f["size"]) if f["size"] is not None else "missing", (f["hash"] or "-")[:16])
        for f in files
    ]


def _run_line(run: dict[str, Any]) -> str:
    if run["state"] == "RUNNING":
        return f"MLflow run {run['run_id']} started: nblift.log writes to it until `%lift track stop`"
    return f"MLflow run {run['run_id']} ended {run['state']}"


def track_text(files: list[dict[str, Any]] | dict[str, Any]) -> str:
    if isinstance(files, dict):
        return _run_line(files)
    return (
        grid_text(TRACK_HEADERS, _track_rows(files))
        if files
        else "no data files tracked (`nblift track PATH`)"
    )


def track_html(files: list[dict[str, Any]] | dict[str, Any]) -> str:
    if isinstance(files, dict):
        return lines_html([_run_line(files)], "nblift-track")
    return grid_html(TRACK_HEADERS, _track_rows(files)) if files else "<p>no data files tracked</p>"


def diff_lines(d: SnapshotDiff) -> list[str]:
    lines = [f"{d.a} -> {d.b}: {d.unchanged} unchanged"]
    if d.added:
        lines.append("added: " + ", ".join(d.added))
    if d.removed:
        lines.append("removed: " + ", ".join(d.removed))
    lines += [f"changed: {c['name']} ({c['what']})" for c in d.changed]
    for cell in d.cells_added:
        first = cell["source"].strip().splitlines()[0] if cell["source"].strip() else ""
        lines.append(f"ran [{cell['count']}]: {first[:80]}")
    if d.python:
        lines.append(f"python: {d.python[0]} -> {d.python[1]}")
    lines += [f"package {p['name']}: {p['a'] or '-'} -> {p['b'] or '-'}" for p in d.packages]
    lines += [f"data {x['uri']}: {short_hash(x['a'])} -> {short_hash(x['b'])}" for x in d.data]
    if d.git:
        lines.append(f"git commit: {d.git[0]} -> {d.git[1]}")
    return lines


def _value(v: Any) -> str:
    return "-" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)


def _input_version(v: dict[str, Any] | None) -> str:
    if v is None:
        return "-"
    shown = short_hash(v.get("hash"))
    return shown + (f" ({v['version']})" if v.get("version") and v["version"] != v.get("hash") else "")


def run_diff_lines(d: RunDiff) -> list[str]:
    a, b = d.labels or (d.a, d.b)
    lines = [f"run {a} -> run {b}: {d.unchanged} unchanged"]
    lines += [f"param {p['key']}: {_value(p['a'])} -> {_value(p['b'])}" for p in d.params]
    lines += [f"metric {m['key']}: {_value(m['a'])} -> {_value(m['b'])}" for m in d.metrics]
    lines += [f"data {x['uri']}: {_input_version(x['a'])} -> {_input_version(x['b'])}" for x in d.data]
    return lines


def run_diff_html(d: RunDiff) -> str:
    a, b = d.labels or (d.a, d.b)
    rows = [["param", p["key"], _value(p["a"]), _value(p["b"])] for p in d.params]
    rows += [["metric", m["key"], _value(m["a"]), _value(m["b"])] for m in d.metrics]
    rows += [["data", x["uri"], _input_version(x["a"]), _input_version(x["b"])] for x in d.data]
    head = f"<p>{escape(run_diff_lines(d)[0])}</p>"
    return head + (grid_html(["what", "name", f"run {a}", f"run {b}"], rows) if rows else "")


def diff_text(d: SnapshotDiff | RunDiff) -> str:
    return "\n".join(run_diff_lines(d) if isinstance(d, RunDiff) else diff_lines(d))


def diff_html(d: SnapshotDiff | RunDiff) -> str:
    return run_diff_html(d) if isinstance(d, RunDiff) else lines_html(diff_lines(d), "nblift-diff")


def diff_json(d: SnapshotDiff | RunDiff) -> dict[str, Any]:
    """The diff's fields and the lines every door shows (the panel prints `lines`; it formats nothing);
    `compared` says whether two snapshots or two runs were compared."""
    if isinstance(d, RunDiff):
        return d.to_json() | {"compared": "runs", "lines": run_diff_lines(d)}
    return d.to_json() | {"compared": "snapshots", "lines": diff_lines(d)}


def trusted_message(manifest: dict[str, Any]) -> str:
    return f"snapshot {manifest['id']} is now signed with your key"


def manage_text(result: tuple[str, Any]) -> str:
    kind, value = result
    if kind == "list":
        return grid_text(LIST_HEADERS, list_rows(value)) if value else "no snapshots yet (`%lift snapshot`)"
    if kind == "show":
        return "\n".join(_show_lines(value))
    if kind == "diff":
        return diff_text(value)
    if kind == "verify":
        return "\n".join(value.lines())
    if kind == "bundle":
        b: BundleResult = value
        return f"snapshot {b.id}: {b.objects} objects, {human_bytes(b.bytes)} ({b.path})"
    if kind == "gc":
        return (
            f"deleted {len(value.deleted_snapshots)} automatic snapshots, removed {value.removed_objects} "
            f"objects, freed {human_bytes(value.freed_bytes)}"
        )
    return str(value)


def manage_html(result: tuple[str, Any]) -> str:
    kind, value = result
    if kind == "list":
        return grid_html(LIST_HEADERS, list_rows(value)) if value else "<p>no snapshots yet</p>"
    if kind == "diff":
        return diff_html(value)
    return "<pre>" + escape(manage_text(result)) + "</pre>"


def summary_json(m: dict[str, Any]) -> dict[str, Any]:
    """What the panels need of a manifest (no signature, no encodings)."""
    return {
        "id": m["id"],
        "created": m.get("created"),
        "message": m.get("message", ""),
        "auto": bool(m.get("auto")),
        "parent": m.get("parent"),
        "variables": {
            n: {k: v.get(k) for k in ("type", "status", "size", "reason", "cell")}
            for n, v in m.get("variables", {}).items()
        },
        "summary": m.get("summary", {}),
        "warnings": m.get("warnings", []),
        "git": m.get("git"),
        "size": sum(e.get("size", 0) for e in m.get("encodings", {}).values()),
        "trusted": m.get("trusted"),
    }


def manage_json(result: tuple[str, Any]) -> Any:
    kind, value = result
    if kind == "list":
        return {"snapshots": [summary_json(m) for m in value]}
    if kind == "show":
        return summary_json(value)
    if kind == "diff":
        return diff_json(value)
    if kind in ("bundle", "gc", "verify"):
        return value.to_json()
    return {"message": value}
