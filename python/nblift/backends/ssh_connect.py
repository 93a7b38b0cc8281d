"""SSH targets and connections, shared by everything that talks to an SSH host: the ssh backend (runs) and
the kernel provisioner (a live kernel on the host).

`[tool.nblift.ssh_hosts.NAME]` tables name targets (or a host alias of `~/.ssh/config` with the defaults).
Connections live on one event loop in a thread of their own (callers may be a kernel or a Jupyter server with
their own loop), one per target, reconnected when they drop. Host keys are checked against `known_hosts`
(never turned off); keys come from the SSH agent, `~/.ssh` or the target's `identity_file`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import posixpath
import re
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ..costs.prices import PRICE_KEYS, Priced
from ..errors import InvalidInput, NbliftError
from ..project import Project
from .remote import parse_targets

T = TypeVar("T")
CONNECT_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 120.0
_KEYS = {
    "host": str,
    "port": int,
    "user": str,
    "identity_file": str,
    "known_hosts": str,
    "python": str,
    "uv": str,
    "root": str,
    "gpus": str,
    "offline": bool,
    **PRICE_KEYS,
}
_SAFE_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclasses.dataclass(frozen=True)
class SSHTarget(Priced):
    """One SSH host runs can go to."""

    name: str
    host: str
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    python: str = "python3"
    uv: str = "uv"
    root: str = ".nblift-remote"
    gpus: str = ""
    offline: bool = False


def ssh_targets(project: Project) -> dict[str, SSHTarget]:
    """The targets the project's settings name (`[tool.nblift.ssh_hosts.NAME]`)."""
    tables = parse_targets(dict(project.settings.ssh_hosts), _KEYS, "ssh_hosts")
    return {name: SSHTarget(name=name, **{"host": name, **values}) for name, values in tables.items()}


def target_named(project: Project, name: str) -> SSHTarget:
    """A configured target, or a host alias of `~/.ssh/config` with the defaults."""
    if not name:
        raise InvalidInput(
            "the ssh backend needs a target", hint="use --backend ssh:HOST (a host from ~/.ssh/config)"
        )
    configured = ssh_targets(project)
    if name in configured:
        return configured[name]
    if not _SAFE_NAME.fullmatch(name):
        raise InvalidInput(
            f"{name!r} is not a host name", hint="name a [tool.nblift.ssh_hosts] table or an ssh alias"
        )
    return SSHTarget(name=name, host=name)


# -- one event loop for every SSH connection of this process ---------------------------------------------

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()
_connections: dict[SSHTarget, Any] = {}


def ssh_loop() -> asyncio.AbstractEventLoop:
    """The loop of the SSH thread (started on first use)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="nblift-ssh", daemon=True).start()
        return _loop


def run_ssh(coro: Coroutine[Any, Any, T], timeout: float = COMMAND_TIMEOUT_S) -> T:
    """Run `coro` on the SSH thread's loop (callers may be in a kernel or a server with their own loop)."""
    return asyncio.run_coroutine_threadsafe(coro, ssh_loop()).result(timeout)


async def on_ssh_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` run on the SSH thread's loop from another loop, holding no thread while it waits
    (cancelling the caller cancels it)."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, ssh_loop()))


#: Offered first where the CPU encrypts AES itself: in asyncssh they move bytes about 1.5x faster than its
#: default first choice, chacha20-poly1305 (measured sending 200 MB on loopback); the rest follow as usual.
AES_GCM = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _prefer_aes_gcm() -> bool:
    """Whether to offer AES-GCM first: the CPU has AES instructions (every x86-64 and arm64 server of the
    last decade; read from /proc/cpuinfo on Linux) and the user's `~/.ssh/config` chooses no ciphers."""
    try:
        config = (Path.home() / ".ssh" / "config").read_text(errors="replace")
    except OSError:
        config = ""
    if re.search(r"^\s*ciphers\b", config, re.IGNORECASE | re.MULTILINE):
        return False
    try:
        cpu = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return True  # not Linux: macOS machines have had AES instructions since 2010
    return bool(re.search(r"^(flags|features)\s*:.*\baes\b", cpu, re.IGNORECASE | re.MULTILINE))


async def connect(target: SSHTarget) -> Any:
    import asyncssh

    conn = _connections.get(target)
    if conn is not None and not conn.is_closed():
        return conn
    options: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S, "keepalive_interval": 15}
    if target.port:
        options["port"] = target.port
    if target.user:
        options["username"] = target.user
    if target.identity_file:
        options["client_keys"] = [str(Path(target.identity_file).expanduser())]
    if target.known_hosts:
        options["known_hosts"] = str(Path(target.known_hosts).expanduser())
    if _prefer_aes_gcm():
        options["encryption_algs"] = "^" + ",".join(AES_GCM)
    try:
        conn = await asyncssh.connect(target.host, **options)
    except (OSError, asyncssh.Error) as exc:
        raise NbliftError(
            f"cannot reach ssh target {target.name!r} ({type(exc).__name__}: {exc})",
            hint="check that `ssh` to it works (host key in known_hosts, key loaded, host up)",
        ) from None
    _connections[target] = conn
    return conn


async def retrying(target: SSHTarget, work: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """`work(connection)`, reconnecting once when the connection dropped (a host still unreachable after
    that is an NbliftError, which followers treat as "try again later")."""
    import asyncssh

    for attempt in (1, 2):
        conn = await connect(target)
        try:
            return await work(conn)
        except (asyncssh.Error, OSError) as exc:
            dropped = _connections.pop(target, None)
            if dropped is not None:
                dropped.abort()
            if attempt == 2:
                raise NbliftError(
                    f"lost the connection to ssh target {target.name!r} ({type(exc).__name__}: {exc})",
                    hint="the run goes on on the host; nblift reconnects at the next look",
                ) from None
    raise AssertionError("unreachable")


async def check_output(conn: Any, command: str, stdin: str | None = None) -> str:
    result = await conn.run(command, input=stdin, check=False)
    if result.exit_status != 0:
        raise NbliftError(
            f"a command on the ssh host failed ({result.exit_status}): {str(result.stderr).strip()[-400:]}",
            hint="see the message; the host needs a POSIX shell, Python 3.11+ and uv",
        )
    return str(result.stdout)


#: Each target's login home, asked once per process (a relative root is under it).
_homes: dict[SSHTarget, str] = {}


async def remote_root(conn: Any, target: SSHTarget) -> str:
    """The target's root folder as an absolute path on the host."""
    if target.root.startswith("/"):
        return target.root
    home = _homes.get(target)
    if home is None:
        home = _homes[target] = (await check_output(conn, 'printf %s "$HOME"')).strip()
    return posixpath.join(home, target.root)
