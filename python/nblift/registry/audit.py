"""The registry's audit trail: who did what to which model version, when and why.

One JSON line per entry in `.nblift/registry/audit.jsonl`, appended under a lock and fsynced, never
rewritten. Each entry carries the hash of the one before it, so an edited or deleted line shows up in
`verify()` (and in the panel) instead of passing silently.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..fsutil import ensure_dir
from ..project import Project

AUDIT_FILE = "registry/audit.jsonl"
ACTIONS = ("register", "alias", "unalias", "promote", "override", "approve", "reject", "card", "gates")
_GENESIS = "0" * 64


def _path(project: Project) -> Path:
    return project.state_dir / AUDIT_FILE


def _digest(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _read(path: Path) -> Iterator[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        yield {"action": "unreadable", "raw": line[:200]}
    except FileNotFoundError:
        return


def record(
    project: Project,
    action: str,
    name: str,
    version: str | None,
    who: str,
    *,
    alias: str | None = None,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one entry (chained to the previous one) and return it."""
    assert action in ACTIONS, action
    path = _path(project)
    ensure_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        prev = _GENESIS
        seq = 0
        for entry in _read(path):
            prev = str(entry.get("hash", prev))
            seq = int(entry.get("seq", seq)) + 1 if isinstance(entry.get("seq"), int) else seq + 1
        entry = {
            "seq": seq,
            "time": time.time(),
            "who": who,
            "action": action,
            "model": name,
            "version": version,
            "alias": alias,
            "reason": reason,
            "details": details or {},
            "prev": prev,
        }
        entry["hash"] = _digest(entry)
        os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def entries(
    project: Project, name: str | None = None, version: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Entries oldest first, for one model (and version) when named; the newest `limit` when given."""
    found = [
        e
        for e in _read(_path(project))
        if (name is None or e.get("model") == name) and (version is None or e.get("version") == version)
    ]
    return found[-limit:] if limit else found


def verify(project: Project) -> list[str]:
    """Problems with the chain: entries edited, removed or reordered since they were written."""
    problems: list[str] = []
    prev = _GENESIS
    for index, entry in enumerate(_read(_path(project))):
        if entry.get("action") == "unreadable":
            problems.append(f"line {index + 1} is not JSON")
            continue
        if entry.get("prev") != prev:
            problems.append(
                f"entry {entry.get('seq')} does not follow the one before it (removed or reordered)"
            )
        if entry.get("hash") != _digest(entry):
            problems.append(f"entry {entry.get('seq')} was changed after it was written")
        prev = str(entry.get("hash"))
    return problems
