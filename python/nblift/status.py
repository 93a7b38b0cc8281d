"""`status`: where this project keeps its state and what nblift can do here."""

from __future__ import annotations

import dataclasses
from typing import Any

from . import __version__
from .backends.registry import BackendInfo, available_backends, backend_summary
from .fsck import FsckReport, last_report
from .project import Project
from .store import ObjectStore, StoreStats
from .tracking import target_for


@dataclasses.dataclass(frozen=True)
class Status:
    version: str
    project_root: str
    state_dir: str
    settings_sources: dict[str, str]
    tracking_uri: str
    tracking_embedded: bool
    store: StoreStats
    fsck: FsckReport | None
    backends: list[BackendInfo]
    #: Where the notebook's kernel runs (`nblift.move.where`): asked from a kernel or for one (REST).
    kernel: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "project": {
                "root": self.project_root,
                "state_dir": self.state_dir,
                "settings_sources": self.settings_sources,
            },
            "tracking": {"uri": self.tracking_uri, "embedded": self.tracking_embedded},
            "store": dataclasses.asdict(self.store),
            "fsck": None if self.fsck is None else self.fsck.to_json(),
            "backends": [{**dataclasses.asdict(b), "summary": backend_summary(b)} for b in self.backends],
            "kernel": self.kernel,
        }


def collect_status(project: Project, kernel: dict[str, Any] | None = None) -> Status:
    """Gather status without writing anything and without importing mlflow or any backend; `kernel`: where
    the notebook's kernel runs, when the caller knows (`nblift.move.where`)."""
    target = target_for(project)
    return Status(
        version=__version__,
        project_root=str(project.root),
        state_dir=str(project.state_dir),
        settings_sources=dict(project.settings.sources),
        tracking_uri=target.display_uri,
        tracking_embedded=target.embedded,
        store=ObjectStore(project.state_dir).stats(),
        fsck=last_report(project.state_dir),
        backends=available_backends(project.settings),
        kernel=kernel,
    )
