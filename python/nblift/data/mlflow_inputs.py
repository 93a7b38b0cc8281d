"""A run's data manifest as MLflow dataset inputs (`MlflowClient.log_inputs`), shown in the run's detail.

One dataset per input: its name is the input's path, its digest the first 32 hex digits of its hash (MLflow
keeps at most 36 characters), its source type `nblift` or `dvc`, and its source a JSON object with the
whole hash, the version DVC recorded and the record that holds it. Size and file count go in `profile`.
A URI input's source type is its scheme (`s3`, `lakefs`, ...) and its version the S3 version id or the
lakeFS commit. `run_inputs` reads them back from an MLflow run (the registry's lineage and model cards, the
run comparison); `data_changes` says which inputs differ between runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .manifest import DataEntry, DataManifest

#: MLflow's `mlflow.data.context` tag of every input nblift logs.
CONTEXT = "input"
DIGEST_CHARS = 32


def _digest(value: str | None) -> str:
    return (value or "").partition(":")[2][:DIGEST_CHARS] or "unknown"


def _source_type(entry: DataEntry) -> str:
    if entry.kind == "object":
        return entry.uri.partition("://")[0].lower()  # s3, lakefs, gs, ...
    return "dvc" if entry.kind == "dvc" else "nblift"


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
            source_type=_source_type(entry),
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


def run_inputs(run: Any) -> list[dict[str, Any]]:
    """The data inputs nblift logged on MLflow run `run` (an `mlflow.entities.Run`): `uri`, `hash`,
    `version`, `record`, `kind`, `size`, `files`, `source_type`; sorted by uri."""
    out = []
    for item in getattr(getattr(run, "inputs", None), "dataset_inputs", None) or []:
        tags = {t.key: t.value for t in item.tags or []}
        dataset = item.dataset
        if tags.get("mlflow.data.context") != CONTEXT:
            continue
        try:
            source = json.loads(dataset.source or "{}")
            profile = json.loads(dataset.profile or "{}")
        except ValueError:
            continue
        if not isinstance(source, dict) or "hash" not in source or not isinstance(profile, dict):
            continue  # a dataset some other code logged
        out.append(
            {
                "uri": str(source.get("uri") or dataset.name),
                "hash": source.get("hash"),
                "version": source.get("version"),
                "record": source.get("record"),
                "kind": profile.get("kind"),
                "size": profile.get("size"),
                "files": profile.get("files"),
                "source_type": dataset.source_type,
            }
        )
    return sorted(out, key=lambda d: d["uri"])


def data_changes(runs: list[Any]) -> list[dict[str, Any]]:
    """Per input of any of `runs` (MLflow runs): each run's `hash` and `version` (None where the run did not
    have it) and whether they differ. Inputs in the order of their uri."""
    per_run = {run.info.run_id: {d["uri"]: d for d in run_inputs(run)} for run in runs}
    uris = sorted({uri for inputs in per_run.values() for uri in inputs})
    rows = []
    for uri in uris:
        values = {
            run_id: (
                {"hash": inputs[uri]["hash"], "version": inputs[uri]["version"], "size": inputs[uri]["size"]}
                if uri in inputs
                else None
            )
            for run_id, inputs in per_run.items()
        }
        seen = {None if v is None else (v["hash"], v["version"]) for v in values.values()}
        rows.append({"uri": uri, "values": values, "differs": len(seen) > 1})
    return rows
