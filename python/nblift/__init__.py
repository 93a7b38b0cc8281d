"""nblift: take ML notebooks from a laptop to cloud GPUs without losing anything on the way.

This module stays import-light: `%load_ext nblift` and the Jupyter server import it, so it must not
pull in mlflow, backend libraries or the server extension unless they are used.
"""

from __future__ import annotations

import numbers
import os
from typing import Any

try:
    from ._version import __version__
except ImportError:  # a source tree that was never built
    __version__ = "0.0.0.dev0"

__all__ = ["__version__", "load_ipython_extension", "load_model", "log", "track", "unload_ipython_extension"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nblift"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import NbliftExtension

    return [{"module": "nblift.server.app", "app": NbliftExtension}]


def _not_a_number(value: object) -> bool:
    return type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real))


def log(step: int | None = None, **metrics: float) -> None:
    """Log metrics: `nblift.log(step=3, loss=0.2, acc=0.9)` (without `step`, each metric counts up from 0).

    In a run (`%lift run`, `nblift run`) the values become run events: they show live in the Runs panel and
    the runner writes them to the run's MLflow run. Elsewhere they go to an in-memory buffer that a
    background thread writes to the notebook's MLflow run in batches (created on first use; see
    `nblift.track`), flushed at the end of every cell: the loop that logs never waits for MLflow.
    """
    for name, value in metrics.items():
        if _not_a_number(value):
            raise TypeError(f"nblift.log: {name}={value!r} is not a number; log numbers only")
    if (
        step is not None
        and type(step) is not int
        and (isinstance(step, bool) or not isinstance(step, numbers.Integral))
    ):
        raise TypeError(f"nblift.log: step={step!r} is not an integer")
    if os.environ.get("NBLIFT_RUN_DIR"):
        _log_run_event(os.environ["NBLIFT_RUN_DIR"], step, metrics)
        return
    global _metrics
    if _metrics is None:
        from .experiments import logger as _metrics
    running = _metrics.current()
    if running is None:
        running = _metrics.log_metrics(step, metrics)
    else:
        running.log(step, metrics)


_metrics: Any = None  # nblift.experiments.logger, once nblift.log is first used


def _log_run_event(run_dir: str, step: int | None, metrics: dict[str, float]) -> None:
    import math
    from pathlib import Path

    from .runs.events import append_event

    for name, value in metrics.items():
        finite = math.isfinite(value)  # JSON has no NaN or infinity: those travel as text
        shown = float(value) if finite else None
        extra = {} if finite else {"raw": repr(float(value))}
        append_event(Path(run_dir), "metric", name=str(name), value=shown, step=int(step or 0), **extra)


def track(name: str | None = None, params: dict[str, Any] | None = None) -> Any:
    """`with nblift.track("baseline", params={"alpha": 0.1}):` what is logged inside goes to a new MLflow run
    of this notebook, with these parameters (and those of its cell tagged `parameters`)."""
    from .experiments.track import track as start

    return start(name, params)


def load_model(uri: str) -> Any:
    """`nblift.load_model("models:/NAME@champion")`: a registered model back as its framework's own object
    (or the object registered through the generic wrapper), warning when this environment drifts from the
    one it was registered in."""
    from .registry.load import load_model as load

    return load(uri)


def load_ipython_extension(ipython: Any) -> None:
    """Register the `%lift` magics (`%load_ext nblift`)."""
    from .magics import register

    register(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unregister

    unregister(ipython)
