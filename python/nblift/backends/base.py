"""The interface every run backend implements.

Public methods fix the order of work and what callers can rely on; backends override the protected
hooks (`_submit`, `_poll`, `_stream`, `_cancel`, `_fetch`). A backend module must import its heavy
library (ray, asyncssh, kubernetes, sky) at module level or lazily, never from nblift's top level.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any


class RunState(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    LOST = "LOST"

    @property
    def terminal(self) -> bool:
        return self in {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.LOST}


@dataclasses.dataclass(frozen=True)
class RunHandle:
    """Identifies one submitted run on one backend. `submission_id` makes submission idempotent."""

    backend: str
    submission_id: str
    native_id: str
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class RunEvent:
    """One progress or log event of a run (cell started/finished, a log line, a state change)."""

    kind: str
    data: Mapping[str, Any]


class Backend(abc.ABC):
    """A place where notebook runs execute."""

    name: str = ""

    def submit(self, bundle_dir: Path, parameters: Mapping[str, Any], submission_id: str) -> RunHandle:
        """Start a run of the bundle; submitting the same `submission_id` twice starts it once."""
        if not bundle_dir.is_dir():
            raise FileNotFoundError(f"bundle folder {bundle_dir} does not exist")
        return self._submit(bundle_dir, dict(parameters), submission_id)

    def status(self, handle: RunHandle) -> RunState:
        return self._poll(handle)

    def stream(self, handle: RunHandle) -> Iterator[RunEvent]:
        """Events until the run reaches a terminal state."""
        yield from self._stream(handle)

    def cancel(self, handle: RunHandle, grace_seconds: float = 10.0) -> RunState:
        """Stop the run (terminate, wait `grace_seconds`, kill) and return its final state."""
        return self._cancel(handle, grace_seconds)

    def fetch(self, handle: RunHandle, destination: Path) -> Path:
        """Copy the run's outputs (executed notebook, logs, artifacts) under `destination`."""
        destination.mkdir(parents=True, exist_ok=True)
        return self._fetch(handle, destination)

    @abc.abstractmethod
    def _submit(self, bundle_dir: Path, parameters: dict[str, Any], submission_id: str) -> RunHandle:
        """Start the run; return a handle. Must be idempotent per submission id."""

    @abc.abstractmethod
    def _poll(self, handle: RunHandle) -> RunState:
        """The run's current state; a run whose worker vanished is LOST, never RUNNING."""

    @abc.abstractmethod
    def _stream(self, handle: RunHandle) -> Iterator[RunEvent]:
        """Yield events as they happen; end once the run is terminal."""

    @abc.abstractmethod
    def _cancel(self, handle: RunHandle, grace_seconds: float) -> RunState:
        """Terminate the run and its whole process tree."""

    @abc.abstractmethod
    def _fetch(self, handle: RunHandle, destination: Path) -> Path:
        """Copy outputs into `destination`, keeping every file inside it."""
