"""The `nblift-ssh` kernel provisioner against a real OpenSSH server on loopback: jupyter_client starts a
kernel on the host through it and talks to it as to any kernel (execute, interrupt, restart); the kernel
keeps its state when the connection drops (the sshd killed and restarted) and the provisioner forwards
again; the ports listen on loopback only, and the connection key is on no command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from run_helpers import until
from test_ssh_backend import project_for, sshd  # noqa: F401 - a fixture: the sshd standing for the host

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def kernel_spec(sshd, tmp_path, monkeypatch):  # noqa: F811 - the sshd fixture
    """A kernel spec `nblift-ssh-box` in a private Jupyter data folder, naming the provisioner."""
    remote = tmp_path / "remote"
    project = project_for(tmp_path, sshd, remote)
    folder = tmp_path / "jupyter" / "kernels" / "nblift-ssh-box"
    folder.mkdir(parents=True)
    spec = {
        "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python on box",
        "language": "python",
        "metadata": {
            "kernel_provisioner": {
                "provisioner_name": "nblift-ssh",
                "config": {
                    "target": "box",
                    "project": str(project.root),
                    "python": sys.executable,  # the host's environment: this one, with ipykernel
                    "cwd": str(remote / "work"),
                },
            }
        },
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return remote


def value(client, expression: str) -> str:
    reply = client.execute_interactive(
        "", user_expressions={"v": expression}, timeout=60, store_history=False, output_hook=lambda m: None
    )
    found = reply["content"]["user_expressions"]["v"]
    assert found["status"] == "ok", found
    return found["data"]["text/plain"]


def value_or_none(client, expression: str) -> str | None:
    try:
        reply = client.execute_interactive(
            "",
            user_expressions={"v": expression},
            timeout=15,
            store_history=False,
            output_hook=lambda m: None,
        )
    except TimeoutError:
        return None
    return reply["content"]["user_expressions"]["v"]["data"]["text/plain"]


def listening(pid_filter: str) -> list[str]:
    """Local addresses of the listening TCP sockets (`ss`), for the lines that mention `pid_filter`."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=False).stdout
    return [line.split()[3] for line in out.splitlines() if pid_filter in line]


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_kernel_on_the_host_works_like_any_kernel_and_survives_a_dropped_connection(sshd, kernel_spec):  # noqa: F811
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="nblift-ssh-box")
    manager.start_kernel()
    client = manager.blocking_client()
    client.start_channels()
    restarted = None
    try:
        client.wait_for_ready(timeout=60)
        provisioner = manager.provisioner
        assert type(provisioner).__name__ == "SSHKernelProvisioner"
        # it runs on the host: in the working folder it was given, inside an SSH session's environment
        assert value(client, "__import__('os').getcwd()") == repr(str(kernel_spec / "work"))
        assert value(client, "bool(__import__('os').environ.get('SSH_CONNECTION'))") == "True"
        remote_pid = int(value(client, "__import__('os').getpid()"))
        assert remote_pid == provisioner.pid

        # the connection key is in a 0600 file, on no command line; every port listens on loopback only
        key = manager.session.key.decode()
        remote_file = Path(provisioner.remote_file)
        assert remote_file.stat().st_mode & 0o777 == 0o600 and key in remote_file.read_text()
        # ... while the kernel keeps the login's umask (the files the user's code writes are not made 0600)
        umask = "(lambda os: (lambda old: (os.umask(old), old)[1])(os.umask(0)))(__import__('os'))"
        assert value(client, umask) != str(0o77)
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        assert key not in ps
        kernel_ports = listening(f"pid={remote_pid},")
        assert len(kernel_ports) >= 5 and all(a.startswith("127.0.0.1:") for a in kernel_ports), kernel_ports
        forwarded = [int(getattr(manager, name)) for name in ("shell_port", "iopub_port", "hb_port")]
        local = listening(f"pid={os.getpid()},")
        assert all(f"127.0.0.1:{port}" in local for port in forwarded), (forwarded, local)

        # interrupt reaches the kernel on the host
        client.execute_interactive("counter = 41", timeout=60, output_hook=lambda m: None)
        pending = client.execute("import time\ntime.sleep(60)")
        until(lambda: value_nowait(client) == "busy", 30, "the cell to start")
        manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=30)
        assert (
            reply["parent_header"]["msg_id"] == pending and reply["content"]["ename"] == "KeyboardInterrupt"
        )

        # the network drops (every SSH session killed): the kernel goes on, the next look forwards again
        sshd.stop()
        sshd.start()
        until(manager.is_alive, 60, "the provisioner to reconnect", every=1)
        # same process, same state (an answer published before the client's sockets were back is lost: ask
        # again, as a person would run the cell again)
        assert until(lambda: value_or_none(client, "counter + 1"), 120, "the kernel to answer") == "42"

        # restart: a fresh kernel process on the host
        manager.restart_kernel()
        client.wait_for_ready(timeout=60)
        restarted = int(value(client, "__import__('os').getpid()"))
        assert restarted != remote_pid and "counter" not in value(client, "dir()")
        until(lambda: not process_exists(remote_pid), 30, "the first kernel to stop")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)
    until(lambda: restarted is None or not process_exists(restarted), 30, "the kernel to stop on the host")
    assert not list((kernel_spec / "kernels").glob("kernel-*.json")), "the connection file is left behind"


def value_nowait(client) -> str | None:
    """The execution state of the latest iopub status message, if one is waiting."""
    state = None
    while True:
        try:
            message = client.get_iopub_msg(timeout=0.2)
        except Exception:  # noqa: BLE001 - queue.Empty: nothing more waiting
            return state
        if message["msg_type"] == "status":
            state = message["content"]["execution_state"]
