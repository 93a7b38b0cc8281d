"""The nblift server extension: one ExtensionApp owns the routes and the settings."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp

from .. import __version__
from .handlers import route_table

log = logging.getLogger("nblift")


def reconcile_runs(root: Path) -> int:
    """Check the runs of the project at `root` that were in flight (after a restart): the ones whose runner
    is gone become LOST and their MLflow runs are closed. Returns how many runs are still in flight."""
    from ..project import Project
    from ..runs import service
    from ..runs.records import runs_dir

    project = Project.discover(root)
    if not runs_dir(project.state_dir).is_dir():
        return 0
    return sum(1 for run in service.list_runs(project) if run.state in ("PENDING", "RUNNING"))


class NbliftExtension(ExtensionApp):
    """Serves `/nblift/api/...` for the JupyterLab panels."""

    name = "nblift"
    version = __version__
    load_other_extensions = True

    def initialize_handlers(self) -> None:
        self.handlers.extend(route_table())

    def initialize_settings(self) -> None:
        root = Path(self.serverapp.root_dir).expanduser()

        def reconcile() -> None:
            try:
                in_flight = reconcile_runs(root)
            except Exception as exc:  # noqa: BLE001 - a damaged record must not stop the server
                log.warning("nblift could not check the runs under %s: %s", root, exc)
                return
            if in_flight:
                log.info("nblift: %d run(s) still in flight under %s", in_flight, root)

        threading.Thread(target=reconcile, name="nblift-reconcile", daemon=True).start()
