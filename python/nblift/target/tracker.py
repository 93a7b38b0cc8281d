"""The MLflow side of a run, kept off the critical path: a thread in the runner imports mlflow (seconds),
creates the run (params, lineage tags), forwards the kernel's `nblift.log` metrics in batches and, at the
end, logs the executed notebook and artifacts and closes the run with its final state.

When the run's tracking is recorded at home (`TrackingSpec.at_home`) and the notebook does not log to MLflow
itself, the tracker stays idle: mlflow is never imported here and `finish` only writes the final MLflow status
with `at_home`, for home to record the run from the run folder (`runs.mlflow_close.record_from_folder`).

Tracking trouble (an unreachable server) is reported as an event; it never changes the run's outcome.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..runs.events import EventKind, append_event, read_events
from ..runs.mlflow_close import MLFLOW_STATUS, close_run, create_run, log_metric_events, open_tracking
from ..runs.model import RunSpec, RunState, TrackingSpec
from ..runs.records import MLFLOW_FILE, write_json

FORWARD_EVERY_S = 1.0


def kernel_environment(tracking: TrackingSpec) -> dict[str, str]:
    """Environment variables that point the run's kernel at the same tracking store (no mlflow import)."""
    from .. import tracking as tr
    from ..project import Project

    if tracking.project:
        target = tr.target_for(Project.discover(tracking.project))
        return {"MLFLOW_TRACKING_URI": tr.engine_uri(target)}
    return {"MLFLOW_TRACKING_URI": str(tracking.uri)}


class Tracker:
    """Creates and keeps the MLflow run of one runner process."""

    def __init__(self, run_dir: Path, spec: RunSpec) -> None:
        self.run_dir = run_dir
        self.spec = spec
        self.ready = threading.Event()
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self._client: Any = None
        self._info: dict[str, Any] = {}
        self._offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="nblift-tracker", daemon=True)
        self._starting = threading.Lock()
        self._started = False
        #: Set by the runner: start on the first cell instead of now.
        self.start_when_first_cell_starts = False
        #: Home records the MLflow run; cleared by the runner when the notebook logs to MLflow itself.
        self.at_home = spec.tracking.at_home

    def start(self) -> None:
        """Start the MLflow thread (once; later calls do nothing; nothing while home records the run)."""
        self.start_when_first_cell_starts = False
        if self.at_home:
            return
        with self._starting:
            if not self._thread.is_alive() and not self._started:
                self._started = True
                self._thread.start()

    def _work(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # lower this thread's CPU priority (Linux)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        try:
            self._create()
        except Exception as exc:  # noqa: BLE001 - tracking trouble is reported, the run goes on
            append_event(self.run_dir, EventKind.TRACKING_ERROR, message=f"{type(exc).__name__}: {exc}")
            return
        finally:
            self.ready.set()
        while not self._stop.wait(FORWARD_EVERY_S):
            self._forward_metrics()

    def _create(self) -> None:
        client, experiment_id, uri = open_tracking(self.spec.tracking)
        run_id = create_run(client, experiment_id, self.spec)
        self._client, self.run_id, self.experiment_id = client, run_id, str(experiment_id)
        self._info = {"run_id": self.run_id, "experiment_id": self.experiment_id, "tracking_uri": uri}
        write_json(self.run_dir / MLFLOW_FILE, {**self._info, "status": "RUNNING"})
        append_event(self.run_dir, EventKind.TRACKING, **self._info)

    def _forward_metrics(self) -> int:
        events, self._offset = read_events(self.run_dir, self._offset)
        return log_metric_events(self._client, self.run_id, events)

    def finish(
        self,
        state: RunState,
        notebook: Path | None,
        artifacts: Path | None,
        timeout: float,
        error: str | None = None,
        cost: float | None = None,
    ) -> None:
        """Close the MLflow run: remaining metrics, the executed notebook, artifacts, final status."""
        if self.at_home:
            write_json(
                self.run_dir / MLFLOW_FILE, {"status": MLFLOW_STATUS.get(state, "FAILED"), "at_home": True}
            )
            return
        self._stop.set()
        self._thread.join(timeout)
        if self._client is None or self._thread.is_alive():
            if self._thread.is_alive():
                append_event(
                    self.run_dir,
                    EventKind.TRACKING_ERROR,
                    message=f"MLflow did not answer in {timeout:.0f} s",
                )
            return
        try:
            self._forward_metrics()
            end = int(time.time() * 1000)
            status = close_run(self._client, self.run_id, state, notebook, artifacts, end, error, cost)
            write_json(self.run_dir / MLFLOW_FILE, {**self._info, "status": status})
        except Exception as exc:  # noqa: BLE001
            append_event(self.run_dir, EventKind.TRACKING_ERROR, message=f"{type(exc).__name__}: {exc}")
