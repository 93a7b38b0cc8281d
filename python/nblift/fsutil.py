"""Crash-safe file writes: temp file in the same folder, fsync, rename, fsync the folder."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700
TEMP_PREFIX = ".tmp-"


def user_cache_dir() -> Path:
    """nblift's folder in the user cache: `$XDG_CACHE_HOME/nblift`, else `~/.cache/nblift` (a relative
    XDG_CACHE_HOME is ignored, as the XDG base directory specification asks)."""
    base = Path(os.environ.get("XDG_CACHE_HOME", ""))
    if not base.is_absolute():
        base = Path.home() / ".cache"
    return base / "nblift"


def ensure_dir(path: Path) -> Path:
    """Create `path` (and parents) with mode 0700 where they are missing.

    `Path.mkdir(parents=True)` would create the missing parents with the default mode (0755 under the usual
    umask), so each missing folder is created on its own.
    """
    missing = []
    folder = path
    while not folder.is_dir() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=DIR_MODE, exist_ok=True)
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(folder: Path) -> Path:
    """A fresh, unguessable temp file name inside `folder` (readers and gc know the prefix)."""
    return folder / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"


@contextlib.contextmanager
def open_temp(folder: Path) -> Iterator[tuple[Path, BinaryIO]]:
    """Open a new 0600 temp file in `folder`; it is removed if the block raises."""
    ensure_dir(folder)
    path = temp_path(folder)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield path, fh
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def publish(temp: Path, final: Path) -> None:
    """Move a finished temp file to its final name atomically and make the rename durable."""
    temp.replace(final)
    fsync_dir(final.parent)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so readers see either the old file or the whole new one."""
    with open_temp(path.parent) as (temp, fh):
        fh.write(data)
    publish(temp, path)


@contextlib.contextmanager
def file_lock(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive advisory lock on the file `path` (created 0600) for the block.

    Yields True when the lock is held; with `blocking=False` it yields False at once when another process
    holds it. Where the platform has no `flock`, the block runs unlocked (yields True).
    """
    try:
        import fcntl
    except ImportError:  # no flock on this platform
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock
