"""The interface every run backend implements.

A backend takes a run request (a bundle in the local object store, the run's parameters and limits) to the
place it executes, starts `python -m nblift.runner` there and keeps the local run record in step with it.
The run's states, events and MLflow run are the runner's job and the same everywhere; a backend only moves
things and processes. Public methods fix the order of work; backends override the protected hooks
(`_submit`, `_alive`, `_sync`, `_cancel`, `_fetch`). A backend module imports its heavy library (ray,
asyncssh, kubernetes, sky) at module level or lazily, never from nblift's top level.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write

HANDLE_FILE = "handle.json"


class RunState(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    LOST = "LOST"

    @property
    def terminal(self) -> bool:
        return self not in {RunState.PENDING, RunState.RUNNING}


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """Everything a backend needs to start one run.

    `record_dir` is the run's local record folder: `request.json` (what the runner reads) is already in
    it, and the backend keeps `events.jsonl`, `state.json` and `heartbeat` there up to date (`_sync`).
    The bundle's objects are in the object store at `store_dir`.
    """

    run_id: str
    record_dir: Path
    store_dir: Path
    bundle_id: str
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RunHandle:
    """Identifies one started run on one backend; `details` is JSON-ready and kept in the record."""

    backend: str
    run_id: str
    native_id: str
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunHandle:
        return cls(str(data["backend"]), str(data["run_id"]), str(data["native_id"]), dict(data["details"]))


class Backend(abc.ABC):
    """A place where notebook runs execute."""

    name: str = ""

    def __init__(self, project: Any = None) -> None:
        #: The nblift Project the run belongs to (its settings name hosts, clusters, credentials files).
        self.project = project

    def submit(self, request: RunRequest) -> RunHandle:
        """Start the run once: a request whose record already names a handle gets that handle back."""
        saved = request.record_dir / HANDLE_FILE
        if saved.is_file():
            return RunHandle.from_json(json.loads(saved.read_text()))
        handle = self._submit(request)
        atomic_write(saved, json.dumps(handle.to_json()).encode())
        return handle

    def alive(self, handle: RunHandle) -> bool | None:
        """Whether the run's worker process still exists (None: this backend cannot tell; the heartbeat
        decides)."""
        return self._alive(handle)

    def sync(self, handle: RunHandle, record_dir: Path) -> None:
        """Bring new events, the state and the heartbeat from where the run executes into `record_dir`."""
        self._sync(handle, record_dir)

    def cancel(self, handle: RunHandle, grace_seconds: float, stopped: Callable[[], bool]) -> None:
        """Ask the runner to stop (it records CANCELLED), wait up to `grace_seconds` until `stopped()` says
        a terminal state is recorded, then kill what is left."""
        self._cancel(handle, grace_seconds, stopped)

    def reap(self, handle: RunHandle) -> None:
        """Clean up after a runner that vanished (kill its orphaned kernel, free its machine)."""
        self._reap(handle)

    def fetch(self, handle: RunHandle, record_dir: Path) -> Path:
        """Bring the run's outputs (executed notebook, artifacts) into the record; return their folder."""
        return self._fetch(handle, record_dir)

    def gpu_driver(self) -> str | None:
        """The NVIDIA driver version where this backend runs things (None: no GPU, or it cannot tell);
        preflight checks the lock's CUDA build against it."""
        return self._gpu_driver()

    def _gpu_driver(self) -> str | None:
        return None

    @abc.abstractmethod
    def _submit(self, request: RunRequest) -> RunHandle:
        """Start `python -m nblift.runner` for the request where this backend runs things."""

    @abc.abstractmethod
    def _alive(self, handle: RunHandle) -> bool | None:
        """True while the runner process exists, False once it is gone, None when unknowable."""

    def _sync(self, handle: RunHandle, record_dir: Path) -> None:  # noqa: B027 - optional hook
        """A backend whose runner writes elsewhere copies its files here; the local one has nothing to do."""

    @abc.abstractmethod
    def _cancel(self, handle: RunHandle, grace_seconds: float, stopped: Callable[[], bool]) -> None:
        """Terminate the runner and its whole process tree (SIGTERM, grace, SIGKILL)."""

    def _reap(self, handle: RunHandle) -> None:  # noqa: B027 - optional hook
        """Free what a vanished runner left behind; nothing by default."""

    @abc.abstractmethod
    def _fetch(self, handle: RunHandle, record_dir: Path) -> Path:
        """Copy outputs into `record_dir / "output"`, keeping every file inside it; return that folder."""
