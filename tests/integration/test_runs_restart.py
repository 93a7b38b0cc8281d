"""A Jupyter server restart mid-run: the run goes on (its runner is detached), and the new server
reconciles both the run still in flight (it reaches SUCCEEDED) and one whose runner died meanwhile (LOST)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from run_helpers import gone, until, write_notebook

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
TOKEN = "restart-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log = (root.parent / f"server-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "server",
                "--no-browser",
                f"--port={self.port}",
                "--ip=127.0.0.1",
                f"--IdentityProvider.token={TOKEN}",
                "--allow-root",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.jpserver_extensions={'nblift': True}",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        until(self._up, 90, "the Jupyter server to answer", every=0.3)

    def _up(self) -> bool:
        try:
            return self.api("version")["api"] >= 1
        except (OSError, urllib.error.URLError):
            return False

    def api(self, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/nblift/api/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.loads(reply.read())

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.log.close()


def test_restart_reconciles_runs_in_flight(tmp_path, child_env):
    root = tmp_path / "root"
    root.mkdir()
    write_notebook(root / "slow.ipynb", "import time\ntime.sleep(8)", "print('survived the restart')")
    write_notebook(root / "doomed.ipynb", "import time\ntime.sleep(120)")
    write_notebook(root / "later.ipynb", "import time\ntime.sleep(120)")
    env = {**child_env, "NBLIFT_RUN_HEARTBEAT_TIMEOUT": "5", "NBLIFT_RUN_CANCEL_GRACE": "5"}
    env.pop("PYTHONPATH", None)  # the installed package, as a user's server has it

    server = Server(root, env)
    try:
        survivor = server.api("runs", {"notebook": "slow.ipynb"})
        doomed = server.api("runs", {"notebook": "doomed.ipynb"})
        later = server.api("runs", {"notebook": "later.ipynb"})
        handles = {
            run["id"]: json.loads((root / ".nblift" / "runs" / run["id"] / "handle.json").read_text())
            for run in (survivor, doomed, later)
        }
        until(lambda: server.api(f"runs/{survivor['id']}")["state"] == "RUNNING", 60, "the run to start")
    finally:
        server.kill()  # the server dies without any chance to clean up

    doomed_pid = int(handles[doomed["id"]]["native_id"])
    survivor_pid = int(handles[survivor["id"]]["native_id"])
    assert not gone(survivor_pid)  # the runner outlived its server
    os.kill(doomed_pid, signal.SIGKILL)  # and this one dies while no server watches
    time.sleep(0.5)

    server = Server(root, env)
    try:
        # the new server checks the runs in flight on its own, before anyone asks
        state_file = root / ".nblift" / "runs" / doomed["id"] / "state.json"
        until(
            lambda: json.loads(state_file.read_text())["state"] == "LOST", 30, "the start-up reconciliation"
        )
        listed = {r["id"]: r for r in server.api("runs")["runs"]}
        assert listed[doomed["id"]]["state"] == "LOST"
        assert "gone" in listed[doomed["id"]]["error"]["message"]
        assert listed[survivor["id"]]["state"] in ("RUNNING", "SUCCEEDED")
        # a run started by the previous server can still be cancelled by this one
        assert server.api(f"runs/{later['id']}/cancel", {})["state"] == "CANCELLED"
        until(lambda: gone(int(handles[later["id"]]["native_id"])), 60, "the cancelled runner to exit")
        done = until(
            lambda: (r := server.api(f"runs/{survivor['id']}"))["state"] not in ("PENDING", "RUNNING") and r,
            120,
            "the surviving run to finish",
        )
        assert done["state"] == "SUCCEEDED", done["error"]
        fetched = server.api(f"runs/{survivor['id']}/fetch", {})
        assert "survived the restart" in (root / fetched["path"]).read_text()
    finally:
        server.kill()
