"""`nblift data`: the inputs as they are now, each compared with the last snapshot or run that recorded data.

States: unchanged; changed (its hash differs from the last snapshot's or run's, or a DVC input's workspace
copy differs from what DVC recorded); new (not recorded there; a DVC input matching its record is
unchanged); missing; error (the message says why).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .manifest import ERROR, MISSING, MODIFIED, DataEntry, DataManifest

UNCHANGED, CHANGED, NEW = "unchanged", "changed", "new"


def manifest_of_snapshot(snapshot: Mapping[str, Any]) -> DataManifest | None:
    """The data manifest a snapshot recorded; for snapshots made before data manifests, one built from its
    `data` list (tracked files with their BLAKE3); None when it recorded neither."""
    recorded = snapshot.get("data_manifest")
    if isinstance(recorded, Mapping):
        try:
            return DataManifest.from_json(recorded)
        except ValueError:
            return None
    legacy = snapshot.get("data")
    if not isinstance(legacy, list):
        return None
    entries = [
        DataEntry(
            str(d.get("path")),
            "file",
            "tracked",
            f"blake3:{d['hash']}" if d.get("hash") else None,
            d.get("size"),
            state="ok" if d.get("hash") else MISSING,
        )
        for d in legacy
        if isinstance(d, Mapping) and d.get("path")
    ]
    return DataManifest.of(entries) if entries else None


def _last_snapshot(state_dir: Path) -> tuple[float, str, DataManifest] | None:
    from ..snapshot.manifest import list_manifests

    for snapshot in list_manifests(state_dir):
        manifest = manifest_of_snapshot(snapshot)
        if manifest is not None:
            return float(snapshot.get("created") or 0.0), f"snapshot {snapshot.get('id')}", manifest
    return None


def _last_run(state_dir: Path) -> tuple[float, str, DataManifest] | None:
    from ..errors import NbliftError
    from ..runs.records import RunRecord, iter_records

    best: tuple[float, str, DataManifest] | None = None
    for folder in iter_records(state_dir):
        try:
            spec = RunRecord(folder).spec
            if spec.data is None or (best is not None and spec.created <= best[0]):
                continue
            best = (spec.created, f"run {spec.id}", DataManifest.from_json(spec.data))
        except (NbliftError, ValueError):  # an unreadable record is no baseline
            continue
    return best


def last_recorded(state_dir: Path) -> tuple[str, DataManifest] | None:
    """(label, manifest) of the newest snapshot or run that recorded data, if any."""
    found = [x for x in (_last_snapshot(state_dir), _last_run(state_dir)) if x is not None]
    if not found:
        return None
    _, label, manifest = max(found, key=lambda x: x[0])
    return label, manifest


@dataclasses.dataclass(frozen=True)
class InputStatus:
    entry: DataEntry
    status: str
    #: The hash the baseline recorded for this input (None without one).
    before: str | None
    note: str

    def to_json(self) -> dict[str, Any]:
        return {**self.entry.to_json(), "status": self.status, "before": self.before, "note": self.note}


@dataclasses.dataclass(frozen=True)
class DataReport:
    inputs: tuple[InputStatus, ...]
    #: What the inputs were compared with ("snapshot 1a2b3c4d5e6f"), or None.
    baseline: str | None
    #: Inputs the baseline had that are no longer inputs.
    dropped: tuple[str, ...]
    manifest: DataManifest

    @property
    def failed(self) -> bool:
        return any(i.status in (MISSING, ERROR) for i in self.inputs)

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "inputs": [i.to_json() for i in self.inputs],
            "dropped": list(self.dropped),
            "failed": self.failed,
        }


def _status(entry: DataEntry, before: DataEntry | None, baseline: str | None) -> tuple[str, str]:
    if entry.state == ERROR:
        return ERROR, entry.message
    if entry.state == MISSING:
        return MISSING, entry.message
    if entry.state == MODIFIED:
        return CHANGED, entry.message
    if before is not None and before.hash is None:
        return CHANGED, f"missing in {baseline}"
    if before is None:
        if entry.source == "dvc":
            return UNCHANGED, f"as {entry.record} records"
        return NEW, f"not in {baseline}" if baseline else "no snapshot or run recorded data yet"
    if before.hash != entry.hash:
        return CHANGED, f"since {baseline}"
    return UNCHANGED, ""


def compare(manifest: DataManifest, baseline: tuple[str, DataManifest] | None) -> DataReport:
    label, before = baseline if baseline is not None else (None, DataManifest(()))
    old = before.by_uri()
    inputs = []
    for entry in manifest.entries:
        status, note = _status(entry, old.get(entry.uri), label)
        previous = old.get(entry.uri)
        inputs.append(InputStatus(entry, status, previous.hash if previous else None, note))
    now = manifest.by_uri()
    dropped = tuple(sorted(uri for uri in old if uri not in now))
    return DataReport(tuple(inputs), label, dropped, manifest)
