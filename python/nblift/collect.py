"""`nblift gc`: remove objects no ref keeps alive, and temp files a crashed writer left behind."""

from __future__ import annotations

import dataclasses
import time

from .errors import NbliftError
from .store import ObjectStore


@dataclasses.dataclass(frozen=True)
class GcReport:
    removed_objects: int
    removed_temp_files: int
    freed_bytes: int
    kept_recent: int


def collect_garbage(store: ObjectStore, grace_seconds: float) -> GcReport:
    """Delete unreferenced objects and temp files older than `grace_seconds`.

    The grace period protects a writer that has stored objects but not yet written the ref that
    keeps them (as git's prune expiry does). An unreadable ref stops gc before anything is deleted.
    """
    unreadable = [name for name, objects in store.iter_refs() if objects is None]
    if unreadable:
        raise NbliftError(
            f"gc stopped: cannot read the refs {', '.join(unreadable)}, so what they keep alive is unknown",
            hint="run `nblift fsck`, then repair or delete those ref files",
        )
    now = time.time()
    live = store.reachable()
    removed = freed = kept = temps = 0
    for oid in list(store.iter_ids()):
        if oid in live:
            continue
        path = store.path_of(oid)
        try:
            if store.age_seconds(path, now) < grace_seconds:
                kept += 1
                continue
        except FileNotFoundError:
            continue
        size = store.delete(oid)
        if size or not path.exists():
            removed += 1
            freed += size
    for temp in store.temp_files():
        try:
            if store.age_seconds(temp, now) >= grace_seconds:
                freed += temp.stat().st_size
                temp.unlink()
                temps += 1
        except FileNotFoundError:
            continue
    return GcReport(removed_objects=removed, removed_temp_files=temps, freed_bytes=freed, kept_recent=kept)
