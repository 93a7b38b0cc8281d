"""Text and HTML renderings of the registry verbs (every value escaped in HTML)."""

from __future__ import annotations

import time
from html import escape
from typing import Any

from ..render import grid_html, grid_text, pairs_html, pairs_text


def _when(seconds: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else ""


def _register_rows(r: Any) -> list[tuple[str, str]]:
    rows = [
        ("Model", f"{r.name} v{r.version}"),
        ("URI", r.uri),
        ("Flavor", r.flavor),
        ("MLflow run", r.run_id),
        ("Alias", r.alias or ""),
        ("Requirements", ", ".join(r.requirements)),
    ]
    installed = [n for n, s in r.requirement_sources.items() if s == "installed"]
    if installed:
        rows.append(("Not in the lock", ", ".join(installed) + " (pinned at the installed version)"))
    for key in ("nblift.snapshot", "nblift.lock", "nblift.git_commit", "nblift.notebook"):
        if r.tags.get(key):
            rows.append((key.split(".", 1)[1], r.tags[key]))
    return rows


def register_text(r: Any) -> str:
    return pairs_text(_register_rows(r))


def register_html(r: Any) -> str:
    return pairs_html(_register_rows(r))


def _models_table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    if "versions" in result:
        headers = ["version", "aliases", "flavor", "registered by", "created", "gates"]
        rows = [
            [
                v["version"],
                ", ".join(v["aliases"]),
                v["flavor"] or "",
                v["registered_by"] or "",
                _when(v["created"]),
                "; ".join(f"{a}: {s}" for a, s in v["gates"].items()),
            ]
            for v in result["versions"]
        ]
        return headers, rows
    headers = ["model", "latest", "aliases", "updated"]
    rows = [
        [
            m["name"],
            m["latest_version"] or "",
            ", ".join(f"{a}=v{v}" for a, v in m["aliases"].items()),
            _when(m["updated"]),
        ]
        for m in result["models"]
    ]
    return headers, rows


def models_text(result: dict[str, Any]) -> str:
    headers, rows = _models_table(result)
    title = f"{result['name']}\n" if "name" in result else ""
    return title + (grid_text(headers, rows) if rows else "Nothing registered yet (`%lift register`).")


def models_html(result: dict[str, Any]) -> str:
    headers, rows = _models_table(result)
    title = f"<h4>{escape(result['name'])}</h4>" if "name" in result else ""
    return title + (
        grid_html(headers, rows) if rows else "<p>Nothing registered yet (<code>%lift register</code>).</p>"
    )


def alias_text(r: dict[str, Any]) -> str:
    if r["version"] is None:
        return f"{r['name']}@{r['alias']} removed (was v{r['previous']})"
    moved = f" (was v{r['previous']})" if r["previous"] else ""
    return f"{r['name']}@{r['alias']} -> v{r['version']}{moved}"


def alias_html(r: dict[str, Any]) -> str:
    return f"<p>{escape(alias_text(r))}</p>"


def _gate_rows(p: Any) -> list[list[str]]:
    return [["passed" if g.passed else "FAILED", g.kind, g.label, g.detail] for g in p.gates]


def _verdict(p: Any) -> str:
    target = f"{p.name}@{p.alias}"
    if p.promoted and p.overridden:
        return f"{target} -> v{p.version}: OVERRIDDEN (gates failed; reason: {p.reason})"
    if p.promoted:
        return f"{target} -> v{p.version}: promoted" + (f" (was v{p.previous})" if p.previous else "")
    if p.passed:
        return f"{target}: v{p.version} passes every gate (dry run: nothing changed)"
    return f"{target}: v{p.version} blocked by failing gates (fix them, or --override REASON)"


def promote_text(p: Any) -> str:
    gates = (
        grid_text(["result", "gate", "rule", "numbers"], _gate_rows(p))
        if p.gates
        else "No gates for this alias."
    )
    return f"{gates}\n{_verdict(p)}"


def promote_html(p: Any) -> str:
    gates = grid_html(["result", "gate", "rule", "numbers"], _gate_rows(p)) if p.gates else "<p>No gates.</p>"
    return f"{gates}<p><b>{escape(_verdict(p))}</b></p>"


def promote_failed(p: Any) -> bool:
    return not p.promoted and not p.passed


def decide_text(entry: dict[str, Any]) -> str:
    reason = f": {entry['reason']}" if entry.get("reason") else ""
    return (
        f"{entry['who']} {entry['action']}d {entry['model']} v{entry['version']} for {entry['alias']}{reason}"
    )


def decide_html(entry: dict[str, Any]) -> str:
    return f"<p>{escape(decide_text(entry))}</p>"


def card_text(result: dict[str, Any]) -> str:
    saved = "".join(f"\nsaved: {s}" for s in result.get("saved", []))
    return str(result["markdown"]) + saved


def card_html(result: dict[str, Any]) -> str:
    # the card is a whole HTML page: shown in a sandboxed frame, never mixed into the notebook's DOM
    return (
        f'<iframe sandbox="" style="width:100%;height:32em;border:1px solid #ccc" '
        f'title="model card" srcdoc="{escape(result["html"], quote=True)}"></iframe>'
    )


def card_json(result: dict[str, Any]) -> Any:
    return result


def lineage_text(result: dict[str, Any]) -> str:
    labels = {n["key"]: f"{n['kind']} {n['label']}" for n in result["nodes"]}
    lines = [f"{labels[e['from']]} --{e['label']}--> {labels[e['to']]}" for e in result["edges"]]
    return "\n".join(lines) or labels.get(result["nodes"][0]["key"], "")


def lineage_html(result: dict[str, Any]) -> str:
    return "<pre>" + escape(lineage_text(result)) + "</pre>"


def _audit_rows(result: dict[str, Any]) -> list[list[str]]:
    return [
        [
            _when(e.get("time")),
            str(e.get("who", "")),
            str(e.get("action", "")),
            f"{e.get('model', '')} v{e.get('version', '')}",
            str(e.get("alias") or ""),
            str(e.get("reason") or ""),
        ]
        for e in result["entries"]
    ]


def audit_text(result: dict[str, Any]) -> str:
    text = grid_text(["when", "who", "action", "model", "alias", "reason"], _audit_rows(result))
    if result["problems"]:
        text += "\nAUDIT TRAIL DAMAGED: " + "; ".join(result["problems"])
    return text


def audit_html(result: dict[str, Any]) -> str:
    html = grid_html(["when", "who", "action", "model", "alias", "reason"], _audit_rows(result))
    if result["problems"]:
        html += f"<p><b>Audit trail damaged:</b> {escape('; '.join(result['problems']))}</p>"
    return html


def audit_failed(result: dict[str, Any]) -> bool:
    return bool(result["problems"])


def same(result: Any) -> Any:
    return result.to_json() if hasattr(result, "to_json") else result
