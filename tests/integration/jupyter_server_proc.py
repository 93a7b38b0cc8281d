"""A real `jupyter server` on loopback in its own process, its REST API, and code run in its kernels (for
tests and benchmarks that need the server a notebook's kernel talks to)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from jupyter_client import BlockingKernelClient
from sshd_server import free_port

TOKEN = "test-token-for-loopback"


def api(port: int, path: str, method: str = "GET", body: Any = None, root: str = "api") -> Any:
    """A call to the server's REST API (`/api/PATH`; `root="nblift/api"`: nblift's) with the token."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/{root}/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read() or b"null")


def start_server(root: Path, runtime: Path, log: Path | None = None, **environ: str) -> tuple[Any, int]:
    """A server on a free loopback port serving `root`, its runtime files in `runtime`, answering; (process,
    port). `environ` adds to its environment (and its kernels')."""
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime), "MLFLOW_DISABLE_TELEMETRY": "true", **environ}
    port = free_port()
    args = [sys.executable, "-m", "jupyter_server", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1"]
    args += [f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}"]
    args += ["--ServerApp.open_browser=False", "--ServerApp.allow_root=True"]
    errors = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115 - the server keeps it
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    deadline = time.monotonic() + 60
    while True:
        try:
            api(port, "status")
            return process, port
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("jupyter server did not start") from None
            time.sleep(0.2)


def stop_server(process: Any) -> None:
    process.terminate()
    process.wait(timeout=60)


def new_session(port: int, path: str, kernel: str = "python3") -> dict[str, Any]:
    """A notebook session on `path` (relative to the root) with a new kernel of kind `kernel`."""
    body = {"path": path, "type": "notebook", "name": "", "kernel": {"name": kernel}}
    return dict(api(port, "sessions", "POST", body))


def run_in_kernel(runtime: Path, kernel_id: str, code: str, timeout: float = 60) -> str:
    """What `code` printed or displayed as text in the server's kernel `kernel_id`; AssertionError (with the
    output) unless it ran without an error."""
    client = BlockingKernelClient(connection_file=str(runtime / f"kernel-{kernel_id}.json"))
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        out: list[str] = []

        def keep(message: dict[str, Any]) -> None:
            content = message["content"]
            out.append(content.get("text") or (content.get("data") or {}).get("text/plain", ""))

        reply = client.execute_interactive(code, timeout=timeout, output_hook=keep)
        assert reply["content"]["status"] == "ok", (reply["content"], "".join(out))
        return "".join(out)
    finally:
        client.stop_channels()
