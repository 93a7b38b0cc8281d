"""Hashes of local files and folders, read only when the persistent cache (`hashcache`) cannot answer.

- BLAKE3 for nblift's own hashes: large files memory-mapped and hashed on several threads
  (`store.new_hasher`);
- md5 as DVC computes it (`md5` for DVC 3 records; `md5-dos2unix` for DVC 2 records, where text chunks have
  CRLF turned into LF first), to say whether a DVC-tracked file still matches its record;
- a folder's hash is a tree hash: BLAKE3 over the sorted (relative path, file hash, size) of its files.

`STATS` counts the files actually read (cache misses), so tests and benchmarks can tell a re-hash from a hit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import time
from pathlib import Path

from .. import store
from .hashcache import FileKey, HashCache

_CHUNK = 1 << 20
_TEXT_CHARS = bytes(range(32, 127)) + b"\n\r\t\f\b"
#: Files hashed on a thread pool when a folder has at least this many (and threads are allowed).
_POOL_MIN_FILES = 64
_ATTEMPTS = 3
TREE_FORMAT = b"nblift.tree/1\n"
#: Folders never part of a tracked folder's content.
SKIP_DIRS = frozenset({".git", ".hg", "__pycache__", ".ipynb_checkpoints"})
ALGORITHMS = ("blake3", "md5", "md5-dos2unix")


@dataclasses.dataclass
class HashStats:
    """Files and bytes read to hash them in this process (cache hits read nothing)."""

    files: int = 0
    bytes: int = 0
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.files += 1
            self.bytes += nbytes

    def reset(self) -> None:
        with self._lock:
            self.files = self.bytes = 0


STATS = HashStats()


def _is_text(block: bytes) -> bool:
    """DVC's heuristic (dvc_data.hashfile.istextfile) on a chunk's first 512 bytes."""
    if not block:
        return True
    if b"\x00" in block:
        return False
    return len(block.translate(None, _TEXT_CHARS)) / len(block) <= 0.30


def read_digest(path: Path, algorithm: str, size: int) -> str:
    """Read `path` and return its hex digest (always reads; counted in `STATS`)."""
    STATS.add(size)
    if algorithm == "blake3":
        hasher = store.new_hasher(size)
        if size >= store._MMAP_MIN:
            hasher.update_mmap(path)
        else:
            hasher.update(path.read_bytes())
        return hasher.hexdigest()
    if algorithm not in ("md5", "md5-dos2unix"):
        raise ValueError(f"unknown hash algorithm {algorithm!r}")
    md5 = hashlib.md5(usedforsecurity=False)
    dos2unix = algorithm == "md5-dos2unix"
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            if dos2unix and _is_text(chunk[:512]):
                chunk = chunk.replace(b"\r\n", b"\n")
            md5.update(chunk)
    return md5.hexdigest()


def file_digest(path: Path, algorithm: str, cache: HashCache) -> tuple[str, int]:
    """(hex digest, size) of the file at `path`, from the cache when its (device, inode, mtime, size) match.

    A file that changes while it is read is read again (up to 3 times); a digest is cached only when the file
    was the same before and after the read and its mtime is not racy (`hashcache.is_racy`)."""
    for _ in range(_ATTEMPTS):
        examined_at = time.time_ns()
        key = FileKey.of(path.stat())
        hit = cache.get(key, algorithm)
        if hit is not None:
            return hit, key.size
        digest = read_digest(path, algorithm, key.size)
        if FileKey.of(path.stat()) == key:
            cache.put(key, algorithm, digest, examined_at_ns=examined_at)
            return digest, key.size
    return digest, key.size


def list_files(folder: Path, skip_dirs: frozenset[str] = SKIP_DIRS) -> list[tuple[str, Path]]:
    """(relative POSIX path, path) of every file under `folder`, sorted by relative path. Symlinked folders
    are followed once (a loop is not entered twice); symlinks to files count as the file they point to."""
    out: list[tuple[str, Path]] = []
    seen: set[tuple[int, int]] = set()
    for current, dirs, names in os.walk(folder, followlinks=True):
        st = Path(current).stat()
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = [d for d in dirs if d not in skip_dirs]
        base = Path(current)
        rel_base = base.relative_to(folder).as_posix()
        for name in names:
            path = base / name
            if path.is_file():
                out.append((name if rel_base == "." else f"{rel_base}/{name}", path))
    out.sort()
    return out


def files_digests(
    files: list[tuple[str, Path]], algorithm: str, cache: HashCache
) -> dict[str, tuple[str, int]]:
    """{relative path: (digest, size)} for `files`; many files are hashed on a thread pool where allowed."""
    if len(files) >= _POOL_MIN_FILES and store._threads_allowed:
        from concurrent.futures import ThreadPoolExecutor

        cache.load()
        workers = min(8, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nblift-hash") as pool:
            digests = list(pool.map(lambda item: file_digest(item[1], algorithm, cache), files))
        return {rel: digest for (rel, _), digest in zip(files, digests, strict=True)}
    return {rel: file_digest(path, algorithm, cache) for rel, path in files}


def tree_hash(files: dict[str, tuple[str, int]]) -> str:
    """BLAKE3 over the sorted (relative path, file hash, size) of a folder's files."""
    hasher = store.new_hasher(0)
    hasher.update(TREE_FORMAT)
    for rel in sorted(files):
        digest, size = files[rel]
        hasher.update(f"{rel}\0{digest}\0{size}\n".encode())
    return hasher.hexdigest()


@dataclasses.dataclass(frozen=True)
class LocalDigest:
    """A file's or folder's content hash: `blake3:<hex>` (a folder's is its tree hash)."""

    kind: str  # "file" | "folder"
    hash: str
    size: int
    files: int | None = None


def hash_path(path: Path, cache: HashCache) -> LocalDigest:
    """The BLAKE3 content hash of a file or a folder (FileNotFoundError when it is neither)."""
    if path.is_dir():
        digests = files_digests(list_files(path), "blake3", cache)
        return LocalDigest(
            "folder",
            f"blake3:{tree_hash(digests)}",
            sum(size for _, size in digests.values()),
            len(digests),
        )
    if path.is_file():
        digest, size = file_digest(path, "blake3", cache)
        return LocalDigest("file", f"blake3:{digest}", size)
    raise FileNotFoundError(path)
