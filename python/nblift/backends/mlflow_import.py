"""Copy an MLflow run recorded elsewhere (an embedded store brought back from a remote host) into the
project's tracking store: params, tags, every metric's history with its steps and timestamps, artifacts and
the final status."""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .. import tracking
from ..project import Project

BATCH = 1000


def _artifact_folder(artifact_uri: str, remote_root: str, local_root: Path) -> Path | None:
    """Where the run's artifacts landed locally: the remote path mapped from `remote_root` to `local_root`."""
    path = urlparse(artifact_uri).path
    if not path.startswith(remote_root.rstrip("/") + "/"):
        return None
    return local_root / posixpath.relpath(path, remote_root)


def import_run(local_root: Path, remote_root: str, run_id: str, project: Project) -> tuple[str, str]:
    """Import run `run_id` of the embedded store copied to `local_root` (it was at `remote_root` on the host);
    return the new run's id and experiment id in the project's store."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    source = MlflowClient(tracking_uri=f"sqlite:///{local_root / '.nblift' / tracking.DB_FILE}")
    run = source.get_run(run_id)
    dest = tracking.client(project)
    experiment = tracking.ensure_experiment(project, tracking.experiment_name(project))
    tags = {k: v for k, v in run.data.tags.items() if k != "mlflow.runName"}
    tags["nblift.imported_from"] = run_id
    new = dest.create_run(experiment, start_time=run.info.start_time, tags=tags, run_name=run.info.run_name)
    new_id = new.info.run_id
    params = [Param(k, v) for k, v in run.data.params.items()]
    for i in range(0, len(params), 100):
        dest.log_batch(new_id, params=params[i : i + 100])
    history: list[Any] = []
    for key in run.data.metrics:
        history += source.get_metric_history(run_id, key)
    metrics = [Metric(m.key, m.value, m.timestamp, m.step) for m in history]
    for i in range(0, len(metrics), BATCH):
        dest.log_batch(new_id, metrics=metrics[i : i + BATCH])
    dest.log_batch(new_id, tags=[RunTag("nblift.remote_tracking", "imported")])
    folder = _artifact_folder(run.info.artifact_uri, remote_root, local_root)
    if folder is not None and folder.is_dir() and any(folder.iterdir()):
        dest.log_artifacts(new_id, str(folder))
    dest.set_terminated(new_id, run.info.status, end_time=run.info.end_time)
    return new_id, experiment
