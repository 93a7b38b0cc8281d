"""The MLflow run of an nblift run, where both sides need it: opening the client a run specification's
`tracking` names (the runner on the target, the reconciler at home), the MLflow status of each run state,
and closing the MLflow run of a run whose runner vanished (home)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .model import RunState, TrackingSpec
from .records import MLFLOW_FILE, write_json

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
