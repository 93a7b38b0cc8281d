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

__all__ = ["__version__", "load_ipython_extension", "log", "track", "unload_ipython_extension"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nblift"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import NbliftExtension

    return [{"module": "nblift.server.app", "app": NbliftExtension}]


def log(step: int | None = None, **metrics: float) -> None:
    """Log metrics: `nblift.log(step=3, loss=0.2, acc=0.9)` (without `step`, each metric counts up from 0).

    In a run (`%lift run`, `nblift run`) the values become run events: they show live in the Runs panel and
    the runner writes them to the run's MLflow run. Elsewhere they go to an in-memory buffer that a
    background thread writes to the notebook's MLflow run in batches (created on first use; see
    `nblift.track`), flushed at the end of every cell: the loop that logs never waits for MLflow.
    """
    import math
    import os

    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"nblift.log: {name}={value!r} is not a number; log numbers only")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        raise TypeError(f"nblift.log: step={step!r} is not an integer")
    from .runs.events import RUN_DIR_ENV

    run_dir = os.environ.get(RUN_DIR_ENV)
    if run_dir:
        from pathlib import Path

        from .runs.events import append_event

        for name, value in metrics.items():
            finite = math.isfinite(value)  # JSON has no NaN or infinity: those travel as text
            shown = float(value) if finite else None
            extra = {} if finite else {"raw": repr(float(value))}
            append_event(Path(run_dir), "metric", name=name, value=shown, step=step or 0, **extra)
        return
    from .experiments.logger import log_metrics

    log_metrics(step, metrics)


def track(name: str | None = None) -> Any:
    """`with nblift.track("baseline"):` log what happens inside into a new MLflow run of this notebook."""
    from .experiments.track import track as start

    return start(name)


def load_ipython_extension(ipython: Any) -> None:
    """Register the `%lift` magics (`%load_ext nblift`)."""
    from .magics import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unregister

    unregister(ipython)
