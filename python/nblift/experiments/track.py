"""A notebook's own MLflow run: what `nblift.log` writes to outside a run, and `nblift.track()`.

The run is created by the metric writer thread on first use (so a training loop never waits for mlflow's
import), in the project's experiment, named after the notebook, with the notebook's lineage tags and the
values of the variables its cell tagged `parameters` assigns.
"""

from __future__ import annotations

import ast
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import tracking
from ..project import Project
from .sinks import ClientSink, Sink, SQLiteSink

PARAM_MAX = 6000


def _notebook() -> Path | None:
    from ..kernel_session import kernel_notebook

    return kernel_notebook()


def parameter_values(notebook: Path | None, namespace: dict[str, Any] | None) -> dict[str, str]:
    """The current values of the names the notebook's `parameters` cell assigns (papermill's convention)."""
    if notebook is None or namespace is None or not notebook.is_file():
        return {}
    from ..environment.notebook import cells_of

    names: list[str] = []
    for cell in cells_of(notebook):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell.get("source", ""))
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                for target in targets if isinstance(node, (ast.Assign, ast.AnnAssign)) else ():
                    if isinstance(target, ast.Name):
                        names.append(target.id)
    return {name: repr(namespace[name])[:PARAM_MAX] for name in names if name in namespace}


def _namespace() -> dict[str, Any] | None:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return getattr(shell, "user_ns", None)


def start_run(
    project: Project, name: str | None = None, params: dict[str, Any] | None = None, *, autolog: bool = True
) -> str:
    """Create the notebook's MLflow run (RUNNING) with lineage tags and parameters (the `parameters` cell's
    values, then `params`); return its id."""
    from mlflow.entities import Param

    from ..lineage import notebook_tags

    client = tracking.client(project)
    experiment = tracking.ensure_experiment(project, tracking.experiment_name(project))
    notebook = _notebook()
    rel = None
    if notebook is not None and notebook.resolve().is_relative_to(project.root):
        rel = notebook.resolve().relative_to(project.root).as_posix()
    tags = {"nblift.kind": "track", **(notebook_tags(project, rel) if rel else {})}
    run_name = name or f"{Path(rel).stem if rel else 'notebook'} {time.strftime('%Y-%m-%d %H:%M:%S')}"
    run = client.create_run(experiment, run_name=run_name, tags=tags)
    values = {
        **parameter_values(notebook, _namespace()),
        **{k: str(v)[:PARAM_MAX] for k, v in (params or {}).items()},
    }
    if values:
        client.log_batch(run.info.run_id, params=[Param(k, v) for k, v in values.items()])
    run_id = str(run.info.run_id)
    if autolog and project.settings.autolog:
        _autolog(run_id, tracking.engine_uri(tracking.target_for(project)))
    return run_id


def _autolog(run_id: str, uri: str) -> None:
    """Point MLflow's fluent API at this run and switch on its autologging: frameworks imported now or later
    (scikit-learn, PyTorch Lightning, XGBoost, ...) log their parameters and metrics into the same run."""
    import mlflow

    # Not through MLFLOW_TRACKING_URI: that variable would also change which store nblift itself uses.
    mlflow.set_tracking_uri(uri)
    os.environ["MLFLOW_RUN_ID"] = run_id  # a framework's autologging resumes this run instead of starting one
    mlflow.autolog(log_models=False, log_datasets=False, log_traces=False, silent=True)


def sink_for(project: Project) -> Sink:
    db = project.state_dir / tracking.DB_FILE
    if tracking.target_for(project).embedded and SQLiteSink.usable(db):
        return SQLiteSink(db)
    return ClientSink(tracking.client(project))


_explicit: dict[str, Any] = {}


def notebook_target() -> tuple[str, Sink]:
    """The run `nblift.log` writes to: the one `nblift.track()` started, else a new one for this notebook."""
    project = _explicit.get("project") or Project.discover()
    run_id = _explicit.get("run_id") or start_run(project)
    return run_id, sink_for(project)


def start(
    name: str | None = None, params: dict[str, Any] | None = None, project: Project | None = None
) -> dict[str, Any]:
    """Start a run of this notebook that `nblift.log` writes to until `stop()` (`%lift track run NAME`)."""
    from . import logger

    if _explicit:
        stop()
    logger.reset()
    project = project or Project.discover()
    run_id = start_run(project, name, params)
    _explicit.update(project=project, run_id=run_id)
    return {"run_id": run_id, "name": name, "state": "RUNNING"}


def stop(status: str = "FINISHED") -> dict[str, Any]:
    """End the run `start()` began: what was logged is written, then the run is closed with `status`."""
    from ..errors import InvalidInput
    from . import logger

    if not _explicit:
        raise InvalidInput("no run was started in this kernel", hint="start one with `%lift track run NAME`")
    project, run_id = _explicit["project"], _explicit["run_id"]
    try:
        logger.reset()
    finally:
        _explicit.clear()
        if os.environ.get("MLFLOW_RUN_ID") == run_id:
            del os.environ["MLFLOW_RUN_ID"]  # autologging after this does not write into the run
        tracking.client(project).set_terminated(run_id, status)
    return {"run_id": run_id, "state": status}


@contextmanager
def track(
    name: str | None = None, params: dict[str, Any] | None = None, project: Project | None = None
) -> Iterator[str | None]:
    """`with nblift.track("baseline", params={"alpha": 0.1}) as run_id:` a new MLflow run for what is logged
    inside; it ends FINISHED, or FAILED when the block raises (KILLED when interrupted). Inside a run
    (`nblift run`) the run's own MLflow run is used instead."""
    if os.environ.get("NBLIFT_RUN_DIR"):
        yield os.environ.get("MLFLOW_RUN_ID")
        return
    run_id = start(name, params, project)["run_id"]
    status = "FINISHED"
    try:
        yield run_id
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except BaseException:
        status = "FAILED"
        raise
    finally:
        stop(status)
