"""Shared fixtures: the nblift server extension turned on for pytest-jupyter, and a clean environment."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

REPO = Path(__file__).resolve().parents[1]
PYTHON_SRC = REPO / "python"

# Variables that change which project, state folder or tracking store nblift uses.
_NBLIFT_ENV = ("MLFLOW_TRACKING_URI", "JPY_SESSION_NAME")


@pytest.fixture(autouse=True)
def _clean_nblift_env(monkeypatch):
    """No test sees the developer's NBLIFT_* / MLFLOW_TRACKING_URI settings."""
    for name in list(os.environ):
        if name.startswith("NBLIFT_") or name in _NBLIFT_ENV:
            monkeypatch.delenv(name)


@pytest.fixture
def run_project(tmp_path, monkeypatch):
    """A project for tests that launch real runs: a lost or cancelled run is told within seconds."""
    from nblift.project import Project

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("NBLIFT_RUN_HEARTBEAT_TIMEOUT", "3")
    monkeypatch.setenv("NBLIFT_RUN_CANCEL_GRACE", "5")
    monkeypatch.chdir(tmp_path)
    return Project.discover(tmp_path)


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nblift": True}}}


@pytest.fixture
def child_env():
    """Environment for a child Python process that imports nblift from this source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBLIFT_") and k not in _NBLIFT_ENV}
    env["PYTHONPATH"] = str(PYTHON_SRC)
    env["PYTHONUNBUFFERED"] = "1"
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave without the interpreter's teardown once the run is decided and reported: a native library the
    tests load (Ray, gRPC, Arrow, the Kubernetes client's threads) has aborted the process there after every
    test had passed, turning a green run red."""
    if _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
