"""The MLflow run of an nblift run, where both sides need it: opening the client a run specification's
`tracking` names (the runner on the target, the reconciler at home), the MLflow status of each run state,
what a run logs (parameters, its `nblift.log` metrics, executed notebook, artifacts, final state), closing
the MLflow run of a run whose runner vanished (home), and recording the whole MLflow run at home from a
remote run's folder once it is back (`record_from_folder`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .events import EventKind, read_events
from .model import RunSpec, RunState, TrackingSpec
from .records import MLFLOW_FILE, write_json

#: MLflow's longest parameter value.
PARAM_MAX = 6000
#: Metrics per `log_batch` call (MLflow's limit).
METRIC_BATCH = 1000

MLFLOW_STATUS = {
    RunState.SUCCEEDED: "FINISHED",
    RunState.FAILED: "FAILED",
    RunState.LOST: "FAILED",
    RunState.CANCELLED: "KILLED",
    RunState.TIMED_OUT: "KILLED",
}


def open_tracking(tracking: TrackingSpec) -> tuple[Any, str, str]:
    """(MlflowClient, experiment id, display URI) for a run specification's `tracking`."""
    from .. import tracking as tr
    from ..project import Project

    if tracking.project:
        project = Project.discover(tracking.project)
        client = tr.client(project)
        experiment = tr.ensure_experiment(project, tracking.experiment or tr.experiment_name(project))
        return client, experiment, tr.target_for(project).display_uri
    from mlflow import MlflowClient

    uri = tr.check_tracking_uri(str(tracking.uri))
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = str(tracking.experiment or "nblift")
    found = client.get_experiment_by_name(name)
    experiment = found.experiment_id if found is not None else client.create_experiment(name)
    return client, str(experiment), tr.redact_uri(uri)


def close_lost_run(run_dir: Path, tracking: TrackingSpec, info: Mapping[str, Any], state: RunState) -> None:
    """Close the MLflow run of a run whose runner vanished (the reconciler's side of `finish`)."""
    client, _, _ = open_tracking(tracking)
    status = MLFLOW_STATUS.get(state, "FAILED")
    client.set_tag(info["run_id"], "nblift.state", state.value)
    client.set_terminated(info["run_id"], status, end_time=int(time.time() * 1000))
    write_json(run_dir / MLFLOW_FILE, {**info, "status": status})


def create_run(client: Any, experiment_id: str, spec: RunSpec, start_ms: int | None = None) -> str:
    """A new MLflow run for `spec` (name, tags, parameters); its id."""
    from mlflow.entities import Param

    run = client.create_run(
        experiment_id, start_time=start_ms, run_name=spec.run_name or None, tags=dict(spec.tags)
    )
    params = [Param(str(k), str(v)[:PARAM_MAX]) for k, v in spec.parameters.items()]
    for start in range(0, len(params), 100):
        client.log_batch(run.info.run_id, params=params[start : start + 100])
    if spec.data:  # the run's data inputs (`nblift.data`); trouble there never costs the run its record
        from ..data.mlflow_inputs import log_data_inputs

        try:
            log_data_inputs(client, run.info.run_id, spec.data)
        except Exception as exc:  # noqa: BLE001 - reported on the run, which goes on
            client.set_tag(run.info.run_id, "nblift.data_error", f"{type(exc).__name__}: {exc}"[:TAG_MAX])
    return str(run.info.run_id)


def log_metric_events(client: Any, run_id: str, events: Iterable[Mapping[str, Any]]) -> int:
    """Log the `metric` events among `events` (the kernel's `nblift.log` calls) with their steps and
    times; how many."""
    from mlflow.entities import Metric

    metrics = [
        Metric(str(e["name"]), float(e.get("raw") or e["value"]), int(e["t"] * 1000), int(e.get("step") or 0))
        for e in events
        if e.get("kind") == EventKind.METRIC
    ]
    for start in range(0, len(metrics), METRIC_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + METRIC_BATCH])
    return len(metrics)


#: MLflow's longest tag value.
TAG_MAX = 8000


def close_run(
    client: Any,
    run_id: str,
    state: RunState,
    notebook: Path | None,
    artifacts: Path | None,
    end_ms: int,
    error: str | None = None,
    cost: float | None = None,
) -> str:
    """Log the executed notebook and the run's artifacts, tag the final state (and why it failed), log what
    it cost (`nblift.cost`, USD) and end the run; the MLflow status."""
    if error:
        client.set_tag(run_id, "nblift.error", error[:TAG_MAX])
    if cost is not None:
        client.log_metric(run_id, "nblift.cost", float(cost), timestamp=end_ms)
    if notebook is not None and notebook.is_file():
        client.log_artifact(run_id, str(notebook), "notebook")
    if artifacts is not None and artifacts.is_dir() and any(artifacts.iterdir()):
        client.log_artifacts(run_id, str(artifacts), "outputs")
    client.set_tag(run_id, "nblift.state", state.value)
    status = MLFLOW_STATUS.get(state, "FAILED")
    client.set_terminated(run_id, status, end_time=end_ms)
    return status


def record_from_folder(record_dir: Path, output: Path, state: RunState) -> dict[str, Any]:
    """Record the MLflow run of a remote run that ended in `state` and whose runner left it to home
    (`TrackingSpec.at_home`): from the record's specification, its events (start, metrics, end) and the
    outputs brought back into `output` (executed notebook, artifacts). Returns the run's MLflow info, also
    written to the record."""
    spec = RunSpec.read(record_dir)
    events: list[dict[str, Any]] = []
    chunk, offset = read_events(record_dir, 0)  # all of them, 10,000 at a time
    while chunk:
        events += chunk
        chunk, offset = read_events(record_dir, offset)
    times = {
        e["kind"]: float(e["t"]) for e in events if e.get("kind") and isinstance(e.get("t"), int | float)
    }
    start = times.get(EventKind.RUN_STARTED, spec.created)
    end = times.get(EventKind.RUN_FINISHED, time.time())
    client, experiment_id, uri = open_tracking(spec.tracking)
    run_id = create_run(client, experiment_id, spec, int(start * 1000))
    log_metric_events(client, run_id, events)
    executed = output / Path(spec.notebook).name
    finished = next((e for e in reversed(events) if e.get("kind") == EventKind.RUN_FINISHED), {})
    error = (finished.get("error") or {}).get("message")
    cost = finished.get("cost")
    status = close_run(client, run_id, state, executed, output / "artifacts", int(end * 1000), error, cost)
    info = {"run_id": run_id, "experiment_id": str(experiment_id), "tracking_uri": uri, "status": status}
    write_json(record_dir / MLFLOW_FILE, {**info, "recorded_at_home": True})
    return info
