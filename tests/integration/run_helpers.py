"""Notebooks and waits for run tests: real notebooks, real runner processes, real kernels."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat

from nblift.backends.local import group_members, process_start
from nblift.project import Project
from nblift.runs import service
from nblift.runs.records import RunInfo, read_handle, record_dir


def write_notebook(path: Path, *cells: str, parameters: str | None = None) -> Path:
    """A notebook of code cells; `parameters` becomes the cell tagged `parameters`, first."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(nb, path)
    return path


def until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def events_of(project: Project, run_id: str) -> list[dict[str, Any]]:
    """The run's events so far (through the service, so a backend's sync brings them in)."""
    return service.events(project, run_id)[0]


def wait_for_event(project: Project, run_id: str, kind: str, timeout: float = 90, **match: Any) -> dict:
    def found() -> dict | None:
        for event in events_of(project, run_id):
            if event["kind"] == kind and all(event.get(k) == v for k, v in match.items()):
                return event
        return None

    return until(found, timeout, f"{kind} {match} in run {run_id}")


def wait_done(project: Project, run_id: str, timeout: float = 120) -> RunInfo:
    return service.wait(project, run_id, timeout=timeout)


def runner_pid(project: Project, run_id: str) -> int:
    handle = read_handle(record_dir(project.state_dir, run_id))
    assert handle is not None
    return int(handle.native_id)


def gone(pid: int) -> bool:
    return process_start(pid) is None


def group_empty(pgid: int) -> bool:
    return not group_members(pgid)


def mlflow_run(project: Project, info: RunInfo) -> Any:
    from nblift import tracking

    assert info.mlflow, f"run {info.id} has no MLflow run"
    return tracking.client(project).get_run(info.mlflow["run_id"])


def wait_mlflow_closed(project: Project, run_id: str, timeout: float = 120) -> RunInfo:
    def closed() -> RunInfo | None:
        info = service.get_run(project, run_id)
        return info if info.mlflow and info.mlflow.get("status") != "RUNNING" else None

    return until(closed, timeout, f"the MLflow run of {run_id} to close", every=0.5)


def kill_quietly(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def git(root: Path, *args: str) -> str:
    """Run git in `root` with a throwaway identity; its output."""
    return subprocess.run(
        ["git", "-C", str(root), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
