"""Tags that tie an MLflow run to where it came from: the notebook, the git commit, the notebook's latest
snapshot. Shared by runs (nblift.runs) and tracked notebooks (nblift.experiments). And the data versions a
model version's run read (the registry's lineage graph and model cards)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .project import Project


def notebook_tags(project: Project, notebook_rel: str) -> dict[str, str]:
    """`mlflow.source.*` for the notebook, its git commit and its newest snapshot (when there are any)."""
    from .snapshot.context import git_commit
    from .snapshot.manifest import list_manifests

    tags = {"mlflow.source.name": notebook_rel, "mlflow.source.type": "NOTEBOOK"}
    commit = git_commit(project.root)
    if commit:
        tags["mlflow.source.git.commit"] = commit
    name = Path(notebook_rel).name
    for manifest in list_manifests(project.state_dir):
        if Path(str(manifest.get("notebook_path") or "")).name == name:
            tags["nblift.snapshot"] = str(manifest["id"])
            break
    return tags


def data_versions(tags: Mapping[str, str], run: Any = None) -> list[dict[str, Any]]:
    """The data a model version was trained on: the inputs its MLflow run `run` recorded (each with its
    `uri`, `hash`, `version` (DVC's record, the S3 version id, the lakeFS commit), `size`, `kind`), else,
    for a version registered before runs recorded inputs, the tracked files in its `nblift.data` tag."""
    from .data.mlflow_inputs import run_inputs

    inputs = run_inputs(run) if run is not None else []
    if inputs:
        return inputs
    try:
        legacy = json.loads(tags.get("nblift.data") or "[]")
    except ValueError:
        return []
    tracked_file = "file"  # the only kind the tag held
    return [
        {
            "uri": str(d.get("path")),
            "hash": f"blake3:{d['hash']}" if d.get("hash") else None,
            "version": None,
            "size": d.get("size"),
            "kind": tracked_file,
        }
        for d in legacy
        if isinstance(legacy, list) and isinstance(d, dict) and d.get("path")
    ]
