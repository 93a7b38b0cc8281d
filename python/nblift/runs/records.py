"""Run records: `.nblift/runs/<id>/` holds what was asked (the run's specification, `request.json`), where it
went (`handle.json`), what happened (`events.jsonl`, `state.json`, `heartbeat`) and what came back
(`output/`). `RunRecord` is the one object that reads and writes them.

`state.json` has one writer at a time in practice (the runner while it lives; the reconciler once it is
gone), and a terminal state is never replaced: the first one written wins.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound
from ..fsutil import atomic_write, ensure_dir, file_lock
from .events import EventKind, append_event, read_events
from .model import BUDGET_WARN_AT, SPEC_FILE, CostSpec, RunHandle, RunInfo, RunSpec, RunState, SpecError

RUNS_DIR = "runs"
REQUEST_FILE = SPEC_FILE
HANDLE_FILE = "handle.json"
STATE_FILE = "state.json"
HEARTBEAT_FILE = "heartbeat"
OUTPUT_DIR = "output"
RUNNER_LOG = "runner.log"
MLFLOW_FILE = "mlflow.json"
RUN_ID = re.compile(r"[0-9a-f]{12}")


def check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise InvalidInput(f"{run_id!r} is not a run id", hint="run ids are 12 hex digits; see `nblift runs`")
    return run_id


def runs_dir(state_dir: Path) -> Path:
    return state_dir / RUNS_DIR


def record_dir(state_dir: Path, run_id: str) -> Path:
    folder = runs_dir(state_dir) / check_run_id(run_id)
    if not (folder / REQUEST_FILE).is_file():
        raise NotFound(f"no run {run_id}", hint="`nblift runs` lists this project's runs")
    return folder


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write(path, json.dumps(data, indent=1, default=str).encode())


def read_spec(folder: Path) -> RunSpec:
    """The run's specification, or NotFound when its record is unreadable."""
    try:
        return RunSpec.read(folder)
    except (OSError, SpecError) as exc:
        raise NotFound(
            f"the run record {folder.name} is unreadable: {exc}", hint="`nblift runs` lists readable runs"
        ) from None


def read_handle(folder: Path) -> RunHandle | None:
    data = read_json(folder / HANDLE_FILE)
    try:
        return RunHandle.from_json(data) if data else None
    except (KeyError, TypeError):
        return None


def read_state(folder: Path) -> dict[str, Any]:
    """The recorded state (PENDING until the runner first writes one)."""
    state = read_json(folder / STATE_FILE) or {}
    try:
        state["state"] = RunState(state.get("state", RunState.PENDING)).value
    except ValueError:
        state["state"] = RunState.PENDING.value
    return state


def _state_lock(folder: Path) -> contextlib.AbstractContextManager[bool]:
    return file_lock(folder / "state.lock")


def update_state(folder: Path, **changes: Any) -> dict[str, Any]:
    """Merge `changes` into `state.json` unless a terminal state is recorded; return the state now."""
    with _state_lock(folder):
        state = read_state(folder)
        if RunState(state["state"]).terminal:
            return state
        state.update(changes)
        write_json(folder / STATE_FILE, state)
        return state


def heartbeat_age(folder: Path, now: float | None = None) -> float | None:
    """Seconds since the runner last proved it was alive (None: it never did)."""
    try:
        return (now or time.time()) - (folder / HEARTBEAT_FILE).stat().st_mtime
    except FileNotFoundError:
        return None


def beat(folder: Path) -> None:
    path = folder / HEARTBEAT_FILE
    try:
        os.utime(path)
    except FileNotFoundError:
        path.touch(mode=0o600)


def new_record(state_dir: Path, spec: RunSpec) -> RunRecord:
    folder = runs_dir(state_dir) / check_run_id(spec.id)
    ensure_dir(runs_dir(state_dir))
    folder.mkdir(mode=0o700)  # a clash of random ids fails loudly instead of mixing two runs
    atomic_write(folder / REQUEST_FILE, spec.dumps().encode())
    return RunRecord(folder, spec)


def iter_records(state_dir: Path) -> Iterator[Path]:
    folder = runs_dir(state_dir)
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if RUN_ID.fullmatch(entry.name) and (entry / REQUEST_FILE).is_file():
            yield entry


class RunRecord:
    """One run's record folder: its specification (read once), state, handle, events and heartbeat."""

    def __init__(self, folder: Path, spec: RunSpec | None = None) -> None:
        self.folder = folder
        self._spec = spec

    @classmethod
    def open(cls, state_dir: Path, run_id: str) -> RunRecord:
        return cls(record_dir(state_dir, run_id))

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def spec(self) -> RunSpec:
        if self._spec is None:
            self._spec = read_spec(self.folder)
        return self._spec

    def state(self) -> dict[str, Any]:
        return read_state(self.folder)

    def update_state(self, **changes: Any) -> dict[str, Any]:
        return update_state(self.folder, **changes)

    def handle(self) -> RunHandle | None:
        return read_handle(self.folder)

    def append(self, kind: EventKind, **data: Any) -> dict[str, Any]:
        return append_event(self.folder, kind, **data)

    def events(self, after: int = 0) -> tuple[list[dict[str, Any]], int]:
        return read_events(self.folder, after)

    def heartbeat_age(self, now: float | None = None) -> float | None:
        return heartbeat_age(self.folder, now)

    def mlflow(self) -> dict[str, Any] | None:
        return read_json(self.folder / MLFLOW_FILE)

    def info(self) -> RunInfo:
        spec, state = self.spec, self.state()
        return RunInfo(
            id=self.id,
            notebook=spec.notebook,
            backend=spec.backend,
            state=state["state"],
            parameters=dict(spec.parameters),
            created=spec.created,
            started=state.get("started"),
            finished=state.get("finished"),
            error=state.get("error"),
            mlflow=self.mlflow(),
            executed=state.get("executed"),
            bundle=spec.bundle,
            timeout=spec.timeout,
            cost=_cost(spec.cost, state),
        )


def _cost(cost: CostSpec | None, state: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a run costs as the doors show it: its rate, budget, estimate and what it spent."""
    if cost is None or not cost.hourly:  # unknown, or free (a local run by default)
        return None
    spent = state.get("cost")
    if spent is None and state.get("started") is not None:
        spent = cost.cost_of((state.get("finished") or time.time()) - float(state["started"]))
    estimate = cost.cost_of(cost.expected_seconds) if cost.expected_seconds is not None else None
    text = f"${spent:.2f} at ${cost.hourly:.2f}/h" if spent is not None else f"${cost.hourly:.2f}/h"
    warning = ""
    if cost.budget:
        text += f"; budget ${cost.budget:.2f}"
        if spent is not None and spent >= cost.budget * BUDGET_WARN_AT and not state.get("finished"):
            share = int(BUDGET_WARN_AT * 100)
            warning = f"over {share}% of its ${cost.budget:.2f} budget spent: it stops at ${cost.budget:.2f}"
    return {
        "hourly": cost.hourly,
        "source": cost.source,
        "as_of": cost.as_of,
        "budget": cost.budget,
        "estimate": estimate,
        "estimate_text": cost.estimate,
        "spent": spent,
        "text": text,
        "warning": warning,
    }


def run_info(folder: Path) -> RunInfo:
    return RunRecord(folder).info()


def resolve_run_id(state_dir: Path, prefix: str) -> str:
    """A full run id from a unique prefix of at least 4 hex digits (as git does)."""
    if not isinstance(prefix, str) or not re.fullmatch(r"[0-9a-f]{4,12}", prefix):
        raise InvalidInput(f"{prefix!r} is not a run id", hint="run ids are 12 hex digits; see `nblift runs`")
    matches = sorted(f.name for f in iter_records(state_dir) if f.name.startswith(prefix))
    if not matches:
        raise NotFound(f"no run {prefix}", hint="`nblift runs` lists this project's runs")
    if len(matches) > 1:
        raise InvalidInput(f"run id {prefix!r} is ambiguous: {', '.join(matches)}", hint="type more digits")
    return matches[0]
