"""What the registry holds, as the panel, the CLI and the notebook show it: models, versions, one version's
detail and its lineage graph (version -> run -> notebook snapshot -> environment -> data, git commit)."""

from __future__ import annotations

from typing import Any

from .. import tracking
from ..lineage import data_versions
from ..project import Project
from .names import check_name, check_version
from .policy import policies
from .promote import GATE_TAG, get_version, version_metrics


def _ms(value: Any) -> float | None:
    return None if value is None else float(value) / 1000


def list_models(project: Project) -> dict[str, Any]:
    """Registered models, newest change first, with their aliases and latest version."""
    client = tracking.client(project)
    models = []
    for rm in client.search_registered_models(max_results=1000):
        aliases = dict(getattr(rm, "aliases", {}) or {})
        latest = max((int(v.version) for v in rm.latest_versions or ()), default=None)
        models.append(
            {
                "name": rm.name,
                "description": rm.description or "",
                "aliases": {a: str(v) for a, v in sorted(aliases.items())},
                "latest_version": None if latest is None else str(latest),
                "updated": _ms(rm.last_updated_timestamp),
            }
        )
    models.sort(key=lambda m: m["updated"] or 0, reverse=True)
    return {"models": models, "gated_aliases": sorted(policies(project))}


def _version_json(mv: Any, aliases: list[str]) -> dict[str, Any]:
    tags = dict(mv.tags or {})
    return {
        "version": str(mv.version),
        "created": _ms(mv.creation_timestamp),
        "run_id": mv.run_id,
        "status": mv.status,
        "description": mv.description or "",
        "aliases": sorted(aliases),
        "flavor": tags.get("nblift.flavor"),
        "registered_by": tags.get("nblift.registered_by"),
        "gates": {k[len(GATE_TAG) :]: v for k, v in tags.items() if k.startswith(GATE_TAG)},
    }


def model_versions(project: Project, name: str) -> dict[str, Any]:
    """One model: its versions (newest first) with aliases and gate status."""
    check_name(name)
    from mlflow.exceptions import MlflowException

    from ..errors import NotFound

    client = tracking.client(project)
    try:
        rm = client.get_registered_model(name)
    except MlflowException:
        raise NotFound(
            f"no registered model named {name!r}", hint="register one with `%lift register`"
        ) from None
    by_version: dict[str, list[str]] = {}
    for alias, version in (getattr(rm, "aliases", {}) or {}).items():
        by_version.setdefault(str(version), []).append(alias)
    versions = client.search_model_versions(
        f"name = '{name.replace(chr(39), chr(39) * 2)}'", max_results=1000
    )
    rows = [_version_json(mv, by_version.get(str(mv.version), [])) for mv in versions]
    rows.sort(key=lambda r: int(r["version"]), reverse=True)
    return {
        "name": name,
        "description": rm.description or "",
        "aliases": {a: str(v) for a, v in sorted((getattr(rm, "aliases", {}) or {}).items())},
        "versions": rows,
        "gated_aliases": sorted(policies(project)),
    }


def version_detail(project: Project, name: str, version: str) -> dict[str, Any]:
    """One version: its run's params and metrics, lineage tags and graph, gates, audit entries."""
    from . import audit

    check_name(name)
    version = check_version(version)
    client = tracking.client(project)
    mv = get_version(client, name, version)
    rm = client.get_registered_model(name)
    aliases = [a for a, v in (getattr(rm, "aliases", {}) or {}).items() if str(v) == version]
    run = client.get_run(mv.run_id) if mv.run_id else None
    detail = _version_json(mv, aliases)
    detail.update(
        name=name,
        uri=f"models:/{name}/{version}",
        source=mv.source,
        tags={k: v for k, v in (mv.tags or {}).items()},
        params=dict(run.data.params) if run else {},
        metrics=version_metrics(client, mv),
        run_name=run.info.run_name if run else None,
        experiment_id=run.info.experiment_id if run else None,
        lineage=lineage(project, name, version, mv=mv, run=run),
        data=data_versions(mv.tags or {}, run),
        audit=audit.entries(project, name, version),
    )
    return detail


def lineage(project: Project, name: str, version: str, *, mv: Any = None, run: Any = None) -> dict[str, Any]:
    """The version's lineage as a graph: nodes (kind, id, label, what opens it) and edges between them."""
    client = tracking.client(project)
    mv = mv or get_version(client, name, check_version(version))
    tags = dict(mv.tags or {})
    if run is None and mv.run_id:
        run = client.get_run(mv.run_id)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, str]] = []

    def node(kind: str, ident: str, label: str, **extra: Any) -> str:
        key = f"{kind}:{ident}"
        if all(n["key"] != key for n in nodes):
            nodes.append({"key": key, "kind": kind, "id": ident, "label": label, **extra})
        return key

    def edge(a: str, b: str, label: str) -> None:
        edges.append({"from": a, "to": b, "label": label})

    top = node("version", f"{name}/{mv.version}", f"{name} v{mv.version}", name=name, version=str(mv.version))
    if mv.run_id:
        run_key = node(
            "run",
            mv.run_id,
            (run.info.run_name if run else None) or mv.run_id[:8],
            experiment_id=run.info.experiment_id if run else None,
        )
        edge(top, run_key, "trained in")
    else:
        run_key = top
    if tags.get("nblift.nblift_run"):
        edge(
            run_key,
            node("nblift_run", tags["nblift.nblift_run"], f"run {tags['nblift.nblift_run']}"),
            "executed by",
        )
    notebook_key = run_key
    if tags.get("nblift.notebook"):
        notebook_key = node("notebook", tags["nblift.notebook"], tags["nblift.notebook"])
        edge(run_key, notebook_key, "from notebook")
    state_key = notebook_key
    if tags.get("nblift.snapshot"):
        state_key = node("snapshot", tags["nblift.snapshot"], f"snapshot {tags['nblift.snapshot'][:12]}")
        edge(notebook_key, state_key, "state")
    if tags.get("nblift.lock"):
        edge(
            state_key,
            node("environment", tags["nblift.lock"], f"lock {tags['nblift.lock'][:12]}"),
            "environment",
        )
    for item in data_versions(tags, run):  # the inputs the run recorded: each version it read
        version = item.get("version")
        label = f"{item['uri']} @ {str(version)[:12]}" if version else str(item["uri"])
        extra = {"size": item.get("size"), "uri": item["uri"], "hash": item.get("hash"), "version": version}
        ident = f"{item['uri']}@{version or item.get('hash')}"
        edge(state_key, node("data", ident, label, **extra), "read")
    if tags.get("nblift.git_commit"):
        edge(
            notebook_key,
            node("git", tags["nblift.git_commit"], f"commit {tags['nblift.git_commit'][:10]}"),
            "at commit",
        )
    return {"nodes": nodes, "edges": edges}
