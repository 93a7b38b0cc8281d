"""A kernel follows its renamed notebook: after JupyterLab renames `Untitled.ipynb` (the file, then the
session), the verbs that find "this notebook" from the kernel find the new name. A real `jupyter server` on
loopback, a real session and kernel, code executed in that kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client import BlockingKernelClient
from sshd_server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
TOKEN = "test-token-for-loopback"


def _api(port: int, path: str, method: str = "GET", body: Any = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read() or b"null")


@pytest.fixture
def server(tmp_path: Path):
    root, runtime = tmp_path / "work", tmp_path / "runtime"
    root.mkdir()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "MLFLOW_DISABLE_TELEMETRY": "true"}
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            _api(port, "status")
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                pytest.fail("jupyter server did not start")
            time.sleep(0.2)
    yield port, root, runtime
    process.terminate()
    process.wait(timeout=30)


def _run_in_kernel(runtime: Path, kernel_id: str, code: str) -> str:
    client = BlockingKernelClient(connection_file=str(runtime / f"kernel-{kernel_id}.json"))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        out: list[str] = []
        reply = client.execute_interactive(
            code, timeout=60, output_hook=lambda m: out.append(m["content"].get("text", ""))
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(out)
    finally:
        client.stop_channels()


def test_the_kernel_follows_its_renamed_notebook(server):
    port, root, runtime = server
    nbformat.write(nbformat.v4.new_notebook(), root / "Untitled.ipynb")
    session = _api(
        port,
        "sessions",
        "POST",
        {"path": "Untitled.ipynb", "type": "notebook", "name": "", "kernel": {"name": "python3"}},
    )
    kernel_id = session["kernel"]["id"]
    ask = "from nblift.kernel_session import kernel_notebook; print(kernel_notebook())"
    assert _run_in_kernel(runtime, kernel_id, ask).strip() == str(root / "Untitled.ipynb")

    # what JupyterLab does on a rename: the file, then the session's path
    _api(port, "contents/Untitled.ipynb", "PATCH", {"path": "my analysis.ipynb"})
    _api(port, f"sessions/{session['id']}", "PATCH", {"path": "my analysis.ipynb"})
    time.sleep(2.1)  # past the moment an answer is reused
    renamed = _run_in_kernel(runtime, kernel_id, ask).strip()
    assert renamed == str(root / "my analysis.ipynb")
    found = _run_in_kernel(
        runtime,
        kernel_id,
        "from nblift.environment.notebook import find_notebook\n"
        "from nblift.project import Project\n"
        "print(find_notebook(Project.discover('.'), None).name)",
    )
    assert found.strip() == "my analysis.ipynb"  # what %lift preflight checks
    _api(port, f"sessions/{session['id']}", "DELETE")
