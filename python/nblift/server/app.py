"""The nblift server extension: one ExtensionApp owns the routes and the settings."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from .. import __version__
from .handlers import route_table


class NbliftExtension(ExtensionApp):
    """Serves `/nblift/api/...` for the JupyterLab panels."""

    name = "nblift"
    version = __version__
    load_other_extensions = True

    def initialize_handlers(self) -> None:
        self.handlers.extend(route_table())
