"""Sign what a snapshot stores with this user's secret key, as notebook trust does (nbformat `sign.py`).

Nothing pickled is loaded unless the manifest that points at it carries an HMAC made with this user's key
(SECURITY.md, "Stored state"). The key is 32 random bytes in a file only its owner can read: created
atomically with mode 0600 inside a 0700 folder, refused if anyone else could read or change it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from ..errors import NbliftError
from ..fsutil import ensure_dir, fsync_dir, open_temp

KEY_BYTES = 32
KEY_ENV = "NBLIFT_SECRET_FILE"
_LOOSE_BITS = stat.S_IRWXG | stat.S_IRWXO


def default_key_path() -> Path:
    """`$NBLIFT_SECRET_FILE` if set, else `$XDG_DATA_HOME/nblift/snapshot_secret` (XDG_DATA_HOME defaults
    to ~/.local/share)."""
    override = os.environ.get(KEY_ENV)
    if override:
        return Path(override).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "nblift" / "snapshot_secret"


def load_or_create_key(path: Path | None = None) -> bytes:
    """This user's signing key: read from `path` (default `default_key_path()`), created there if missing.

    Creation is atomic and race-free: the key is written to a 0600 temp file and hard-linked to its final
    name, so two kernels starting together end up with the same key. An existing file that others could read
    or write is refused: a key anyone can read lets them forge trusted snapshots.
    """
    path = default_key_path() if path is None else path
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    _check_folder(ensure_dir(path.parent))
    with open_temp(path.parent) as (temp, fh):
        fh.write(secrets.token_bytes(KEY_BYTES))
    try:
        os.link(temp, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return _read_key(path)


def _check_folder(folder: Path) -> None:
    """Refuse a key folder others may write to (they could swap the key file), unless it is sticky (/tmp)."""
    info = folder.stat()
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
        raise NbliftError(
            f"the folder {folder} that holds nblift's signing key can be written by other users",
            hint=f"run `chmod 700 {folder}`, or set {KEY_ENV} to a file in a private folder",
        )


def _read_key(path: Path) -> bytes:
    """The key bytes of an existing key file, after checking its owner, mode and size."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO planted there must not hang us
    try:
        info = os.fstat(fd)
        _check_key_file(path, info)
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) != KEY_BYTES:
        raise NbliftError(
            f"nblift's signing key {path} is {len(data)} bytes long, not {KEY_BYTES}",
            hint=f"move it aside; a new key is made on next use (snapshots signed with the old one then need "
            f"`nblift snapshots trust`), or set {KEY_ENV} to the right file",
        )
    return data


def _check_key_file(path: Path, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise NbliftError(
            f"nblift's signing key {path} is not a regular file", hint=f"remove it or set {KEY_ENV}"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise NbliftError(
            f"nblift's signing key {path} belongs to another user (uid {info.st_uid})",
            hint=f"set {KEY_ENV} to a key file of your own",
        )
    if info.st_mode & _LOOSE_BITS:
        raise NbliftError(
            f"nblift's signing key {path} can be read or written by other users "
            f"(mode {stat.S_IMODE(info.st_mode):04o}), so snapshots signed with it cannot be trusted",
            hint=f"run `chmod 600 {path}` if only you ever had access; otherwise delete it (a new key is "
            "made) and re-trust your snapshots with `nblift snapshots trust`",
        )


def sign(payload: bytes, key: bytes) -> str:
    """HMAC-SHA256 of `payload` with `key`, as 64 lowercase hex characters."""
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def verify(payload: bytes, signature: str, key: bytes) -> bool:
    """Whether `signature` is `sign(payload, key)`, compared in constant time; False when malformed."""
    if not isinstance(signature, str) or not signature.isascii():
        return False
    return hmac.compare_digest(sign(payload, key), signature)


def canonical_json(obj: Any) -> bytes:
    """`obj` as JSON with sorted keys, no whitespace and ASCII only: the same bytes for the same data."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
