"""A Jupyter kernel on an SSH host: the kernel provisioner `nblift-ssh` (entry point group
`jupyter_client.kernel_provisioners`).

A kernel spec names it in its metadata, with the target and the interpreter to run there:

    {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "language": "python",
     "display_name": "Python on gpu1",
     "metadata": {"kernel_provisioner": {"provisioner_name": "nblift-ssh", "config": {
        "target": "gpu1", "project": "/home/me/proj", "python": "/srv/env/bin/python", "cwd": "/srv/w"}}}}

JupyterLab, nbclient and every other client then treat it as an ordinary kernel: the provisioner starts
`python -m ipykernel_launcher` on the host, detached (`setsid nohup`), with its connection file written from
the start command's standard input (mode 0600: the connection key is never on a command line), the kernel's
five ports bound to the host's loopback, and forwards each local port (bound to this machine's loopback) to
them through the SSH connection. The kernel keeps running when the connection drops; the next look (`poll`,
every few seconds) reconnects and forwards again. Interrupt and restart are signals to the kernel's process
group on the host. Host keys are checked as for runs (`ssh_connect`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import posixpath
import secrets
import shlex
import signal
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import KernelProvisionerBase
from traitlets import Unicode

from ..errors import NbliftError
from ..project import Project
from .ssh_connect import SSHTarget, check_output, connect, remote_root, retrying, run_ssh, target_named

PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
#: How the host is watched for a moved kernel's request to go home: a look every WATCH_STEP_S seconds, for
#: WATCH_ROUNDS looks at most per command (a command left behind by a lost connection ends by itself).
WATCH_STEP_S = 0.25
WATCH_ROUNDS = 1200
#: Environment variables a kernel gets from the server that started it (never the server's whole environment).
PASSED_ENV = (
    "JPY_SESSION_NAME",
    "JPY_PARENT_PID",
    "NBLIFT_USER",
    "MLFLOW_TRACKING_URI",
    "MLFLOW_EXPERIMENT_NAME",
)
#: Prints five free TCP ports on the host's loopback, one per line.
_FREE_PORTS = (
    "import socket\n"
    "socks = [socket.socket() for _ in range(5)]\n"
    "for s in socks:\n    s.bind(('127.0.0.1', 0))\n"
    "print('\\n'.join(str(s.getsockname()[1]) for s in socks))\n"
)


class SSHKernelProvisioner(KernelProvisionerBase):  # type: ignore[misc]
    """Starts and manages a kernel on an SSH target, reached through forwarded loopback ports."""

    target = Unicode("", config=True, help="the ssh target: a [tool.nblift.ssh_hosts] table or an alias")
    project = Unicode("", config=True, help="the project folder whose settings name the target")
    python = Unicode("", config=True, help="the interpreter on the host (default: the target's python)")
    cwd = Unicode("", config=True, help="the kernel's working folder on the host (default: the root)")
    session_folder = Unicode("", config=True, help="a moved session's project copy on the host")
    home_kernel = Unicode("", config=True, help="the kernel spec a moved session goes back to")

    pid: int | None = None
    remote_ports: dict[str, int] | None = None
    remote_file: str = ""
    _listeners: list[Any] | None = None
    _conn: Any = None  # the connection the listeners forward through
    _going_home: asyncio.Task[None] | None = None
    _watcher: asyncio.Task[None] | None = None
    _env: dict[str, str] | None = None
    home_kernel_id: str | None = None  # the kernel at home that restored this moved kernel's state

    # -- where ---------------------------------------------------------------------------------------------

    def _target(self) -> SSHTarget:
        return target_named(Project.discover(self.project or None), self.target)

    async def _on_ssh(self, work: Any, timeout: float = 60.0) -> Any:
        """Run the coroutine `work` on the SSH connections' loop without blocking this one."""
        return await asyncio.get_running_loop().run_in_executor(None, lambda: run_ssh(work, timeout))

    # -- launch --------------------------------------------------------------------------------------------

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        km = self.parent
        if km is None:
            raise NbliftError("the ssh kernel provisioner runs under a kernel manager")
        km.ip = "127.0.0.1"  # the forwarded ports listen on this machine's loopback only
        km.write_connection_file()
        self.connection_info = km.get_connection_info()
        kwargs = await super().pre_launch(cmd=[], **kwargs)
        env = kwargs.get("env") or {}
        self._env = {k: str(env[k]) for k in PASSED_ENV if env.get(k)}
        self._env.update({k: str(v) for k, v in (self.kernel_spec.env or {}).items()})
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        target = self._target()
        await self._on_ssh(self._start(target))
        if self._back_request():
            self._watcher = asyncio.get_running_loop().create_task(self._watch_for_home())
        return self.connection_info

    async def _start(self, target: SSHTarget) -> None:
        q = shlex.quote
        conn = await connect(target)
        root = await remote_root(conn, target)
        folder = posixpath.join(root, "kernels")
        python = self.python or target.python
        # two commands in all: the folder and five free ports, then the connection file and the kernel
        ports = (
            await check_output(conn, f"(umask 077; mkdir -p {q(folder)}) && {q(python)} -c {q(_FREE_PORTS)}")
        ).split()
        if len(ports) != len(PORTS):
            raise NbliftError(
                f"{target.name}: the host did not give five free ports", hint="check its python"
            )
        self.remote_ports = dict(zip(PORTS, map(int, ports), strict=True))
        info = {k: v for k, v in self.connection_info.items() if k not in PORTS}
        key = info.get("key", b"")
        info = {
            **info,
            **self.remote_ports,
            "ip": "127.0.0.1",
            "key": key.decode() if isinstance(key, bytes) else key,
        }
        self.remote_file = posixpath.join(folder, f"kernel-{self.kernel_id or secrets.token_hex(8)}.json")
        cwd = self.cwd or root
        env = " ".join(f"{k}={q(v)}" for k, v in (self._env or {}).items())
        log = posixpath.join(folder, f"{posixpath.basename(self.remote_file)}.log")
        # a moved session's variables are restored by a startup file: they stay the user's, not hidden
        shown = " --IPKernelApp.hide_initial_ns=False" if self.session_folder else ""
        # the connection file (its key) comes on stdin, written 0600; the kernel keeps the user's umask
        started = await check_output(
            conn,
            f"(umask 077; cat > {q(self.remote_file)}) || exit 1; "
            f"mkdir -p {q(cwd)} && cd {q(cwd)} || exit 1; "
            f"env {env} setsid nohup {q(python)} -m ipykernel_launcher -f {q(self.remote_file)}{shown} "
            f">> {q(log)} 2>&1 < /dev/null & echo $!",
            json.dumps(info),
        )
        self.pid = int(started.split()[-1])
        await self._forward(conn)
        self._conn = conn

    async def _forward(self, conn: Any) -> None:
        """Listen on this machine's loopback at the kernel manager's ports, each forwarded to the kernel's."""
        for listener in self._listeners or []:
            listener.close()
        self._listeners = []
        assert self.remote_ports is not None
        for name in PORTS:
            local = int(self.connection_info[name])  # type: ignore[literal-required]
            self._listeners.append(
                await conn.forward_local_port("127.0.0.1", local, "127.0.0.1", self.remote_ports[name])
            )

    # -- life ----------------------------------------------------------------------------------------------

    @property
    def has_process(self) -> bool:
        return self.pid is not None

    async def _alive(self) -> bool | None:
        """Whether the kernel's process lives (None: the host cannot be reached now); a connection that was
        lost is made again and the ports forwarded through it."""
        target = self._target()
        previous = self._listeners[0].get_port() if self._listeners else None

        request = self._back_request()

        async def look(conn: Any) -> tuple[bool, str]:
            if self._listeners is not None and conn is not self._conn:  # a new connection: forward again
                await self._forward(conn)
                self._conn = conn
            asked = f"; cat {shlex.quote(request)} 2>/dev/null" if request else ""
            done = await conn.run(f"kill -0 {int(self.pid or 0)} && echo alive{asked}", check=False)
            out = str(done.stdout)
            return out.startswith("alive"), out.removeprefix("alive").strip()

        try:  # a connection found dropped is made again (and forwarded through) in the same look
            alive, back = await self._on_ssh(retrying(target, look))
            if back and self._going_home is None:
                self._going_home = asyncio.get_running_loop().create_task(self._bring_home(back))
            return alive
        except NbliftError:
            self.log.warning(
                "ssh kernel %s: %s unreachable (had port %s)", self.kernel_id, target.name, previous
            )
            return None

    async def _watch_for_home(self) -> None:
        """Wait on the host for `%lift move back`'s request and bring the session home as soon as it is
        there (the regular look would see it only at the next poll). The wait on the host is bounded (it
        ends by itself if the connection goes); a dropped connection is waited out and the wait starts
        again."""
        from .ssh_connect import on_ssh_loop

        request, target = self._back_request(), self._target()
        q = shlex.quote
        wait = (
            f"i=0; while ! test -f {q(request)}; do i=$((i+1)); "
            f"test $i -gt {WATCH_ROUNDS} && exit 3; sleep {WATCH_STEP_S}; done; cat {q(request)}"
        )

        async def look(conn: Any) -> str | None:
            done = await conn.run(wait, check=False)
            return str(done.stdout) if done.exit_status == 0 else None

        while self.pid is not None:
            try:
                text = await on_ssh_loop(retrying(target, look))
            except NbliftError:
                await asyncio.sleep(5.0)  # the host is away: the regular look reconnects
                continue
            if text and self._going_home is None:
                self._going_home = asyncio.get_running_loop().create_task(self._bring_home(text))
            if self._going_home is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._going_home)

    def _back_request(self) -> str:
        """Where a moved kernel asks to go home (`%lift move back`); empty for a kernel that was not moved."""
        if not self.session_folder:
            return ""
        from ..move.back import request_path

        return request_path(posixpath.join(self.session_folder, self._state_dir()))

    def _state_dir(self) -> str:
        return Project.discover(self.project or None).settings.state_dir

    async def _bring_home(self, text: str) -> None:
        from ..move.back import bring_home

        try:
            await bring_home(self, json.loads(text))
        except Exception:
            # said in the server's log; the kernel on the host goes on, and asks again with `%lift move back`
            self.log.exception("ssh kernel %s: moving home failed", self.kernel_id)
            await self._forget_request()
            self._going_home = None

    async def _forget_request(self) -> None:
        target, path = self._target(), self._back_request()

        async def remove() -> None:
            conn = await connect(target)
            await conn.run(f"rm -f {shlex.quote(path)}", check=False)

        with contextlib.suppress(NbliftError):
            await self._on_ssh(remove())

    async def poll(self) -> int | None:
        if self.pid is None:
            return 0
        alive = await self._alive()
        return None if alive in (True, None) else 1  # an unreachable host: the kernel goes on there

    async def wait(self) -> int | None:
        while self.pid is not None and await self.poll() is None:
            await asyncio.sleep(0.5)
        self.pid = None
        return 0

    async def send_signal(self, signum: int) -> None:
        if self.pid is None:
            return
        target, pid = self._target(), int(self.pid)
        name = signal.Signals(signum).name.removeprefix("SIG")

        async def send() -> None:
            conn = await connect(target)
            # the kernel leads its own process group (setsid): its children get the signal too
            await conn.run(f"kill -{name} -- -{pid} 2>/dev/null || kill -{name} {pid}", check=False)

        await self._on_ssh(send())

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        if self._watcher is not None and self._watcher is not asyncio.current_task():
            self._watcher.cancel()
        self._watcher = None
        for listener in self._listeners or []:
            listener.close()
        self._listeners = None
        if self.remote_file and not restart:
            target, path = self._target(), self.remote_file

            async def remove() -> None:
                conn = await connect(target)
                await conn.run(f"rm -f {shlex.quote(path)}", check=False)  # the log stays, to read

            try:
                await self._on_ssh(remove())
            except NbliftError:
                self.log.warning("ssh kernel %s: could not remove %s on the host", self.kernel_id, path)
        self.pid = None

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        return max(recommended, 10.0)  # a round trip per look

    def get_stable_start_time(self, recommended: float = 10.0) -> float:
        return max(recommended, 30.0)

    async def get_provisioner_info(self) -> dict[str, Any]:
        info = await super().get_provisioner_info()
        info.update(pid=self.pid, remote_ports=self.remote_ports, remote_file=self.remote_file)
        return info

    async def load_provisioner_info(self, provisioner_info: dict[str, Any]) -> None:
        await super().load_provisioner_info(provisioner_info)
        self.pid = provisioner_info.get("pid")
        self.remote_ports = provisioner_info.get("remote_ports")
        self.remote_file = provisioner_info.get("remote_file", "")
