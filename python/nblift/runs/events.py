"""A run's events: one JSON object per line in `events.jsonl`, appended by the runner and its kernel.

Every event is one of `EventKind`, with the payload `PAYLOADS` names for it (checked when it is written).
This vocabulary is published: the OpenAPI document's `RunEvent` schema and the browser's
`labextension/runEvents.ts` are generated from it (`python -m nblift.runs.event_schema --write`), and a
test fails when either is out of date.

Kept import-light: the kernel of a run imports it (through `nblift.log`) and so does the runner before
its kernel starts. Each event is written with a single `write` on an `O_APPEND` descriptor, so lines from
the runner and from the kernel never interleave.
"""

from __future__ import annotations

import enum
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


class EventKind(enum.StrEnum):
    """What happened in a run, in the order a run usually says it."""

    RUN_SUBMITTED = "run.submitted"
    BUNDLE_SENT = "bundle.sent"
    ENV_BUILDING = "env.building"
    ENV_READY = "env.ready"
    RAY_SUBMITTED = "ray.submitted"
    RUN_STARTED = "run.started"
    KERNEL_STARTING = "kernel.starting"
    CELL_STARTED = "cell.started"
    OUTPUT = "output"
    METRIC = "metric"
    CELL_ERROR = "cell.error"
    CELL_FINISHED = "cell.finished"
    TRACKING = "tracking"
    TRACKING_ERROR = "tracking.error"
    ARTIFACTS = "artifacts"
    BUDGET_WARNING = "budget.warning"
    RUN_FINISHED = "run.finished"


#: A payload field's JSON type: "string", "integer", "number", "boolean", "object", "array" (of strings),
#: "null" allowed with "|null"; a name ending in "?" may be left out.
_S, _I, _N = "string", "integer", "number"
PAYLOADS: dict[EventKind, dict[str, str]] = {
    EventKind.RUN_SUBMITTED: {"backend": _S, "bundle": _S, "new_bytes": _I, "resumed_from?": _S},
    EventKind.BUNDLE_SENT: {
        "target": _S,
        "objects": _I,
        "bytes": _I,
        "data_from_dvc?": "array",  # DVC inputs the target fetches from the DVC remote itself
        "data_note?": _S,  # why DVC inputs are sent from home instead
    },
    EventKind.ENV_BUILDING: {"target": _S, "key": _S},
    EventKind.ENV_READY: {"target": _S, "key": _S},
    EventKind.RAY_SUBMITTED: {"target": _S, "submission_id": _S},
    EventKind.RUN_STARTED: {"notebook": _S, "parameters": "object", "pid": _I},
    EventKind.KERNEL_STARTING: {"kernel": _S},
    EventKind.CELL_STARTED: {"index": _I, "cell": "integer|null", "label": _S},
    EventKind.OUTPUT: {"index": _I, "stream": _S, "text": _S},
    EventKind.METRIC: {"name": _S, "value": "number|null", "step": _I, "raw?": _S},
    EventKind.CELL_ERROR: {
        "index": _I,
        "cell": "integer|null",
        "label": _S,
        "ename": _S,
        "evalue": _S,
        "traceback": _S,
    },
    EventKind.CELL_FINISHED: {"index": _I, "cell": "integer|null", "duration": _N, "status": _S},
    EventKind.TRACKING: {"run_id": _S, "experiment_id": _S, "tracking_uri": _S},
    EventKind.TRACKING_ERROR: {"message": _S},
    EventKind.ARTIFACTS: {"files": "array"},
    EventKind.BUDGET_WARNING: {"spent": _N, "budget": _N, "hourly": _N},
    EventKind.RUN_FINISHED: {"state": _S, "error": "object|null", "cost?": _N},
}
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list, tuple),
    "null": (type(None),),
}


def check_payload(kind: EventKind, data: dict[str, Any]) -> None:
    """ValueError unless `data` is exactly the payload `kind` publishes (fields, their JSON types)."""
    fields = PAYLOADS[kind]
    for name, json_type in fields.items():
        key = name.rstrip("?")
        if key not in data:
            if name.endswith("?"):
                continue
            raise ValueError(f"event {kind}: no {key!r}")
        allowed = tuple(t for part in json_type.split("|") for t in _PY_TYPES[part])
        value = data[key]
        if not isinstance(value, allowed) or (isinstance(value, bool) and "boolean" not in json_type):
            raise ValueError(f"event {kind}: {key!r} is a {type(value).__name__}, not {json_type}")
    unknown = set(data) - {name.rstrip("?") for name in fields}
    if unknown:
        raise ValueError(f"event {kind}: unpublished fields {sorted(unknown)}")


def append_event(run_dir: Path, kind: EventKind | str, **data: Any) -> dict[str, Any]:
    """Append one event (`kind`, a timestamp and `data`) to the run's events file; return it. An event
    outside the published vocabulary is a ValueError (a bug in nblift, caught by its tests)."""
    kind = EventKind(kind)
    check_payload(kind, data)
    event = {"t": time.time(), "kind": kind.value, **data}
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
