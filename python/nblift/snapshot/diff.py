"""Compare two snapshots (variables, code that ran, environment, git and data inputs) or two runs
(parameters, metrics and data inputs that differ, from the run comparison of `experiments.search`)."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from ..errors import InvalidInput, NotFound
from ..store import ObjectStore
from . import manifest as mf

_MLFLOW_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclasses.dataclass
class SnapshotDiff:
    a: str
    b: str
    added: list[str]
    removed: list[str]
    changed: list[dict[str, str]]
    unchanged: int
    cells_added: list[dict[str, Any]]
    packages: list[dict[str, str | None]]
    python: tuple[str, str] | None
    git: tuple[str | None, str | None] | None
    #: Data inputs whose hash differs (`nblift.data`): {"uri", "a", "b"}, a hash or None where absent.
    data: list[dict[str, str | None]] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _variable_key(manifest: dict[str, Any], name: str) -> tuple[str, str | None]:
    var = manifest["variables"][name]
    return var.get("status", ""), var.get("encoding")


def _history(store: ObjectStore, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    oid = manifest.get("history_object")
    if not oid:
        return []
    try:
        return list(json.loads(store.get_bytes(oid)))
    except Exception:  # noqa: BLE001 - a missing history makes the code diff empty, not the whole diff fail
        return []


def _data_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, str | None]]:
    from ..data.report import manifest_of_snapshot

    da, db = manifest_of_snapshot(a), manifest_of_snapshot(b)
    ha = {e.uri: e.hash for e in da.entries} if da else {}
    hb = {e.uri: e.hash for e in db.entries} if db else {}
    return [
        {"uri": uri, "a": ha.get(uri), "b": hb.get(uri)}
        for uri in sorted(set(ha) | set(hb))
        if ha.get(uri) != hb.get(uri)
    ]


def diff_snapshots(store: ObjectStore, a_id: str, b_id: str) -> SnapshotDiff:
    """What changed from snapshot `a_id` to snapshot `b_id` (reads manifests only, unpickles nothing)."""
    a = mf.load(store.state_dir, a_id)
    b = mf.load(store.state_dir, b_id)
    va, vb = a["variables"], b["variables"]
    changed = []
    for name in sorted(set(va) & set(vb)):
        if _variable_key(a, name) != _variable_key(b, name):
            ta, tb = va[name].get("type", ""), vb[name].get("type", "")
            what = f"type {ta} -> {tb}" if ta != tb else "value"
            if va[name].get("status") != vb[name].get("status"):
                what = f"{va[name].get('status')} -> {vb[name].get('status')}"
            changed.append({"name": name, "what": what})
    seen = {(c["count"], c["source"]) for c in _history(store, a)}
    cells_added = [c for c in _history(store, b) if (c["count"], c["source"]) not in seen]
    pa = a.get("environment", {}).get("packages", {})
    pb = b.get("environment", {}).get("packages", {})
    packages = [
        {"name": n, "a": pa.get(n), "b": pb.get(n)}
        for n in sorted(set(pa) | set(pb))
        if pa.get(n) != pb.get(n)
    ]
    py_a = a.get("environment", {}).get("python", "")
    py_b = b.get("environment", {}).get("python", "")
    ga = (a.get("git") or {}).get("commit")
    gb = (b.get("git") or {}).get("commit")
    return SnapshotDiff(
        a=a["id"],
        b=b["id"],
        added=sorted(set(vb) - set(va)),
        removed=sorted(set(va) - set(vb)),
        changed=changed,
        unchanged=len(set(va) & set(vb)) - len(changed),
        cells_added=cells_added,
        packages=packages,
        python=(py_a, py_b) if py_a != py_b else None,
        git=(ga, gb) if ga != gb else None,
        data=_data_changes(a, b),
    )


# -- two runs --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RunDiff:
    """What differs between two MLflow runs, read off the run comparison (`experiments.search.compare`):
    parameters and final metric values that differ, and data inputs whose hash or version differs."""

    a: str
    b: str
    #: {"key", "a", "b"}: None where the run lacks it.
    params: list[dict[str, str | None]]
    metrics: list[dict[str, Any]]
    #: {"uri", "a", "b"}: each run's {"hash", "version", "size"} of the input, None where it had none.
    data: list[dict[str, Any]]
    #: How many parameters, metrics and data inputs are the same in both.
    unchanged: int
    #: The nblift run ids the MLflow runs belong to, where they were given as nblift run ids.
    labels: tuple[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def diff_runs(project: Any, a: str, b: str, labels: tuple[str, str] | None = None) -> RunDiff:
    """Compare MLflow runs `a` and `b` with the run comparison and keep what differs."""
    from ..experiments.search import compare

    if a == b:
        raise InvalidInput(f"{a} is one run, given twice", hint="name two different runs")
    compared = compare(project, [a, b])
    params = [{"key": p["key"], "a": p["values"].get(a), "b": p["values"].get(b)} for p in compared["params"]]
    finals = {r["run_id"]: r["metrics"] for r in compared["runs"]}
    metric_keys = sorted(set(finals[a]) | set(finals[b]))
    metrics = [
        {"key": k, "a": finals[a].get(k), "b": finals[b].get(k)}
        for k in metric_keys
        if finals[a].get(k) != finals[b].get(k)
    ]
    data = [{"uri": d["uri"], "a": d["values"].get(a), "b": d["values"].get(b)} for d in compared["data"]]
    differing = [p for p in params if p["a"] != p["b"]]
    changed = [d for d in data if d["a"] != d["b"] and _input_differs(d["a"], d["b"])]
    same = len(params) - len(differing) + len(metric_keys) - len(metrics) + len(data) - len(changed)
    return RunDiff(a, b, differing, metrics, changed, same, labels)


def _input_differs(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    if a is None or b is None:
        return True
    return (a["hash"], a["version"]) != (b["hash"], b["version"])


def _mlflow_run_of(state_dir: Any, rid: str) -> str | None:
    """The MLflow run id of nblift run `rid` (a unique prefix), None when `rid` names no nblift run."""
    from ..runs.records import RunRecord, resolve_run_id

    try:
        full = resolve_run_id(state_dir, rid)
    except (NotFound, InvalidInput):
        return None
    info = RunRecord.open(state_dir, full).mlflow() or {}
    if not info.get("run_id"):
        raise InvalidInput(
            f"run {full} has no MLflow run", hint="it did not start tracking; compare runs that did"
        )
    return str(info["run_id"])


def _is_snapshot(state_dir: Any, sid: str) -> bool:
    try:
        mf.resolve(state_dir, sid)
    except (NotFound, InvalidInput):
        return False
    return True


def diff_any(project: Any, a: str, b: str) -> SnapshotDiff | RunDiff:
    """`%lift diff A B`: two snapshots (ids or prefixes) are compared as snapshots; two runs (nblift run ids
    or MLflow run ids) as runs. A snapshot and a run cannot be compared."""
    state_dir = project.state_dir
    if _is_snapshot(state_dir, a) and _is_snapshot(state_dir, b):
        return diff_snapshots(ObjectStore(state_dir), a, b)
    runs = []
    for rid in (a, b):
        mlflow_id = None if _is_snapshot(state_dir, rid) else _mlflow_run_of(state_dir, rid)
        if mlflow_id is None and _MLFLOW_ID.match(rid):
            mlflow_id = rid
        runs.append(mlflow_id)
    if runs[0] is None or runs[1] is None:
        kinds = [
            "snapshot" if _is_snapshot(state_dir, x) else "run" if r else "unknown"
            for x, r in zip((a, b), runs, strict=True)
        ]
        if "unknown" in kinds:
            unknown = a if kinds[0] == "unknown" else b
            raise NotFound(
                f"{unknown!r} is neither a snapshot nor a run",
                hint="`%lift snapshots` and `nblift runs` list the ids; an MLflow run id is 32 hex digits",
            )
        raise InvalidInput(
            f"{a} is a {kinds[0]} and {b} a {kinds[1]}", hint="compare two snapshots or two runs"
        )
    labels = (a, b) if (a, b) != (runs[0], runs[1]) else None
    return diff_runs(project, runs[0], runs[1], labels)
