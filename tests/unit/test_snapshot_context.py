"""What a snapshot records beside variables: git state, hidden-state warnings, tracked data hashes."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from nblift.cli import main
from nblift.errors import InvalidInput
from nblift.snapshot.context import data_hashes, git_state, set_tracked, tracked_paths
from nblift.snapshot.history import Cell, cell_names, defining_cells, hidden_state_warnings
from nblift.snapshot.redact import scrub_text

TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"


def _git(root: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


def test_git_state_drops_credentials_and_keeps_the_diff(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "train.py").write_text("lr = 0.1\n")
    _git(tmp_path, "add", "train.py")
    _git(tmp_path, "commit", "-q", "-m", "first")
    _git(tmp_path, "remote", "add", "origin", f"https://oauth2:{TOKEN}@git.example/team/repo.git")
    (tmp_path / "train.py").write_text(f"lr = 0.2\ntoken = '{TOKEN}'\n")
    state = git_state(tmp_path)
    assert state is not None
    assert state.branch == "main" and len(state.commit or "") == 40 and state.dirty
    assert state.remote == "https://git.example/team/repo.git"
    assert "lr = 0.2" in state.diff
    assert TOKEN not in scrub_text(state.diff)  # what the snapshot stores
    assert TOKEN not in json.dumps(state.to_json())


def test_no_git_repository_is_not_an_error(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None


def test_cell_names_see_through_ipython_syntax() -> None:
    names = cell_names("%time x = f(y)\nimport numpy as np\ndel z\nfor i in range(3): pass")
    assert {"np", "i"} <= names.assigned
    assert "z" in names.deleted
    assert "f" in names.loaded and "y" in names.loaded


def _notebook(cells: list[tuple[int | None, str]]) -> bytes:
    nb = nbformat.v4.new_notebook()
    for count, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.execution_count = count
        nb.cells.append(cell)
    return nbformat.writes(nb).encode()


def test_hidden_state_warnings() -> None:
    history = [Cell(1, "a = 1"), Cell(2, "b = a + 1"), Cell(3, "c = 3"), Cell(4, "a = 10")]
    defining = defining_cells(history)
    assert defining["a"].count == 4
    document = _notebook([(1, "a = 1"), (4, "a = 11"), (2, "b = a + 1")])  # [4] edited, [3] deleted
    warnings = hidden_state_warnings(history, defining, ["a", "b", "c"], document)
    assert any("out of document order" in w for w in warnings)
    assert "a: cell [4] that defined it was edited after it ran" in warnings
    assert "c: cell [3] that defined it is no longer in the notebook" in warnings
    assert not any(w.startswith("b:") for w in warnings)


def test_track_data_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / ".nblift"
    (tmp_path / "data").mkdir()
    data = tmp_path / "data" / "train.csv"
    data.write_text("x,y\n1,2\n")
    assert main(["-C", str(tmp_path), "track", "data/train.csv"]) == 0
    assert "data/train.csv" in capsys.readouterr().out
    assert tracked_paths(state) == ["data/train.csv"]
    first = data_hashes(tmp_path, tracked_paths(state))[0]["hash"]
    time.sleep(0.01)
    data.write_text("x,y\n1,3\n")
    assert data_hashes(tmp_path, tracked_paths(state))[0]["hash"] != first
    with pytest.raises(InvalidInput, match="outside the project"):
        set_tracked(tmp_path, state, ["../elsewhere.csv"], [])
    assert main(["-C", str(tmp_path), "track", "--remove", "data/train.csv"]) == 0
    assert tracked_paths(state) == []
