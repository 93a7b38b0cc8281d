"""The persistent hash cache: a file's digests keyed by (device, inode, mtime_ns, size), kept in the project's
state folder so that a tree nobody changed is not read again, by this process or the next one.

One JSON file, `<state>/data/hash-cache.json`: `{"format": 1, "entries": {"<dev>:<ino>": {"m": mtime_ns,
"s": size, "u": when stored, "<algorithm>": hex, ...}}}`. An entry is used only when all four of device,
inode, mtime and size still match. Saving merges with what other processes saved meanwhile, under the
project's lock, and writes atomically (`fsutil`); a damaged file is treated as an empty cache.

Racy timestamps (git's "racy clean" problem): a file written in the same timestamp tick as the moment it was
hashed can change again without its mtime changing. Such a file is never stored: an entry is kept only when
the file's mtime is at least `RACY_NS` older than the clock read before the file was examined. `RACY_NS` is
2 s, the coarsest timestamp granularity of the filesystems a project may live on (FAT, SMB, HFS+ have 1-2 s);
a file with an mtime in the future is never stored either.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write, ensure_dir, file_lock

FORMAT = 1
CACHE_FILE = "hash-cache.json"
LOCK_FILE = "hash-cache.lock"
#: Entries kept at most; the least recently stored go first.
MAX_ENTRIES = 500_000
#: A file modified less than this before it was examined is not cached (see the module docstring).
RACY_NS = 2_000_000_000


def cache_folder(state_dir: Path) -> Path:
    return state_dir / "data"


@dataclasses.dataclass(frozen=True)
class FileKey:
    """What identifies one version of a file without reading it."""

    dev: int
    ino: int
    mtime_ns: int
    size: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        return cls(st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    @property
    def slot(self) -> str:
        return f"{self.dev}:{self.ino}"


def is_racy(key: FileKey, examined_at_ns: int) -> bool:
    """Whether the file could still change within its mtime's tick (its digest must not be trusted later)."""
    return key.mtime_ns + RACY_NS > examined_at_ns


class HashCache:
    """Digests of files, in memory and (when a state folder is given) on disk. `get`/`put` are safe from
    several threads (plain dict operations); `save` from one.

    `one_pass`: the cache serves one pass over the data (one manifest), so a racy file's digest is
    remembered in memory for this instance's life (two readers of one file in the same pass agree) but is
    never saved. A cache kept across passes must not set it."""

    def __init__(self, state_dir: Path | None, *, one_pass: bool = False) -> None:
        self.folder = cache_folder(state_dir) if state_dir is not None else None
        self.one_pass = one_pass
        self._entries: dict[str, dict[str, Any]] | None = None
        self._dirty: dict[str, dict[str, Any]] = {}
        self._racy: dict[tuple[FileKey, str], str] = {}

    @property
    def path(self) -> Path | None:
        return self.folder / CACHE_FILE if self.folder is not None else None

    def _read_disk(self) -> dict[str, dict[str, Any]]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            return {}
        if (
            not isinstance(data, dict)
            or data.get("format") != FORMAT
            or not isinstance(data.get("entries"), dict)
        ):
            return {}
        return {k: v for k, v in data["entries"].items() if isinstance(v, dict)}

    def load(self) -> None:
        """Read the file now (before several threads use the cache)."""
        self._loaded()

    def _loaded(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            self._entries = self._read_disk()
        return self._entries

    def get(self, key: FileKey, algorithm: str) -> str | None:
        if self._racy and (key, algorithm) in self._racy:
            return self._racy[(key, algorithm)]
        entry = self._loaded().get(key.slot)
        if entry is None or entry.get("m") != key.mtime_ns or entry.get("s") != key.size:
            return None
        digest = entry.get(algorithm)
        return digest if isinstance(digest, str) else None

    def put(self, key: FileKey, algorithm: str, digest: str, *, examined_at_ns: int) -> bool:
        """Remember `digest`; returns False for a racy file (kept for this pass only with `one_pass`)."""
        if is_racy(key, examined_at_ns):
            if self.one_pass:
                self._racy[(key, algorithm)] = digest
            return False
        entries = self._loaded()
        entry = entries.get(key.slot)
        if entry is None or entry.get("m") != key.mtime_ns or entry.get("s") != key.size:
            entry = {"m": key.mtime_ns, "s": key.size}
        entry = {**entry, algorithm: digest, "u": int(time.time())}
        entries[key.slot] = entry
        self._dirty[key.slot] = entry
        return True

    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    def save(self) -> None:
        """Merge what this cache learned into the file on disk (under the lock, atomically)."""
        if not self._dirty or self.folder is None or self.path is None:
            return
        ensure_dir(self.folder)
        with file_lock(self.folder / LOCK_FILE):
            entries = self._read_disk()
            entries.update(self._dirty)
            if len(entries) > MAX_ENTRIES:
                newest = sorted(entries.items(), key=lambda kv: kv[1].get("u", 0), reverse=True)
                entries = dict(newest[:MAX_ENTRIES])
            body = json.dumps({"format": FORMAT, "entries": entries}, separators=(",", ":"))
            atomic_write(self.path, body.encode())
        self._entries = entries
        self._dirty = {}
