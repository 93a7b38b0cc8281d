"""`nblift snapshots gc`: forget old automatic snapshots, then collect unreferenced objects."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..collect import collect_garbage
from ..store import ObjectStore
from . import manifest as mf


@dataclasses.dataclass
class PruneResult:
    deleted_snapshots: list[str]
    removed_objects: int
    freed_bytes: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def prune_snapshots(store: ObjectStore, keep_auto: int, grace_seconds: float) -> PruneResult:
    """Keep the newest `keep_auto` automatic snapshots and every manual one; then run gc."""
    autos = [m for m in mf.list_manifests(store.state_dir) if m.get("auto")]
    doomed = [m["id"] for m in autos[max(keep_auto, 0) :]]
    for sid in doomed:
        mf.delete(store, sid)
    report = collect_garbage(store, grace_seconds)
    return PruneResult(
        deleted_snapshots=doomed, removed_objects=report.removed_objects, freed_bytes=report.freed_bytes
    )
