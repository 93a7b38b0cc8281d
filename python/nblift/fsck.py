"""`nblift fsck`: re-hash every stored object, check every ref's objects are present."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from .fsutil import atomic_write
from .store import ObjectStore, hash_file

REPORT_FILE = "fsck.json"


@dataclasses.dataclass(frozen=True)
class FsckReport:
    """What `fsck` found. `ok` is False when any object is corrupt or missing, or a ref is unreadable."""

    checked: int
    corrupt: list[str]
    missing: list[dict[str, str]]
    unreadable_refs: list[str]
    temp_files: int
    finished_at: float

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing or self.unreadable_refs)

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ok": self.ok}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FsckReport:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in fields})


def fsck(store: ObjectStore) -> FsckReport:
    """Audit the store and remember the result (read back by `last_report` for status)."""
    corrupt: list[str] = []
    checked = 0
    present: set[str] = set()
    for oid in store.iter_ids():
        checked += 1
        present.add(oid)
        try:
            if hash_file(store.path_of(oid)) != oid:
                corrupt.append(oid)
        except OSError:
            corrupt.append(oid)
    missing: list[dict[str, str]] = []
    unreadable: list[str] = []
    for ref, objects in store.iter_refs():
        if objects is None:
            unreadable.append(ref)
            continue
        missing.extend({"object": oid, "ref": ref} for oid in objects if oid not in present)
    report = FsckReport(
        checked=checked,
        corrupt=sorted(corrupt),
        missing=missing,
        unreadable_refs=unreadable,
        temp_files=len(store.temp_files()),
        finished_at=time.time(),
    )
    if store.state_dir.is_dir():  # remember the result; a folder without nblift state stays untouched
        atomic_write(store.state_dir / REPORT_FILE, json.dumps(report.to_json()).encode())
    return report


def last_report(state_dir: Path) -> FsckReport | None:
    """The result of the most recent `fsck`, or None if the store was never checked."""
    try:
        return FsckReport.from_json(json.loads((state_dir / REPORT_FILE).read_bytes()))
    except (FileNotFoundError, ValueError, TypeError):
        return None
