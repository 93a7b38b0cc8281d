"""What every front door calls for runs: launch, list, show, events, wait, cancel, fetch.

State comes from the run record; whoever reads a record that is not terminal checks that its runner is
still there (a vanished process or a stale heartbeat makes it LOST), so a Jupyter server that restarts,
or a CLI that comes back later, reconciles the runs that were in flight.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..backends.base import Backend, RunRequest
from ..backends.registry import get_backend_class
from ..costs.prices import Priced
from ..errors import InvalidInput, NotFound
from ..project import Project
from .events import EventKind
from .model import RunHandle, RunInfo, RunSpec, RunState, TrackingSpec
from .params import check_parameters
from .records import OUTPUT_DIR, RunRecord, iter_records, new_record

log = logging.getLogger("nblift")
_SUBMISSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
POLL_S = 0.2
#: A runner must write its first heartbeat within this long of being launched (interpreter start-up).
START_GRACE_S = 60.0
#: Where `fetch` copies a run's outputs by default, inside the project.
FETCH_DIR = "nblift-runs"


def backend_for(project: Project, name: str) -> Backend:
    """The backend `name` names; `KIND:TARGET` (e.g. `ssh:gpu1`) picks one target of a backend kind."""
    kind, _, target = name.partition(":")
    cls = get_backend_class(kind)
    backend: Backend = cls(project, target) if target else cls(project)
    return backend


def _lineage_tags(
    project: Project, notebook_rel: str, bundle: Any, backend: str, run_id: str
) -> dict[str, str]:
    from ..environment.lock import LOCK_FILE, OWN_REQUIREMENTS_FILE, REQUIREMENTS_FILE
    from ..lineage import notebook_tags

    tags = {
        "nblift.kind": "run",
        "nblift.run_id": run_id,
        "nblift.backend": backend,
        "nblift.bundle": bundle.id,
        **notebook_tags(project, notebook_rel),
    }
    for rel, oid in bundle.files.items():
        if Path(rel).name in (LOCK_FILE, REQUIREMENTS_FILE, OWN_REQUIREMENTS_FILE):
            tags["nblift.lock"] = oid
            break
    return tags


def new_spec(
    project: Project,
    notebook: Path,
    parameters: Mapping[str, Any] | None,
    backend: str,
    *,
    timeout: float | None = None,
    budget: float | None = None,
    user: str | None = None,
    submission_id: str | None = None,
    priced: tuple[Priced, str] | None = None,
    data_from_source: bool = False,
) -> RunSpec:
    """A new run of `notebook` on `backend`: its bundle (stored), data inputs, cost estimate and lineage tags.

    Nothing is recorded or started (`launch` does that; `nblift export` hands the spec to another launcher,
    priced by `priced` instead of a backend's target).
    """
    from ..bundle import build_bundle
    from ..costs.estimate import estimate
    from ..data.inputs import for_run as run_inputs
    from ..identity import local_name

    bundle = build_bundle(project, notebook)
    data = run_inputs(project, notebook)  # a missing or unusable input stops the launch, naming it
    root = project.root.resolve()
    notebook_rel = (
        (notebook if notebook.is_absolute() else root / notebook).absolute().relative_to(root).as_posix()
    )
    cost = estimate(project, notebook_rel, backend, budget, priced=priced).spec()
    run_id = secrets.token_hex(6)
    return RunSpec(
        id=run_id,
        notebook=notebook_rel,
        backend=backend,
        bundle=bundle.id,
        parameters=check_parameters(parameters or {}),
        timeout=timeout,
        run_name=f"{Path(notebook_rel).stem} {run_id}",
        tags={
            **_lineage_tags(project, notebook_rel, bundle, backend, run_id),
            "mlflow.user": user or local_name(),
        },
        tracking=TrackingSpec(project=str(root)),
        bundle_new_bytes=bundle.new_bytes,
        submission_id=submission_id,
        cost=cost,
        data=data,
        data_from_source=data_from_source,
    )


def launch(
    project: Project,
    notebook: Path,
    parameters: Mapping[str, Any] | None = None,
    *,
    backend: str | None = None,
    timeout: float | None = None,
    submission_id: str | None = None,
    budget: float | None = None,
    user: str | None = None,
    data_from_source: bool = False,
) -> RunInfo:
    """Bundle the notebook, record the run and start it on `backend` (default: the project's setting).

    A caller that may retry (a browser after a dropped connection) passes a `submission_id` of its own: a
    second launch with the same id returns the first run instead of starting another. `budget` (USD,
    default: the target's `max_cost`) stops the run when its cost reaches it (`nblift.costs.estimate`);
    `user` is who launches it (default: this process's user, `nblift.identity`). With `data_from_source`,
    a remote target fetches S3, lakeFS and other URI inputs from their source instead of from home.
    """
    if submission_id is not None:
        submission_id = check_submission_id(submission_id)
        for folder in iter_records(project.state_dir):
            record = RunRecord(folder)
            with contextlib.suppress(NotFound):
                if record.spec.submission_id == submission_id:
                    return record.info()

    name = backend or project.settings.default_backend
    backend_obj = backend_for(project, name)
    if timeout is not None and timeout <= 0:
        raise InvalidInput(f"timeout {timeout} is not positive", hint="give a duration such as 30m or 2h")
    spec = new_spec(
        project,
        notebook,
        parameters,
        name,
        timeout=timeout,
        budget=budget,
        user=user,
        submission_id=submission_id,
        data_from_source=data_from_source,
    )
    return _start(project, backend_obj, spec)


def _start(project: Project, backend: Backend, spec: RunSpec) -> RunInfo:
    """Record the run and hand it to its backend (a failure to start is recorded as FAILED, then raised)."""
    record = new_record(project.ensure_state_dir(), spec)
    resumed = {"resumed_from": spec.resume_from} if spec.resume_from else {}
    record.append(
        EventKind.RUN_SUBMITTED,
        backend=spec.backend,
        bundle=spec.bundle,
        new_bytes=spec.bundle_new_bytes,
        **resumed,
    )
    try:
        backend.submit(RunRequest(spec, record.folder, project.state_dir))
    except Exception as exc:
        message = f"{spec.backend} could not start the run: {type(exc).__name__}: {exc}"
        record.update_state(state=RunState.FAILED.value, finished=time.time(), error={"message": message})
        record.append(EventKind.RUN_FINISHED, state=RunState.FAILED.value, error={"message": message})
        raise
    return record.info()


#: The ends a run can be resumed from: it stopped before its notebook did (a failed cell is fixed and run
#: again; a finished run has nothing left).
RESUMABLE = (RunState.LOST, RunState.CANCELLED, RunState.TIMED_OUT)


def resume(
    project: Project, run_id: str, *, timeout: float | None = None, budget: float | None = None
) -> RunInfo:
    """Continue run `run_id` on its target from its last checkpoint, as a new run (`nblift run --resume`).

    The new run has the same notebook, bundle, parameters and target, its `resume_from` naming the run it
    continues; its backend brings that run's checkpoint along, and the runner restores the kernel and goes
    on from the cell after the checkpoint. `timeout` and `budget` replace the earlier run's (its time and
    cost are its own: the new run's limits count from zero). A run without a checkpoint, or on a backend
    that keeps none, is refused with what to do instead.
    """
    import dataclasses

    from ..costs.prices import parse_budget

    earlier = RunRecord.open(project.state_dir, run_id)
    state = RunState(_reconcile(project, earlier)["state"])
    spec = earlier.spec
    over = f"`nblift run {spec.notebook} --backend {spec.backend}` starts it over"
    if not state.terminal:
        raise InvalidInput(
            f"run {run_id} is {state.value}: only a run that stopped can be resumed",
            hint=f"wait for it, or `nblift cancel {run_id}` first",
        )
    if state not in RESUMABLE:
        raise InvalidInput(
            f"run {run_id} ended {state.value}: only a LOST, CANCELLED or TIMED_OUT run is resumed",
            hint=over,
        )
    handle = earlier.handle()
    if handle is None:
        raise NotFound(f"run {run_id} never started, so it has no checkpoint", hint=over)
    backend = backend_for(project, spec.backend)
    found = backend.has_checkpoint(handle, earlier.folder)
    if found is None:
        raise InvalidInput(
            f"the {backend.name} backend keeps no checkpoint nblift can resume run {run_id} from "
            "(runs on the local and k8s backends resume)",
            hint=over,
        )
    if not found:
        raise NotFound(
            f"run {run_id} left no checkpoint to resume from: one is taken only when the runner is told to "
            "stop for a preemption (a pod's eviction, or SIGUSR1 to a local runner), after the running cell",
            hint=over,
        )
    if timeout is not None and timeout <= 0:
        raise InvalidInput(f"timeout {timeout} is not positive", hint="give a duration such as 30m or 2h")
    cost = spec.cost
    if budget is not None:
        if cost is None or not cost.hourly:
            raise InvalidInput(
                f"run {run_id}'s target has no price, so a budget cannot be kept",
                hint="set hourly_cost (or instance_type) on the target, or resume without --budget",
            )
        cost = dataclasses.replace(cost, budget=parse_budget(budget))
    new_id = secrets.token_hex(6)
    continued = dataclasses.replace(
        spec,
        id=new_id,
        run_name=f"{Path(spec.notebook).stem} {new_id}",
        tags={**spec.tags, "nblift.run_id": new_id, "nblift.resumed_from": run_id},
        created=time.time(),
        bundle_new_bytes=0,
        submission_id=None,
        timeout=spec.timeout if timeout is None else timeout,
        cost=cost,
        resume_from=run_id,
    )
    return _start(project, backend, continued)


def launch_targets(project: Project) -> list[dict[str, Any]]:
    """Where a run can go, as the launch dialog lists them: each backend, with the targets it finds in the
    settings (`ssh:NAME`, `ray:NAME`, and their GPUs) in place of the bare kind. A kind that runs only on a
    configured target and has none is listed as not `launchable`, with `setup` saying how to add one."""
    import dataclasses

    from ..backends.registry import available_backends

    listed: list[dict[str, Any]] = []
    for info in available_backends():
        shown = {k: v for k, v in dataclasses.asdict(info).items() if k not in ("targets", "table")}
        entry = {**shown, "gpus": None, "launchable": info.available, "setup": None}
        kind = get_backend_class(info.name) if info.available else None
        targets = kind.targets(project) if kind is not None else []
        if not targets:
            setup = kind.target_setup() if kind is not None else None
            listed.append({**entry, "launchable": entry["launchable"] and setup is None, "setup": setup})
        for target in targets:
            listed.append({**entry, "name": target.name, "source": "settings", "gpus": target.gpus})
    return listed


def check_submission_id(value: object) -> str:
    if not isinstance(value, str) or not _SUBMISSION_ID.fullmatch(value):
        raise InvalidInput(
            f"submission id {value!r} is not usable", hint="send 8 to 64 letters, digits, '-' or '_' (a UUID)"
        )
    return value


def _reconcile(project: Project, record: RunRecord) -> dict[str, Any]:
    """The record's state, after checking that a run in flight still has a live runner."""
    state = record.state()
    if RunState(state["state"]).terminal:
        return state
    handle = record.handle()
    if handle is None:  # never got as far as the backend: a launcher that died mid-submit
        if time.time() - record.spec.created > START_GRACE_S:
            return _mark_lost(project, record, None, "the run was never started")
        return state
    backend = backend_for(project, handle.backend)
    reason = backend.check(handle, record, float(project.settings.run_heartbeat_timeout), START_GRACE_S)
    if reason is not None:
        return _mark_lost(project, record, backend, reason, handle)
    return record.state()


def _mark_lost(
    project: Project, record: RunRecord, backend: Backend | None, reason: str, handle: RunHandle | None = None
) -> dict[str, Any]:
    if backend is not None and handle is not None:
        backend.reap(handle)
    if record.state().get("preempted"):  # its runner checkpointed and stopped: nobody ran it again
        resume = f"`nblift run --resume {record.id}` goes on from there"
        reason = f"preempted after a checkpoint ({reason}): {resume}"
    return _finish_from_outside(record, RunState.LOST, reason)


def _finish_from_outside(record: RunRecord, state: RunState, reason: str, **more: Any) -> dict[str, Any]:
    """Record a terminal state the runner could not record itself (`more`: further fields of its error,
    such as `reason="budget"`), and close its MLflow run."""
    before = record.state()
    error = {"message": reason, **more}
    now = record.update_state(state=state.value, finished=time.time(), error=error)
    if RunState(before["state"]).terminal or now["state"] != state.value:
        return now  # the runner (or another reconciler) got there first
    record.append(EventKind.RUN_FINISHED, state=state.value, error=error)
    info = record.mlflow()
    if info and info.get("status") == "RUNNING":
        from .mlflow_close import close_lost_run

        try:
            close_lost_run(record.folder, record.spec.tracking, info, state)
        except Exception as exc:  # noqa: BLE001 - the record is what matters; MLflow is told when it can be
            log.warning("could not close MLflow run %s: %s", info.get("run_id"), exc)
    return now


def get_run(project: Project, run_id: str) -> RunInfo:
    record = RunRecord.open(project.state_dir, run_id)
    _reconcile(project, record)
    return record.info()


def list_runs(project: Project, limit: int = 200) -> list[RunInfo]:
    """This project's runs, newest first (runs in flight reconciled)."""
    runs = []
    for folder in iter_records(project.state_dir):
        try:
            record = RunRecord(folder)
            _reconcile(project, record)
            runs.append(record.info())
        except (NotFound, OSError) as exc:
            log.warning("skipping unreadable run record %s: %s", folder.name, exc)
    runs.sort(key=lambda r: r.created, reverse=True)
    return runs[:limit]


def events(project: Project, run_id: str, after: int = 0) -> tuple[list[dict[str, Any]], int, RunInfo]:
    """Events from byte offset `after`, the next offset, and the run as it is now."""
    record = RunRecord.open(project.state_dir, run_id)
    _reconcile(project, record)
    found, offset = record.events(after)
    return found, offset, record.info()


def follow(project: Project, run_id: str, after: int = 0, poll: float = POLL_S) -> Iterator[dict[str, Any]]:
    """Every event from `after` on, as they come, until the run is terminal and its events are read."""
    record = RunRecord.open(project.state_dir, run_id)  # one record: its specification is read once
    offset = after
    while True:
        state = _reconcile(project, record)
        found, offset = record.events(offset)
        yield from found
        if RunState(state["state"]).terminal and not found:
            return
        if not found:
            time.sleep(poll)


def wait(
    project: Project,
    run_id: str,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    timeout: float | None = None,
) -> RunInfo:
    """Block until the run is terminal, passing each event to `on_event`."""
    deadline = None if timeout is None else time.monotonic() + timeout
    for event in follow(project, run_id):
        if on_event is not None:
            on_event(event)
        if deadline is not None and time.monotonic() > deadline:
            break
    return get_run(project, run_id)


def cancel(project: Project, run_id: str) -> RunInfo:
    """Stop a run: SIGTERM, a grace period, SIGKILL of its process group. Ends CANCELLED (never SUCCEEDED
    after this call unless it had already succeeded)."""
    record = RunRecord.open(project.state_dir, run_id)
    state = _reconcile(project, record)
    if RunState(state["state"]).terminal:
        return record.info()
    handle = record.handle()
    if handle is not None:
        backend = backend_for(project, handle.backend)

        def stopped() -> bool:
            backend.sync(handle, record.folder)
            return RunState(record.state()["state"]).terminal

        backend.cancel(handle, float(project.settings.run_cancel_grace), stopped)
    _finish_from_outside(record, RunState.CANCELLED, "cancelled")
    return record.info()


def fetch(project: Project, run_id: str, destination: Path | None = None) -> Path:
    """Copy the run's executed notebook and artifacts to `destination` (default `nblift-runs/<id>/` in the
    project); returns the executed notebook's path there (or the folder when there is none)."""
    record = RunRecord.open(project.state_dir, run_id)
    handle = record.handle()
    if handle is None:
        raise NotFound(f"run {run_id} never started", hint="launch it again with `nblift run`")
    source = backend_for(project, handle.backend).fetch(handle, record.folder)
    if not source.is_dir():
        raise NotFound(f"run {run_id} has no outputs yet", hint="wait until it has run a cell")
    destination = (destination or project.root / FETCH_DIR / run_id).absolute()
    if destination.resolve().is_relative_to(project.state_dir):
        raise InvalidInput(f"{destination} is inside nblift's state folder", hint="fetch somewhere else")
    shutil.copytree(source, destination, dirs_exist_ok=True, symlinks=True)
    info = record.info()
    if info.executed:
        return destination / Path(info.executed).relative_to(OUTPUT_DIR)
    return destination


def notebook_parameters(notebook: Path) -> dict[str, dict[str, Any]]:
    """The parameters a notebook declares in its cell tagged `parameters`: name -> default (as written),
    inferred type and help text (papermill's inspection)."""
    if not notebook.is_file() or notebook.suffix != ".ipynb":
        raise InvalidInput(f"no notebook at {notebook}", hint="pass the path of a saved .ipynb file")
    from papermill.inspection import inspect_notebook

    found = inspect_notebook(str(notebook))
    return {
        name: {"default": p.get("default"), "type": p.get("inferred_type_name"), "help": p.get("help") or ""}
        for name, p in found.items()
    }
