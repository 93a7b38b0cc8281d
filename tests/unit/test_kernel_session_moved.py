"""A kernel that `%lift move` started on a host names its notebook from `JPY_SESSION_NAME` (the session's copy
of the project), never by asking the Jupyter servers it can find there: on a host that shares home's files,
home's server answers for the kernel's id with the notebook at home, and the move's snapshot and request
would land in the home project where the provisioner never looks."""

from __future__ import annotations

from pathlib import Path

import pytest

from nblift import kernel_session
from nblift.move.where import MOVED_ENV


def test_a_moved_kernel_names_the_notebook_of_its_session_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home_notebook = tmp_path / "home" / "train.ipynb"
    monkeypatch.setattr(kernel_session, "kernel_id", lambda: "k1")
    monkeypatch.setattr(kernel_session, "_ask_servers", lambda kid: home_notebook)
    monkeypatch.setattr(kernel_session, "_answer", None)
    copy = tmp_path / "host" / "sessions" / "abc" / "train.ipynb"
    moved = {"JPY_SESSION_NAME": str(copy), MOVED_ENV: '{"target": "box", "folder": "/x"}'}
    assert kernel_session.kernel_notebook(moved) == copy
    # the same kernel at home asks the server (which knows a renamed notebook)
    assert kernel_session.kernel_notebook({"JPY_SESSION_NAME": str(copy)}) == home_notebook
