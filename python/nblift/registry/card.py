"""Model cards: what nblift knows about a version (training data, parameters, metrics, environment, gates,
lineage) plus what only people know (intended use, limitations, ethical considerations).

The card is saved next to the model in its run's artifacts, as Markdown and as a self-contained HTML page,
with the fields people filled in as JSON; every value is escaped, so a model or parameter named with markup
shows as text.
"""

from __future__ import annotations

import datetime
import html
import json
import tempfile
from pathlib import Path
from typing import Any

from .. import tracking
from ..errors import InvalidInput
from ..project import Project
from . import audit
from .catalog import version_detail
from .register import ENV_FILE

FIELDS = {
    "intended_use": "Intended use",
    "limitations": "Limitations",
    "ethical_considerations": "Ethical considerations",
}
FIELD_MAX = 20_000
CARD_MD = "model_card.md"
CARD_HTML = "model_card.html"
CARD_FIELDS = "model_card.json"
QUALITY_HEAD = ["alias", "gate", "what", "result", "evidence"]


def _artifact_dir(detail: dict[str, Any]) -> str:
    path = detail["tags"].get("nblift.artifact_path")
    if not path:
        raise InvalidInput(
            f"{detail['uri']} was not registered by nblift",
            hint="cards are made for versions `%lift register` made",
        )
    return str(path)


def _read_artifact(project: Project, run_id: str, path: str) -> str | None:
    client = tracking.client(project)
    with tempfile.TemporaryDirectory(prefix="nblift-card-") as tmp:
        try:
            with tracking.quiet_downloads():
                local = client.download_artifacts(run_id, path, tmp)
        except Exception:  # noqa: BLE001 - absent (no card yet): each artifact store raises its own error
            return None
        return Path(local).read_text(encoding="utf-8")


def _fields(project: Project, detail: dict[str, Any]) -> dict[str, str]:
    text = _read_artifact(project, detail["run_id"], f"{_artifact_dir(detail)}/{CARD_FIELDS}")
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    return {key: str(data.get(key) or "") for key in FIELDS}


def _environment(project: Project, detail: dict[str, Any]) -> dict[str, Any]:
    text = _read_artifact(project, detail["run_id"], f"{_artifact_dir(detail)}/{ENV_FILE}")
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def _quality_rows(project: Project, name: str, version: str) -> list[list[str]]:
    """The newest quality gate verdicts (`nblift check`) per alias: alias, gate, what, result, evidence."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in audit.entries(project, name, version):
        if entry.get("action") == "gates":
            latest[str(entry.get("alias"))] = entry
    return [
        [
            alias,
            str(v.get("kind")),
            str(v.get("label")),
            "passed" if v.get("passed") else "FAILED",
            str(v.get("detail", "")),
        ]
        for alias, entry in sorted(latest.items())
        for v in entry.get("details", {}).get("verdicts", [])
    ]


def build(project: Project, name: str, version: str) -> dict[str, Any]:
    """The card's content as data: title, facts, the people's fields and tables."""
    detail = version_detail(project, name, version)
    env = _environment(project, detail)
    created = datetime.datetime.fromtimestamp(detail["created"] or 0, datetime.UTC).strftime(
        "%Y-%m-%d %H:%M UTC"
    )
    lineage = {
        "MLflow run": detail["run_id"],
        "Notebook": detail["tags"].get("nblift.notebook"),
        "Snapshot": detail["tags"].get("nblift.snapshot"),
        "Environment lock": detail["tags"].get("nblift.lock"),
        "Git commit": detail["tags"].get("nblift.git_commit"),
        "nblift run": detail["tags"].get("nblift.nblift_run"),
    }
    return {
        "title": f"{name} v{detail['version']}",
        "facts": {
            "Model": name,
            "Version": detail["version"],
            "Flavor": detail.get("flavor") or "",
            "Registered": created,
            "Registered by": detail.get("registered_by") or "",
            "Aliases": ", ".join(detail["aliases"]) or "none",
        },
        "fields": _fields(project, detail),
        "data": [  # the training data versions: what the version's run read (`nblift.lineage`)
            [str(d["uri"]), str(d.get("version") or "-"), str(d.get("hash") or "-"), str(d.get("size"))]
            for d in detail.get("data") or []
        ],
        "params": [[k, v] for k, v in sorted(detail["params"].items())],
        "metrics": [[k, f"{v:.6g}"] for k, v in sorted(detail["metrics"].items())],
        "gates": [[alias, status] for alias, status in sorted(detail["gates"].items())],
        "quality": _quality_rows(project, name, str(detail["version"])),
        "environment": {
            "Python": env.get("python") or "",
            "Platform": env.get("platform") or "",
            "CUDA": env.get("cuda") or "none",
        },
        "requirements": list(env.get("requirements") or []),
        "lineage": {k: v for k, v in lineage.items() if v},
    }


def _md_text(value: str) -> str:
    return html.escape(value, quote=False).replace("|", "\\|").replace("\n", " ")


def to_markdown(card: dict[str, Any]) -> str:
    def table(head: list[str], rows: list[list[str]], empty: str) -> list[str]:
        if not rows:
            return [f"_{empty}_", ""]
        return [
            "| " + " | ".join(head) + " |",
            "|" + " --- |" * len(head),
            *("| " + " | ".join(_md_text(c) for c in row) + " |" for row in rows),
            "",
        ]

    lines = [f"# Model card: {_md_text(card['title'])}", ""]
    lines += [f"- **{k}**: {_md_text(v)}" for k, v in card["facts"].items()] + [""]
    for key, label in FIELDS.items():
        text = card["fields"][key].strip()
        lines += [f"## {label}", "", html.escape(text, quote=False) if text else "_Not filled in yet._", ""]
    lines += [
        "## Training data",
        "",
        *table(["input", "version", "hash", "bytes"], card["data"], "No data inputs recorded."),
    ]
    lines += ["## Parameters", "", *table(["name", "value"], card["params"], "No parameters.")]
    lines += ["## Metrics", "", *table(["name", "value"], card["metrics"], "No metrics.")]
    lines += [
        "## Evaluation (promotion gates)",
        "",
        *table(["alias", "gates"], card["gates"], "Not evaluated."),
        "### Quality gates (data, behaviour, drift)",
        "",
        *table(QUALITY_HEAD, card.get("quality", []), "Not checked (`nblift check`)."),
    ]
    lines += ["## Environment", ""] + [f"- **{k}**: {_md_text(v)}" for k, v in card["environment"].items()]
    lines += [
        "",
        "Requirements: " + (", ".join(f"`{_md_text(r)}`" for r in card["requirements"]) or "none"),
        "",
    ]
    lines += ["## Lineage", ""] + [f"- **{k}**: `{_md_text(v)}`" for k, v in card["lineage"].items()] + [""]
    return "\n".join(lines)


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:1.5rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0}"
    "td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}"
    "code{background:#f3f3f3;padding:0 .2rem}.empty{color:#777;font-style:italic}"
)


def to_html(card: dict[str, Any]) -> str:
    e = html.escape

    def table(head: list[str], rows: list[list[str]], empty: str) -> str:
        if not rows:
            return f'<p class="empty">{e(empty)}</p>'
        head_html = "".join(f"<th>{e(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
        return f"<table><thead><tr>{head_html}</tr></thead><tbody>{body}</tbody></table>"

    def facts(items: dict[str, str], code: bool = False) -> str:
        fmt = "<li><b>{}</b>: <code>{}</code></li>" if code else "<li><b>{}</b>: {}</li>"
        return "<ul>" + "".join(fmt.format(e(k), e(v)) for k, v in items.items()) + "</ul>"

    parts = [f"<h1>Model card: {e(card['title'])}</h1>", facts(card["facts"])]
    for key, label in FIELDS.items():
        text = card["fields"][key].strip()
        body = (
            "".join(f"<p>{e(p)}</p>" for p in text.split("\n\n"))
            if text
            else '<p class="empty">Not filled in yet.</p>'
        )
        parts.append(f"<h2>{e(label)}</h2>{body}")
    parts.append(
        "<h2>Training data</h2>"
        + table(["input", "version", "hash", "bytes"], card["data"], "No data inputs recorded.")
    )
    parts.append("<h2>Parameters</h2>" + table(["name", "value"], card["params"], "No parameters."))
    parts.append("<h2>Metrics</h2>" + table(["name", "value"], card["metrics"], "No metrics."))
    parts.append(
        "<h2>Evaluation (promotion gates)</h2>"
        + table(["alias", "gates"], card["gates"], "Not evaluated.")
        + "<h3>Quality gates (data, behaviour, drift)</h3>"
        + table(QUALITY_HEAD, card.get("quality", []), "Not checked (nblift check).")
    )
    reqs = ", ".join(f"<code>{e(r)}</code>" for r in card["requirements"]) or "none"
    parts.append("<h2>Environment</h2>" + facts(card["environment"]) + f"<p>Requirements: {reqs}</p>")
    parts.append("<h2>Lineage</h2>" + facts(card["lineage"], code=True))
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{e(card['title'])}</title><style>{_CSS}</style></head><body>"
        + "".join(parts)
        + "</body></html>"
    )


def render(project: Project, name: str, version: str) -> dict[str, Any]:
    """The card as data, Markdown and HTML (not saved)."""
    card = build(project, name, version)
    return {
        "name": name,
        "version": str(version),
        "card": card,
        "markdown": to_markdown(card),
        "html": to_html(card),
    }


def save(
    project: Project, name: str, version: str, who: str, fields: dict[str, str] | None = None
) -> dict[str, Any]:
    """Update the people's fields (only those given), regenerate the card and save it with the model."""
    detail = version_detail(project, name, version)
    current = _fields(project, detail)
    for key, value in (fields or {}).items():
        if key not in FIELDS:
            raise InvalidInput(f"{key!r} is not a model card field", hint=f"fields: {', '.join(FIELDS)}")
        if not isinstance(value, str) or len(value) > FIELD_MAX:
            raise InvalidInput(f"{key} must be text of at most {FIELD_MAX} characters", hint="shorten it")
        current[key] = value
    client = tracking.client(project)
    folder = _artifact_dir(detail)
    client.log_text(detail["run_id"], json.dumps(current, indent=1), f"{folder}/{CARD_FIELDS}")
    result = render(project, name, detail["version"])
    client.log_text(detail["run_id"], result["markdown"], f"{folder}/{CARD_MD}")
    client.log_text(detail["run_id"], result["html"], f"{folder}/{CARD_HTML}")
    client.set_model_version_tag(name, detail["version"], "nblift.card", f"{folder}/{CARD_MD}")
    if fields:
        audit.record(project, "card", name, detail["version"], who, details={"fields": sorted(fields)})
    return {**result, "saved": [f"{folder}/{CARD_MD}", f"{folder}/{CARD_HTML}"]}
