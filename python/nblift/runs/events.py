"""A run's events: one JSON object per line in `events.jsonl`, appended by the runner and its kernel.

Kept import-light: the kernel of a run imports it (through `nblift.log`) and so does the runner before
its kernel starts. Each event is written with a single `write` on an `O_APPEND` descriptor, so lines from
the runner and from the kernel never interleave.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

EVENTS_FILE = "events.jsonl"
#: Text longer than this in one output event is cut (the executed notebook keeps all of it).
MAX_TEXT = 16_384
#: Environment variable naming the run folder, set for the runner's kernel.
RUN_DIR_ENV = "NBLIFT_RUN_DIR"


def append_event(run_dir: Path, kind: str, **data: Any) -> dict[str, Any]:
    """Append one event (`kind`, a timestamp and `data`) to the run's events file; return it."""
    event = {"t": time.time(), "kind": kind, **data}
    line = (json.dumps(event, default=str, separators=(",", ":")) + "\n").encode()
    fd = os.open(run_dir / EVENTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return event


def read_events(run_dir: Path, after: int = 0, limit: int = 10_000) -> tuple[list[dict[str, Any]], int]:
    """Events from byte offset `after` on (whole lines only, at most `limit`); returns them and the offset
    to continue from."""
    path = run_dir / EVENTS_FILE
    try:
        with path.open("rb") as fh:
            fh.seek(after)
            chunk = fh.read()
    except FileNotFoundError:
        return [], after
    events: list[dict[str, Any]] = []
    offset = after
    for line in chunk.splitlines(keepends=True):
        if not line.endswith(b"\n") or len(events) >= limit:
            break  # a line still being written, or enough for one reply
        offset += len(line)
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a damaged line is skipped, never fatal
        if isinstance(event, dict):
            events.append(event)
    return events, offset


def clip(text: str) -> str:
    return (
        text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"\n[... {len(text) - MAX_TEXT} characters cut]"
    )
