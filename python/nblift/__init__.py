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

__all__ = ["__version__", "load_ipython_extension", "log", "unload_ipython_extension"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nblift"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import NbliftExtension

    return [{"module": "nblift.server.app", "app": NbliftExtension}]


def log(step: int | None = None, **metrics: float) -> None:
    """Log metrics (`nblift.log(step=3, loss=0.2, acc=0.9)`).

    In a run (`%lift run`, `nblift run`) the values become run events: they show live in the Runs panel and
    the runner writes them to the run's MLflow run in batches. Elsewhere they go to MLflow's active run.
    """
    import math
    import os

    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise TypeError(f"nblift.log: {name}={value!r} is not a finite number; log numbers only")
    from .runs.events import RUN_DIR_ENV

    run_dir = os.environ.get(RUN_DIR_ENV)
    if run_dir:
        from pathlib import Path

        from .runs.events import append_event

        for name, value in metrics.items():
            append_event(Path(run_dir), "metric", name=name, value=float(value), step=step or 0)
        return
    import mlflow

    mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)


def load_ipython_extension(ipython: Any) -> None:
    """Register the `%lift` magics (`%load_ext nblift`)."""
    from .magics import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unregister

    unregister(ipython)
