"""The MLflow side of a run, kept off the critical path: a thread in the runner imports mlflow (seconds),
creates the run (params, lineage tags), forwards the kernel's `nblift.log` metrics in batches and, at the
end, logs the executed notebook and artifacts and closes the run with its final state.

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
from ..runs.mlflow_close import MLFLOW_STATUS, open_tracking
from ..runs.model import RunSpec, RunState, TrackingSpec
from ..runs.records import MLFLOW_FILE, write_json

FORWARD_EVERY_S = 1.0
PARAM_MAX = 6000
BATCH = 1000


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

    def start(self) -> None:
        """Start the MLflow thread (once; later calls do nothing)."""
        self.start_when_first_cell_starts = False
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
        from mlflow.entities import Param

        spec = self.spec
        client, experiment_id, uri = open_tracking(spec.tracking)
        run = client.create_run(experiment_id, run_name=spec.run_name or None, tags=dict(spec.tags))
        params = [Param(str(k), str(v)[:PARAM_MAX]) for k, v in spec.parameters.items()]
        if params:
            client.log_batch(run.info.run_id, params=params)
        self._client, self.run_id, self.experiment_id = client, run.info.run_id, str(experiment_id)
        self._info = {"run_id": self.run_id, "experiment_id": self.experiment_id, "tracking_uri": uri}
        write_json(self.run_dir / MLFLOW_FILE, {**self._info, "status": "RUNNING"})
        append_event(self.run_dir, EventKind.TRACKING, **self._info)

    def _forward_metrics(self) -> int:
        from mlflow.entities import Metric

        events, self._offset = read_events(self.run_dir, self._offset)
        metrics = [
            Metric(
                str(e["name"]), float(e.get("raw") or e["value"]), int(e["t"] * 1000), int(e.get("step") or 0)
            )
            for e in events
            if e.get("kind") == EventKind.METRIC
        ]
        for start in range(0, len(metrics), BATCH):
            self._client.log_batch(self.run_id, metrics=metrics[start : start + BATCH])
        return len(metrics)

    def finish(self, state: RunState, notebook: Path | None, artifacts: Path | None, timeout: float) -> None:
        """Close the MLflow run: remaining metrics, the executed notebook, artifacts, final status."""
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
            if notebook is not None and notebook.is_file():
                self._client.log_artifact(self.run_id, str(notebook), "notebook")
            if artifacts is not None and artifacts.is_dir() and any(artifacts.iterdir()):
                self._client.log_artifacts(self.run_id, str(artifacts), "outputs")
            self._client.set_tag(self.run_id, "nblift.state", state.value)
            end = int(time.time() * 1000)
            status = MLFLOW_STATUS.get(state, "FAILED")
            self._client.set_terminated(self.run_id, status, end_time=end)
            write_json(self.run_dir / MLFLOW_FILE, {**self._info, "status": status})
        except Exception as exc:  # noqa: BLE001
            append_event(self.run_dir, EventKind.TRACKING_ERROR, message=f"{type(exc).__name__}: {exc}")
