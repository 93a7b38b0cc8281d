"""A kernel follows its renamed notebook: after JupyterLab renames `Untitled.ipynb` (the file, then the
session), the verbs that find "this notebook" from the kernel find the new name. A real `jupyter server` on
loopback, a real session and kernel, code executed in that kernel."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from jupyter_server_proc import api, new_session, run_in_kernel, start_server, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def server(tmp_path: Path):
    root, runtime = tmp_path / "work", tmp_path / "runtime"
    root.mkdir()
    process, port = start_server(root, runtime)
    yield port, root, runtime
    stop_server(process)


def test_the_kernel_follows_its_renamed_notebook(server):
    port, root, runtime = server
    nbformat.write(nbformat.v4.new_notebook(), root / "Untitled.ipynb")
    session = new_session(port, "Untitled.ipynb")
    kernel_id = session["kernel"]["id"]
    ask = "from nblift.kernel_session import kernel_notebook; print(kernel_notebook())"
    assert run_in_kernel(runtime, kernel_id, ask).strip() == str(root / "Untitled.ipynb")

    # what JupyterLab does on a rename: the file, then the session's path
    api(port, "contents/Untitled.ipynb", "PATCH", {"path": "my analysis.ipynb"})
    api(port, f"sessions/{session['id']}", "PATCH", {"path": "my analysis.ipynb"})
    time.sleep(2.1)  # past the moment an answer is reused
    renamed = run_in_kernel(runtime, kernel_id, ask).strip()
    assert renamed == str(root / "my analysis.ipynb")
    found = run_in_kernel(
        runtime,
        kernel_id,
        "from nblift.environment.notebook import find_notebook\n"
        "from nblift.project import Project\n"
        "print(find_notebook(Project.discover('.'), None).name)",
    )
    assert found.strip() == "my analysis.ipynb"  # what %lift preflight checks
    api(port, f"sessions/{session['id']}", "DELETE")
