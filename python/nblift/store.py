"""Content-addressed object store: BLAKE3 ids, git-style shards, atomic writes, verified reads.

Layout under the project's state folder::

    objects/ab/cdef...   one object, named by the BLAKE3 hex digest of its bytes (files 0600, folders 0700)
    objects/tmp/         objects being written (a crash leaves only files here; gc removes old ones)
    refs/<kind>/<name>   JSON {"objects": [...]}: what keeps objects alive (snapshots, bundles, data)

An object reaches its final name only after its bytes are fsynced, so a reader never sees half an object.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import blake3

from .errors import InvalidInput, NotFound, ObjectCorrupt
from .fsutil import TEMP_PREFIX, atomic_write, ensure_dir, open_temp, publish

_OID = re.compile(r"^[0-9a-f]{64}$")
_REF_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_CHUNK = 1 << 20
_MMAP_MIN = 8 << 20


def check_oid(oid: str) -> str:
    """Return `oid` if it is a well-formed object id, else raise InvalidInput."""
    if not isinstance(oid, str) or not _OID.match(oid):
        raise InvalidInput(f"{oid!r} is not an object id", hint="object ids are 64 lowercase hex characters")
    return oid


_threads_allowed = True


def single_threaded_hashing() -> None:
    """Hash on the calling thread only (in a forked child, an inherited thread pool has no threads)."""
    global _threads_allowed
    _threads_allowed = False


def new_hasher(nbytes: int) -> blake3.blake3:
    """A BLAKE3 hasher: multi-threaded for large inputs where that is safe."""
    threaded = _threads_allowed and nbytes >= _MMAP_MIN
    return blake3.blake3(max_threads=blake3.blake3.AUTO if threaded else 1)


def hash_file(path: Path) -> str:
    """BLAKE3 of a file; large files are memory-mapped and hashed on all cores."""
    hasher = new_hasher(path.stat().st_size)
    if path.stat().st_size >= _MMAP_MIN:
        hasher.update_mmap(path)
    else:
        hasher.update(path.read_bytes())
    return hasher.hexdigest()


@dataclasses.dataclass(frozen=True)
class StoreStats:
    objects: int
    bytes: int


class ObjectStore:
    """The object store of one project (`state_dir/objects`)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.objects_dir = state_dir / "objects"
        self.tmp_dir = self.objects_dir / "tmp"
        self.refs_dir = state_dir / "refs"
        #: Bytes this instance added to the store (objects that were already there cost nothing).
        self.bytes_written = 0
        #: Told the id of each object this instance adds, once it is published (a move sends it on at once).
        self.on_publish: Callable[[str], None] | None = None

    # -- objects -------------------------------------------------------------------------------------
    def path_of(self, oid: str) -> Path:
        check_oid(oid)
        return self.objects_dir / oid[:2] / oid[2:]

    def has(self, oid: str) -> bool:
        return self.path_of(oid).is_file()

    def put_bytes(self, data: bytes | bytearray | memoryview) -> str:
        """Store `data` and return its id; storing the same bytes again writes nothing."""
        hasher = new_hasher(len(data))
        hasher.update(data)
        oid = hasher.hexdigest()
        if self.has(oid):
            return oid
        with open_temp(self.tmp_dir) as (temp, fh):
            fh.write(data)
        self._publish(temp, oid)
        self.bytes_written += len(data)
        return oid

    def put_stream(self, chunks: Iterable[bytes | memoryview]) -> str:
        """Store bytes arriving in chunks (hashed while written) and return the id."""
        hasher = blake3.blake3()
        size = 0
        with open_temp(self.tmp_dir) as (temp, fh):
            for chunk in chunks:
                hasher.update(chunk)
                size += fh.write(chunk)
        oid = hasher.hexdigest()
        if self.has(oid):
            temp.unlink(missing_ok=True)
        else:
            self._publish(temp, oid)
            self.bytes_written += size
        return oid

    def put_file(self, path: Path) -> str:
        def chunks() -> Iterator[bytes]:
            with path.open("rb") as fh:
                while block := fh.read(_CHUNK):
                    yield block

        return self.put_stream(chunks())

    def _publish(self, temp: Path, oid: str) -> None:
        final = self.path_of(oid)
        ensure_dir(final.parent)
        publish(temp, final)
        if self.on_publish is not None:
            self.on_publish(oid)

    def get_bytes(self, oid: str) -> bytes:
        """The object's bytes, verified against its id (ObjectCorrupt names the object if not)."""
        path = self.path_of(oid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"object {oid} is not in the store {self.objects_dir}",
                hint="run `nblift fsck` to see what else is missing",
            ) from None
        if blake3.blake3(data).hexdigest() != oid:
            raise ObjectCorrupt(
                f"object {oid} is corrupt: its content no longer matches its hash",
                hint="run `nblift fsck`; restore it from a copy of the store or re-create it",
            )
        return data

    def verify(self, oid: str) -> bool:
        return hash_file(self.path_of(oid)) == oid

    def iter_ids(self) -> Iterator[str]:
        """Every object id in the store (temp files excluded)."""
        if not self.objects_dir.is_dir():
            return
        for shard in os.scandir(self.objects_dir):
            if len(shard.name) != 2 or not shard.is_dir(follow_symlinks=False):
                continue
            for entry in os.scandir(shard.path):
                oid = shard.name + entry.name
                if _OID.match(oid) and entry.is_file(follow_symlinks=False):
                    yield oid

    def stats(self) -> StoreStats:
        count = size = 0
        for oid in self.iter_ids():
            count += 1
            size += self.path_of(oid).stat().st_size
        return StoreStats(objects=count, bytes=size)

    def delete(self, oid: str) -> int:
        """Remove one object; returns the bytes freed (0 if it was absent)."""
        path = self.path_of(oid)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def temp_files(self) -> list[Path]:
        if not self.tmp_dir.is_dir():
            return []
        return [p for p in self.tmp_dir.iterdir() if p.name.startswith(TEMP_PREFIX)]

    # -- refs ----------------------------------------------------------------------------------------
    def _ref_path(self, kind: str, name: str) -> Path:
        for part in (kind, name):
            if not _REF_NAME.match(part):
                raise InvalidInput(
                    f"{part!r} is not a valid ref name",
                    hint="use letters, digits, '.', '_' and '-' (up to 128 characters)",
                )
        return self.refs_dir / kind / name

    def set_ref(self, kind: str, name: str, oids: Iterable[str]) -> None:
        """Record that `kind/name` keeps `oids` alive (written atomically)."""
        ids = sorted({check_oid(o) for o in oids})
        path = self._ref_path(kind, name)
        ensure_dir(path.parent)
        atomic_write(path, json.dumps({"objects": ids}).encode())

    def get_ref(self, kind: str, name: str) -> list[str]:
        path = self._ref_path(kind, name)
        try:
            return list(json.loads(path.read_bytes())["objects"])
        except FileNotFoundError:
            raise NotFound(f"no ref {kind}/{name}") from None

    def delete_ref(self, kind: str, name: str) -> None:
        self._ref_path(kind, name).unlink(missing_ok=True)

    def iter_refs(self) -> Iterator[tuple[str, list[str] | None]]:
        """(ref name, its objects) for every ref; objects is None for an unreadable ref file."""
        if not self.refs_dir.is_dir():
            return
        for path in sorted(self.refs_dir.glob("*/*")):
            if path.name.startswith(TEMP_PREFIX) or not path.is_file():
                continue
            name = f"{path.parent.name}/{path.name}"
            try:
                objects = json.loads(path.read_bytes())["objects"]
                yield name, [check_oid(o) for o in objects]
            except (ValueError, KeyError, TypeError, InvalidInput):
                yield name, None

    def reachable(self) -> set[str]:
        live: set[str] = set()
        for _, objects in self.iter_refs():
            live.update(objects or ())
        return live

    @staticmethod
    def age_seconds(path: Path, now: float | None = None) -> float:
        return (time.time() if now is None else now) - path.stat().st_mtime
