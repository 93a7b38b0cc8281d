"""Compare two snapshots: variables, code that ran, environment, git and data inputs."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from ..store import ObjectStore
from . import manifest as mf


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
