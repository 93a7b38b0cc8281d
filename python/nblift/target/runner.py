"""`python -m nblift.target.runner RUN_DIR --store STATE_DIR`: execute one run where it was sent.

Every backend starts this same entry point on its target. It reads the run's typed specification
(`RunSpec`, in `RUN_DIR/request.json`), unpacks the bundle from the object store into a scratch folder,
executes the notebook with papermill (parameters injected after the cell tagged `parameters`), writes
events as it goes, records the MLflow run and always ends in a terminal state: SUCCEEDED, FAILED (which
cell, the traceback), CANCELLED (SIGTERM or SIGINT) or TIMED_OUT. A heartbeat file proves it is alive; a
runner that vanishes is marked LOST by whoever watches.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..runs.events import RUN_DIR_ENV, EventKind, append_event
from ..runs.model import BUDGET_WARN_AT, CostSpec, RunSpec, RunState
from ..runs.records import OUTPUT_DIR, beat, update_state
from . import checkpoint

HEARTBEAT_S = 1.0
#: How long the MLflow run may take to close after the notebook finished.
TRACKING_CLOSE_S = 120.0
#: How long a notebook that uses MLflow waits for its run to exist before its kernel starts.
TRACKING_WAIT_S = 120.0
#: Text that makes a bundle a user of MLflow (its kernel must log into the run's MLflow run).
_USES_MLFLOW = (b"mlflow", b"transformers", b"lightning")
ARTIFACTS_DIR = "artifacts"
WORK_DIR = "work"


class Stop(BaseException):
    """Raised in the main thread by a signal: the run ends in `state`."""

    def __init__(self, state: RunState, reason: str, why: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason
        self.why = why  # "time limit", "budget" or "cancelled"


class _Signals:
    """SIGTERM/SIGINT cancel, SIGALRM times out (the time limit, or the budget spent at the run's hourly
    rate, whichever comes first); only the first one counts."""

    def __init__(self, timeout: float | None, cost: CostSpec | None = None, spent: float = 0.0) -> None:
        self.armed = True
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the client going away never stops a run
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGALRM, self._handle)
        # preemption (sent by the pod's supervisor): checkpoint after the running cell, then stop
        signal.signal(signal.SIGUSR1, lambda _signum, _frame: checkpoint.requested.set())
        self.alarm = ("time limit", "the run went over its time limit")
        limit = timeout or None
        budget_s = cost.budget_seconds if cost is not None else None
        if cost is not None and budget_s is not None and (limit is None or budget_s <= limit):
            limit = budget_s
            self.alarm = (
                "budget",
                f"the run reached its budget of ${cost.budget:.2f} (at ${cost.hourly:.2f}/h)",
            )
        if limit:  # what earlier runners of a resumed run used counts against it
            signal.setitimer(signal.ITIMER_REAL, max(limit - spent, 0.001))

    def _handle(self, signum: int, _frame: Any) -> None:
        if not self.armed:
            return
        self.armed = False
        if signum == signal.SIGALRM:
            raise Stop(RunState.TIMED_OUT, self.alarm[1], self.alarm[0])
        raise Stop(RunState.CANCELLED, f"cancelled ({signal.Signals(signum).name})", "cancelled")

    def disarm(self) -> None:
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)


def _heartbeat(run_dir: Path) -> None:
    def loop() -> None:
        while True:
            beat(run_dir)
            time.sleep(HEARTBEAT_S)

    beat(run_dir)
    threading.Thread(target=loop, name="nblift-heartbeat", daemon=True).start()


def _uses_mlflow(work: Path) -> bool:
    from ..bundle import walk_files

    for path in walk_files(work):
        if path.suffix in (".py", ".ipynb") and path.stat().st_size < 8 << 20:
            data = path.read_bytes()
            if any(word in data for word in _USES_MLFLOW):
                return True
    return False


def _kernel_name(notebook: Path) -> str:
    import json

    meta = json.loads(notebook.read_bytes()).get("metadata", {})
    return str((meta.get("kernelspec") or {}).get("name") or "python3")


def _collect_artifacts(work: Path, files: dict[str, Any], since: float, destination: Path) -> list[str]:
    """Move files the notebook created or changed in its scratch folder into `destination`."""
    from ..bundle import walk_files
    from ..store import hash_file

    moved = []
    for path in walk_files(work):
        rel = path.relative_to(work).as_posix()
        entry = files.get(rel)
        if entry is not None and (path.stat().st_mtime < since or hash_file(path) == entry.get("oid")):
            continue
        target = destination / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
        moved.append(rel)
    return moved


def _stop_group() -> None:
    """Kill what is left of this run's process group (a kernel, its children), sparing the runner."""
    if os.getpgid(0) != os.getpid():
        return  # not a group leader: the backend owns the group
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(os.getpid(), signal.SIGTERM)


@dataclasses.dataclass(frozen=True)
class Unpacked:
    """The bundle as the runner unpacked it: its scratch folder, its manifest and when it was done."""

    work: Path
    manifest: dict[str, Any]
    at: float


def _unpack(run_dir: Path, spec: RunSpec, store_dir: Path) -> Unpacked:
    from ..bundle import materialize, read_manifest
    from ..store import ObjectStore

    store = ObjectStore(store_dir)
    manifest = read_manifest(store, spec.bundle)
    work = materialize(store, spec.bundle, run_dir / WORK_DIR)
    from ..data.fetched import fetch_for_run

    placed = fetch_for_run(spec.data, run_dir, store, work).placed  # inputs, at their recorded versions
    manifest["files"].update(placed)  # data inputs home sent are never taken for artifacts
    return Unpacked(work, manifest, time.time())


def _execute(
    run_dir: Path,
    spec: RunSpec,
    unpacked: Unpacked,
    emit: Any,
    tracker: Any,
    checkpointer: checkpoint.Checkpointer | None = None,
) -> Path:
    from .tracker import kernel_environment

    work, manifest = unpacked.work, unpacked.manifest
    notebook = work / manifest["notebook"]
    import papermill

    from .engine import engine_for

    env = {**os.environ, **kernel_environment(spec.tracking), RUN_DIR_ENV: str(run_dir)}
    # The kernel spec's "python" is this interpreter (the environment the run was built for).
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if _uses_mlflow(work):
        tracker.at_home = False  # the kernel logs into the run: it must exist here, now
        tracker.start()
        tracker.ready.wait(TRACKING_WAIT_S)
        if tracker.run_id:
            env.update(MLFLOW_RUN_ID=tracker.run_id, MLFLOW_EXPERIMENT_ID=str(tracker.experiment_id))
    elif not tracker.at_home:
        # MLflow loads for seconds of CPU: once the kernel is up and running cells it costs the run nothing
        # on a second core, while during the kernel's start-up it would slow it down.
        tracker.start_when_first_cell_starts = True
    executed = run_dir / OUTPUT_DIR / Path(manifest["notebook"]).name
    executed.parent.mkdir(parents=True, exist_ok=True)
    emit(EventKind.KERNEL_STARTING, kernel=_kernel_name(notebook))
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters=dict(spec.parameters),
        engine_name=engine_for(emit, env, checkpointer),
        kernel_name=_kernel_name(notebook),
        cwd=str(notebook.parent),
        progress_bar=False,
        start_timeout=120,
        autosave_cell_every=5,
    )
    return executed


def _budget_warning(spec: RunSpec, emit: Any) -> threading.Timer | None:
    """A timer that says when 80% of the run's budget is spent (the Runs view warns)."""
    cost = spec.cost
    seconds = cost.budget_seconds if cost is not None else None
    if cost is None or seconds is None or cost.budget is None or cost.hourly is None:
        return None
    spent = round(cost.budget * BUDGET_WARN_AT, 6)
    timer = threading.Timer(
        seconds * BUDGET_WARN_AT,
        lambda: emit(EventKind.BUDGET_WARNING, spent=spent, budget=cost.budget, hourly=cost.hourly),
    )
    timer.daemon = True
    timer.start()
    return timer


def run(run_dir: Path, store_dir: Path) -> RunState | None:
    """Execute the run; its terminal state, or None when it was preempted and checkpointed (run it again to
    go on from the next cell)."""
    _heartbeat(run_dir)
    spec = RunSpec.read(run_dir)
    resume = checkpoint.Resume.load(run_dir)
    started_at = time.time()
    checkpointer = checkpoint.Checkpointer(run_dir, started_at, resume, spec.id)
    spent = checkpointer.spent
    signals = _Signals(spec.timeout, spec.cost, spent)
    started = update_state(run_dir, state=RunState.RUNNING.value, pid=os.getpid(), started=started_at)
    if RunState(started["state"]).terminal:
        return RunState(started["state"])  # cancelled before it began
    from .tracker import Tracker

    failure: dict[str, Any] = {}
    tracker = Tracker(run_dir, spec)

    def emit(kind: EventKind, **data: Any) -> None:
        if kind == EventKind.CELL_ERROR:
            failure.update(data)
        append_event(run_dir, kind, **data)
        if kind == EventKind.CELL_STARTED and tracker.start_when_first_cell_starts:
            tracker.start()

    emit(EventKind.RUN_STARTED, notebook=spec.notebook, parameters=dict(spec.parameters), pid=os.getpid())
    warning = _budget_warning(spec, emit)
    state, error, executed = RunState.SUCCEEDED, None, None
    unpacked: Unpacked | None = None
    try:
        unpacked = _unpack(run_dir, spec, store_dir)
        executed = _execute(run_dir, spec, unpacked, emit, tracker, checkpointer)
    except checkpoint.Preempted:
        signals.disarm()
        if warning is not None:
            warning.cancel()
        _stop_group()
        shutil.rmtree(run_dir / WORK_DIR, ignore_errors=True)
        update_state(run_dir, preempted=time.time())
        return None
    except Stop as stop:
        state, error = stop.state, {"message": stop.reason, "reason": stop.why}
    except Exception as exc:  # noqa: BLE001 - every failure ends as a FAILED run with its reason
        state = RunState.FAILED
        if failure:
            cell = f"cell {failure['cell']}" if failure.get("cell") else "the injected parameters cell"
            error = {**failure, "message": f"{cell} raised {failure.get('ename')}: {failure.get('evalue')}"}
        else:
            error = {"message": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    signals.disarm()
    if warning is not None:
        warning.cancel()
    _stop_group()
    output = run_dir / OUTPUT_DIR
    if executed is None and (output / Path(spec.notebook).name).is_file():
        executed = output / Path(spec.notebook).name  # papermill saved what ran before the stop
    if resume is not None and executed is not None:
        checkpoint.mark_resumed(executed, resume, spec.id)
    artifacts = output / ARTIFACTS_DIR
    work = run_dir / WORK_DIR
    if unpacked is not None:
        moved = _collect_artifacts(work, unpacked.manifest["files"], unpacked.at, artifacts)
        if moved:
            emit(EventKind.ARTIFACTS, files=moved)
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(run_dir / "inputs", ignore_errors=True)  # fetched URI inputs (`nblift.data.fetched`)
    finished = time.time()
    cost = spec.cost.cost_of(finished - started_at + spent) if spec.cost is not None else None
    emit(EventKind.RUN_FINISHED, state=state.value, error=error, **({} if cost is None else {"cost": cost}))
    update_state(
        run_dir,
        state=state.value,
        finished=finished,
        error=error,
        executed=executed.relative_to(run_dir).as_posix() if executed else None,
        cost=cost,
    )
    tracker.start()  # a run that never reached a cell still gets its MLflow run (here or at home)
    tracker.finish(state, executed, artifacts, TRACKING_CLOSE_S, (error or {}).get("message"), cost)
    return state


def _skip_slow_optional_imports() -> None:
    """jsonschema, which papermill imports through nbformat, loads the optional `rfc3987_syntax` package
    when it is installed, and that package builds an Earley parser when imported: seconds of CPU before
    every run's kernel could start. Notebook validation uses no IRI format, so the runner goes without it
    (jsonschema treats the package as not installed)."""
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> int:
    _skip_slow_optional_imports()
    parser = argparse.ArgumentParser(prog="python -m nblift.target.runner", description=__doc__)
    parser.add_argument(
        "run_dir", type=Path, help="the run folder holding the run specification (request.json)"
    )
    parser.add_argument("--store", type=Path, required=True, help="nblift state folder holding the bundle")
    args = parser.parse_args(argv)
    state = run(args.run_dir.resolve(), args.store.resolve())
    if state is None:
        return checkpoint.PREEMPTED_EXIT
    return 0 if state is RunState.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
