"""Tags that tie an MLflow run to where it came from: the notebook, the git commit, the notebook's latest
snapshot. Shared by runs (nblift.runs) and tracked notebooks (nblift.experiments)."""

from __future__ import annotations

from pathlib import Path

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
