"""A run's data manifest as MLflow dataset inputs (`MlflowClient.log_inputs`), shown in the run's detail.

One dataset per input: its name is the input's path, its digest the first 32 hex digits of its hash (MLflow
keeps at most 36 characters), its source type `nblift` or `dvc`, and its source a JSON object with the
whole hash, the version DVC recorded and the record that holds it. Size and file count go in `profile`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .manifest import DataManifest

#: MLflow's `mlflow.data.context` tag of every input nblift logs.
CONTEXT = "input"
DIGEST_CHARS = 32


def _digest(value: str | None) -> str:
    return (value or "").partition(":")[2][:DIGEST_CHARS] or "unknown"


def dataset_inputs(manifest: Mapping[str, Any]) -> list[Any]:
    """MLflow `DatasetInput`s for a data manifest's entries (missing ones included, with digest unknown)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    out = []
    for entry in DataManifest.from_json(manifest).entries:
        source = {"uri": entry.uri, "hash": entry.hash}
        if entry.version:
            source |= {"version": entry.version, "record": entry.record}
        profile = {"size": entry.size, "files": entry.files, "kind": entry.kind, "state": entry.state}
        dataset = Dataset(
            name=entry.uri[:500],
            digest=_digest(entry.hash),
            source_type="dvc" if entry.kind == "dvc" else "nblift",
            source=json.dumps(source, sort_keys=True),
            profile=json.dumps({k: v for k, v in profile.items() if v is not None}, sort_keys=True),
        )
        out.append(DatasetInput(dataset, tags=[InputTag("mlflow.data.context", CONTEXT)]))
    return out


def log_data_inputs(client: Any, run_id: str, manifest: Mapping[str, Any] | None) -> int:
    """Log a run's data manifest as dataset inputs of MLflow run `run_id`; how many."""
    if not manifest:
        return 0
    inputs = dataset_inputs(manifest)
    if inputs:
        client.log_inputs(run_id, datasets=inputs)
    return len(inputs)
