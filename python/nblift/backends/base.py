"""The interface every run backend implements.

A backend takes a run (its typed specification, `RunSpec`, with the bundle in the local object store) to
the place it executes, starts `python -m nblift.target.runner` there and keeps the local run record in
step with it. The run's states, events and MLflow run are the runner's job and the same everywhere; a
backend only moves things and processes. The public methods fix the order of work (`check`: sync, then
liveness, then the heartbeat; `cancel`: SIGTERM, a grace period, SIGKILL); backends override the protected
hooks (`_submit`, `_alive`, `_sync`, `_terminate`, `_kill`, `_fetch`) and list their own targets
(`targets`). A backend module imports its heavy library (ray, asyncssh) lazily, never from nblift's top
level. Code that runs on the target lives in nblift.target, never here.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..costs.prices import Priced
from ..fsutil import atomic_write
from ..runs.model import RunHandle, RunSpec, RunState
from ..runs.records import HANDLE_FILE, RunRecord

if TYPE_CHECKING:
    from ..environment.api_check import Probe

__all__ = ["Backend", "RunHandle", "RunRequest", "RunSpec", "RunState", "Target"]


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """Everything a backend needs to start one run.

    `record_dir` is the run's local record folder: the specification (`request.json`, what the runner
    reads) is already in it, and the backend keeps `events.jsonl`, `state.json` and `heartbeat` there up to
    date (`_sync`). The bundle's objects are in the object store at `store_dir`.
    """

    spec: RunSpec
    record_dir: Path
    store_dir: Path

    @property
    def run_id(self) -> str:
        return self.spec.id

    @property
    def bundle_id(self) -> str:
        return self.spec.bundle

    @property
    def record(self) -> RunRecord:
        return RunRecord(self.record_dir, self.spec)


@dataclasses.dataclass(frozen=True)
class Target:
    """One place a backend kind can run things, as the launch dialog lists it (`ssh:gpu1`)."""

    name: str  # KIND:NAME
    gpus: str | None = None  # what the settings say about its GPUs, in words


@dataclasses.dataclass(frozen=True)
class HostFacts:
    """What a target host offers a push, read in one round trip (None: not found, or not readable)."""

    python_command: str  # the interpreter runs use there, as configured
    python: str | None  # its version ("3.11.2")
    uv_command: str
    uv: str | None  # uv's version line
    uv_elsewhere: str | None  # an executable uv outside the PATH of a non-interactive login
    disk_free: int | None  # bytes free where runs and environments go
    driver: str | None  # the NVIDIA driver
    #: Each package index asked about: "ok" when it answered (any HTTP status), else why not.
    indexes: Mapping[str, str] = dataclasses.field(default_factory=dict)


class Backend(abc.ABC):
    """A place where notebook runs execute."""

    name: str = ""
    #: How often `cancel` looks whether the runner has stopped after SIGTERM.
    cancel_poll_s: float = 0.1
    #: The settings table that names this kind's targets (`ssh_hosts`: `[tool.nblift.ssh_hosts.NAME]`); empty
    #: for a kind that runs as it is (local). A kind with a table is offered only through configured targets.
    target_table: str = ""

    def __init__(self, project: Any = None) -> None:
        #: The nblift Project the run belongs to (its settings name hosts, clusters, credentials files).
        self.project = project

    @classmethod
    def targets(cls, project: Any) -> list[Target]:
        """The named targets of this kind the project's settings configure (empty: the bare kind only)."""
        return []

    @classmethod
    def target_setup(cls) -> str | None:
        """How to add a target, for a kind that runs only on a configured one (None: the bare kind runs)."""
        if not cls.target_table:
            return None
        return f"add a [tool.nblift.{cls.target_table}.NAME] table to the project's pyproject.toml"

    def submit(self, request: RunRequest) -> RunHandle:
        """Start the run once: a request whose record already names a handle gets that handle back."""
        saved = request.record_dir / HANDLE_FILE
        if saved.is_file():
            return RunHandle.from_json(json.loads(saved.read_text()))
        handle = self._submit(request)
        atomic_write(saved, json.dumps(handle.to_json()).encode())
        return handle

    def check(
        self, handle: RunHandle, record: RunRecord, heartbeat_timeout: float, start_grace: float
    ) -> str | None:
        """Bring the record up to date, then say why the run is lost (None: it is not, or it ended).

        The order is fixed: sync what the target wrote, then ask whether the runner process exists, then
        judge the heartbeat (a runner that never beat gets `start_grace` seconds to start)."""
        self.sync(handle, record.folder)
        if RunState(record.state()["state"]).terminal:
            return None
        if self.alive(handle) is False:
            return "the runner process is gone"
        beat = record.heartbeat_age()
        if beat is not None and beat > heartbeat_timeout:
            return f"no heartbeat for {beat:.0f} s"
        if beat is None and time.time() - record.spec.created > start_grace + heartbeat_timeout:
            return "the runner never started"
        return None

    def alive(self, handle: RunHandle) -> bool | None:
        """Whether the run's worker process still exists (None: this backend cannot tell; the heartbeat
        decides)."""
        return self._alive(handle)

    def sync(self, handle: RunHandle, record_dir: Path) -> None:
        """Bring new events, the state and the heartbeat from where the run executes into `record_dir`."""
        self._sync(handle, record_dir)

    def cancel(self, handle: RunHandle, grace_seconds: float, stopped: Callable[[], bool]) -> None:
        """Ask the runner to stop (SIGTERM: it records CANCELLED), wait up to `grace_seconds` until
        `stopped()` says a terminal state is recorded or the runner is gone, then kill what is left."""
        self._terminate(handle)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline and not stopped() and self._alive(handle) is not False:
            time.sleep(self.cancel_poll_s)
        if not stopped():
            self._kill(handle)

    def reap(self, handle: RunHandle) -> None:
        """Clean up after a runner that vanished (kill its orphaned kernel, free its machine)."""
        self._reap(handle)

    def fetch(self, handle: RunHandle, record_dir: Path) -> Path:
        """Bring the run's outputs (executed notebook, artifacts) into the record; return their folder."""
        return self._fetch(handle, record_dir)

    def has_checkpoint(self, handle: RunHandle, record_dir: Path) -> bool | None:
        """Whether the run left a kernel checkpoint that `nblift run --resume` continues from (None: this
        backend keeps none it can resume from). A backend that says True brings the checkpoint of the run
        a new run's `spec.resume_from` names to where that new run executes."""
        return None

    def gpu_driver(self) -> str | None:
        """The NVIDIA driver version where this backend runs things (None: no GPU, or it cannot tell);
        preflight checks the lock's CUDA build against it."""
        return self._gpu_driver()

    def _gpu_driver(self) -> str | None:
        return None

    def host_facts(self, indexes: Sequence[str] = ()) -> HostFacts | None:
        """What the host runs go to offers, and whether it reaches `indexes` (None: this backend runs where
        nblift runs, or cannot tell); preflight checks the lock and the push against it."""
        return self._host_facts(tuple(indexes))

    def price(self) -> tuple[Priced, str]:
        """What this backend's target says about its price (`hourly_cost`, `instance_type`, `max_cost`),
        and the settings table it comes from, for messages."""
        return Priced(), self.name

    def environment_probe(self, requirements: Path, index_strategy: str | None) -> Probe | None:
        """Runs preflight's API probe in the environment this backend keeps for a lock (its hashed
        `requirements`, resolved with `index_strategy`); None: this backend has no environment of its own.
        The probe raises ProbeFailed (with a hint) where that environment is not built yet."""
        return None

    def _host_facts(self, indexes: tuple[str, ...]) -> HostFacts | None:
        return None

    @abc.abstractmethod
    def _submit(self, request: RunRequest) -> RunHandle:
        """Start `python -m nblift.target.runner` for the request where this backend runs things."""

    @abc.abstractmethod
    def _alive(self, handle: RunHandle) -> bool | None:
        """True while the runner process exists, False once it is gone, None when unknowable."""

    def _sync(self, handle: RunHandle, record_dir: Path) -> None:  # noqa: B027 - optional hook
        """A backend whose runner writes elsewhere copies its files here; the local one has nothing to do."""

    @abc.abstractmethod
    def _terminate(self, handle: RunHandle) -> None:
        """Ask the runner to stop (SIGTERM to its process group, or the backend's equivalent)."""

    @abc.abstractmethod
    def _kill(self, handle: RunHandle) -> None:
        """Stop whatever is left of the run at once (SIGKILL to its process group)."""

    def _reap(self, handle: RunHandle) -> None:  # noqa: B027 - optional hook
        """Free what a vanished runner left behind; nothing by default."""

    @abc.abstractmethod
    def _fetch(self, handle: RunHandle, record_dir: Path) -> Path:
        """Copy outputs into `record_dir / "output"`, keeping every file inside it; return that folder."""
