"""nblift: take ML notebooks from a laptop to cloud GPUs without losing anything on the way.

This module stays import-light: `%load_ext nblift` and the Jupyter server import it, so it must not
pull in mlflow, backend libraries or the server extension unless they are used.
"""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # a source tree that was never built
    __version__ = "0.0.0.dev0"

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nblift"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import NbliftExtension

    return [{"module": "nblift.server.app", "app": NbliftExtension}]


def load_ipython_extension(ipython: Any) -> None:
    """Register the `%lift` magics (`%load_ext nblift`)."""
    from .magics import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unregister

    unregister(ipython)
