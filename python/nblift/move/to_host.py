"""`%lift move ssh:NAME`: take the notebook's live session to an SSH host (see the package docstring)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import posixpath
import queue
import secrets
import shlex
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NbliftError, NotFound
from ..project import Project
from ..target.kernel_restore import DEVICE_ENV, MOVES_DIR, RESTORE_ENV
from .where import MOVED_ENV, PROVISIONER, SPEC_PREFIX

#: How long the new kernel may take to start and restore the snapshot.
START_TIMEOUT_S = 600.0
#: How long the notebook's old kernel waits before the session switches (its cell's reply goes out first).
SWITCH_DELAY_S = 0.1
_STARTUP = (
    "import nblift.target.kernel_restore as _nblift_restore\n"
    "_nblift_restore.restore_at_start()\ndel _nblift_restore\n"
)


@dataclasses.dataclass
class MovePlan:
    """What a move will do, shown before it does it."""

    target: str
    snapshot: str
    objects: int  # objects the host lacks (the project's files and the snapshot's)
    bytes: int  # their size
    unstorable: list[dict[str, Any]]  # name, reason, cell that made it
    findings: list[dict[str, Any]]  # preflight against the target: errors and warnings
    environment: str  # "cached" on the host, or "to build"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class MoveResult:
    plan: MovePlan
    moved: bool
    message: str
    kernel: str | None = None  # the kernel spec the session switches to
    restore: dict[str, Any] | None = None  # what the kernel on the host restored as it started

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "plan": self.plan.to_json()}


def session_folder(root: str, project: Project, notebook: Path) -> str:
    """The session's copy of the project on the host: one per project and notebook, reused by later moves."""
    key = hashlib.sha256(f"{project.root.resolve()}\n{notebook.resolve()}".encode()).hexdigest()[:16]
    return posixpath.join(root, "sessions", key)


def _server_call(server: dict[str, Any], path: str, method: str = "GET", body: Any = None) -> Any:
    """A call to the Jupyter server's REST API with its token (from its `jpserver-*.json`)."""
    url = str(server["url"]).rstrip("/") + "/api/" + path
    request = urllib.request.Request(  # noqa: S310 - the server's own http(s) address
        url,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"token {server.get('token', '')}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=START_TIMEOUT_S) as reply:  # noqa: S310
            return json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:400]
        raise NbliftError(f"the Jupyter server refused {method} {path}: {exc.code} {detail}") from None


def this_session() -> tuple[dict[str, Any], dict[str, Any]]:
    from ..kernel_session import find_session, kernel_id

    kid = kernel_id()
    found = find_session(kid) if kid else None
    if found is None:
        raise InvalidInput(
            "`%lift move` moves a notebook's kernel that a Jupyter server on this machine runs",
            hint="run it in a notebook in JupyterLab",
        )
    return found


def write_kernel_spec(name: str, display: str, config: dict[str, Any], env: dict[str, str]) -> Path:
    """A kernel spec `name` in this user's Jupyter data folder naming the `nblift-ssh` provisioner."""
    from jupyter_core.paths import jupyter_data_dir

    from ..fsutil import atomic_write, ensure_dir

    folder = ensure_dir(Path(jupyter_data_dir()) / "kernels" / name)
    spec = {
        "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display,
        "language": "python",
        "env": env,
        "metadata": {"kernel_provisioner": {"provisioner_name": PROVISIONER, "config": config}},
    }
    atomic_write(folder / "kernel.json", json.dumps(spec, indent=1).encode())
    return folder


def _unstorable(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": name, "reason": var.get("reason") or "not stored", "cell": var.get("cell")}
        for name, var in sorted(manifest.get("variables", {}).items())
        if var.get("status") == "unstorable"
    ]


def move_to(
    shell: Any,
    project: Project,
    target_name: str,
    *,
    plan_only: bool = False,
    gpus: str | None = None,
    force: bool = False,
    device: str | None = None,
) -> MoveResult:
    """Move this kernel's session to the SSH target `target_name` (see the package docstring).

    The work overlaps where it waits on different machines: preflight and the host's preparation run while
    the snapshot is taken, each object the snapshot writes is sent as soon as it is written, and the kernel on
    the host starts (when the environment is cached there) while the rest is sent; it restores once the
    mover says everything is there."""
    from ..backends.ssh import ENV_BUILD_TIMEOUT_S
    from ..backends.ssh_connect import run_ssh, target_named
    from ..bundle import build_bundle
    from ..environment.api_uses import types_of_values
    from ..environment.lock import read_lock
    from ..environment.preflight import preflight
    from ..kernel_session import kernel_notebook
    from ..snapshot import manifest as mf
    from ..snapshot.namespace import user_variables
    from ..snapshot.verbs import snapshotter

    server, session = this_session()
    notebook = kernel_notebook()
    if notebook is None or not notebook.is_file():
        raise InvalidInput("this kernel's notebook is not saved", hint="save the notebook, then move it")
    try:
        lock = read_lock(project.root)
    except (InvalidInput, NotFound) as exc:
        raise InvalidInput(
            f"a move builds the host's environment from the lock: {exc.message}", hint="run `%lift pin` first"
        ) from None
    target = target_named(project, target_name)
    snap = snapshotter(shell)
    snap.bind(project)
    known_types = types_of_values(user_variables(shell.user_ns))
    bundle = build_bundle(project, notebook)
    mover = _Mover(project, target, notebook, bundle, lock)
    spec = f"{SPEC_PREFIX}{target.name}"
    rel = notebook.resolve().relative_to(project.root.resolve())
    started: list[str] = []  # the kernel started on the host, if any

    def start_kernel(where: dict[str, str]) -> str:
        folder = where["folder"]
        env = {
            "PYTHONPATH": where["runtime"],
            "IPYTHONDIR": posixpath.join(folder, ".ipython"),
            "JPY_SESSION_NAME": posixpath.join(folder, *rel.parts),
            RESTORE_ENV: mover.request_file(folder),
            MOVED_ENV: json.dumps({"target": target.name, "folder": folder}),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            **({"CUDA_VISIBLE_DEVICES": gpus} if gpus else {}),
            **({DEVICE_ENV: device} if device else {}),
        }
        config = {
            "target": target.name,
            "project": str(project.root),
            "python": where["python"],
            "cwd": posixpath.join(folder, *rel.parent.parts),
            "session_folder": folder,
            "home_kernel": str((session.get("kernel") or {}).get("name") or "python3"),
        }
        write_kernel_spec(spec, f"Python on {target.name} (nblift)", config, env)
        body = {"name": spec, "path": session.get("path", "")}
        started.append(str(_server_call(server, "kernels", "POST", body)["id"]))
        return started[-1]

    def start_early() -> None:
        """The kernel on the host starts while the snapshot is taken, as soon as the preparation finds the
        environment cached there."""
        preparing.result()
        if mover.python:
            start_kernel(mover.where())

    def stop_started() -> None:
        while started:  # a kernel that would wait for a request that never comes
            with contextlib.suppress(NbliftError, OSError):
                _server_call(server, f"kernels/{started.pop()}", "DELETE")

    try:
        with ThreadPoolExecutor(3, thread_name_prefix="nblift-move") as pool:
            checking = pool.submit(
                preflight, project, notebook, backend=f"ssh:{target.name}", known_types=known_types
            )
            preparing = pool.submit(run_ssh, mover.prepare())
            starting = None if plan_only else pool.submit(start_early)
            streamer = None if plan_only else _Streamer(mover, preparing)
            try:
                taken = snap.snapshot(
                    f"moved to ssh:{target.name}",
                    background=False,
                    on_object=None if streamer is None else streamer.offer,
                )
            except BaseException:
                if streamer is not None:
                    streamer.finish(report=False)  # the snapshot's own error is the one to tell
                raise
            if streamer is not None:
                streamer.finish()
            preparing.result()
            manifest = mf.load(project.state_dir, taken.id)
            plan = run_ssh(mover.plan(manifest, _unstorable(manifest)))
            checked = checking.result()
            if starting is not None:
                starting.result()
        plan.findings = [
            dataclasses.asdict(f) for f in checked.findings if f.severity in ("error", "warning")
        ]
        if plan_only:
            return MoveResult(plan, False, "the plan only: nothing was sent")
        if checked.failed and not force:
            stop_started()
            return MoveResult(
                plan,
                False,
                "preflight found errors against the target: fix them, or move anyway with --force "
                "(what was sent stays on the host for the next move)",
            )
        mover.python = run_ssh(mover.send(), ENV_BUILD_TIMEOUT_S)
        kernel = started[-1] if started else start_kernel(mover.where())
        restored = _wait_for_restore(server, kernel, mover, taken.id)
    except BaseException:
        stop_started()
        raise
    threading.Thread(
        target=_switch, args=(server, str(session["id"]), kernel), name="nblift-move", daemon=True
    ).start()
    count = len((restored or {}).get("result", {}).get("restored", []))
    message = (
        f"moved to {target.name}: {count} variable(s) restored there; the notebook's kernel switches to "
        f"'Python on {target.name}' now (`%lift move back` brings it home)"
    )
    if restored and restored.get("error"):
        message = f"moved to {target.name}, but restoring there failed: {restored['error']}"
    elif restored and restored.get("warning"):
        message += f" (note: {restored['warning']})"
    return MoveResult(plan, True, message, spec, restored)


def _wait_for_restore(server: dict[str, Any], kernel: str, mover: _Mover, sid: str) -> dict[str, Any]:
    """What the new kernel restored as it started (its startup writes it on the host before it answers)."""
    from ..backends.ssh_connect import run_ssh

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        outcome = run_ssh(mover.outcome(sid))
        if outcome is not None:
            return outcome
        alive = {k.get("id") for k in _server_call(server, "kernels") or []}
        if kernel not in alive or time.monotonic() > deadline:
            raise NbliftError(
                f"the kernel on {mover.target.name} did not start",
                hint=f"see the kernel's log under {mover.root}/kernels on the host",
            )
        time.sleep(0.03)


def _switch(server: dict[str, Any], session_id: str, kernel: str) -> None:
    """Switch the session to `kernel` once this cell's reply is out (the server then stops this kernel)."""
    time.sleep(SWITCH_DELAY_S)
    _server_call(server, f"sessions/{session_id}", "PATCH", {"kernel": {"id": kernel}})


class _Streamer:
    """Sends each object the snapshot writes to the host as soon as it is written (on a thread of its own,
    so the snapshot never waits on the network); `finish` waits for the last one and raises what failed."""

    def __init__(self, mover: _Mover, prepared: Any) -> None:
        self.mover, self.prepared = mover, prepared
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="nblift-move-send", daemon=True)
        self.thread.start()

    def offer(self, oid: str) -> None:
        self.queue.put(oid)

    def _run(self) -> None:
        from ..backends.ssh import ENV_BUILD_TIMEOUT_S
        from ..backends.ssh_connect import run_ssh

        done = False
        while not done:
            batch = [self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            done = None in batch
            oids = [oid for oid in batch if oid is not None]
            if oids and self.error is None:
                try:
                    self.prepared.result()  # the host's folders exist
                    run_ssh(self.mover.send_objects(oids), ENV_BUILD_TIMEOUT_S)
                except BaseException as exc:  # noqa: BLE001 - raised by finish, in the move's thread
                    self.error = exc

    def finish(self, *, report: bool = True) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None and report:
            raise self.error


class _Mover:
    """The SSH side of a move to a host: its folders, the objects it lacks, sending them (on the SSH loop)."""

    def __init__(self, project: Project, target: Any, notebook: Path, bundle: Any, lock: Any) -> None:
        from ..store import ObjectStore

        self.project, self.target, self.notebook, self.bundle, self.lock = (
            project,
            target,
            notebook,
            bundle,
            lock,
        )
        self.store = ObjectStore(project.state_dir)
        self.folder = self.state = self.objects = self.runtime = self.agent = self.root = ""
        self.python = ""  # the environment's python on the host, when it is cached there
        self.env: dict[str, Any] = {}
        self.sent: dict[str, int] = {}  # objects this move sent, with their sizes
        self.lacking: list[str] = []
        self.manifest_bytes = b""
        self.digest = self.sid = ""
        self.token = secrets.token_hex(8)

    def request_file(self, folder: str) -> str:
        """Where the kernel on the host looks for this move's restore request (see `kernel_restore`)."""
        state = posixpath.join(folder, self.project.settings.state_dir)
        return posixpath.join(state, MOVES_DIR, f"{self.token}.request.json")

    def where(self) -> dict[str, str]:
        """What a kernel on the host needs: the environment's python ("" while not built), nblift's runtime
        and the session's folder."""
        return {"python": self.python, "runtime": self.runtime, "folder": self.folder}

    async def prepare(self) -> None:
        """The session's folders on the host, nblift's runtime there, the kernel's startup file, and whether
        the lock's environment is cached there."""
        from ..backends.ssh import env_plan, runtime_folder, send_runtime
        from ..backends.ssh_connect import check_output, connect, remote_root

        conn = await connect(self.target)
        root = await remote_root(conn, self.target)
        self.root = root
        self.folder = session_folder(root, self.project, self.notebook)
        self.state = posixpath.join(self.folder, self.project.settings.state_dir)
        self.objects = posixpath.join(self.state, "objects")
        startup = posixpath.join(self.folder, ".ipython", "profile_default", "startup")
        q = shlex.quote
        folders = (
            posixpath.join(self.objects, "tmp"),
            posixpath.join(self.state, "snapshots"),
            posixpath.join(self.state, MOVES_DIR),
            startup,
        )
        self.env = env_plan(self.target, root, self.objects, self._requirements(), self.lock.index_strategy)
        self.runtime = runtime_folder(root)
        # one command: the folders, the startup file (from stdin), whether the environment and nblift's
        # runtime are there
        env_ready = posixpath.join(self.env["env"], "ready")
        runtime_ready = posixpath.join(self.runtime, "ready")
        said = await check_output(
            conn,
            "umask 077; mkdir -p " + " ".join(q(f) for f in folders) + " && "
            f"cat > {q(posixpath.join(startup, '00-nblift-move.py'))} && "
            f"{{ test -f {q(env_ready)} && echo env; test -f {q(runtime_ready)} && echo runtime; true; }}",
            _STARTUP,
        )
        if "runtime" not in said.split():
            async with conn.start_sftp_client() as sftp:
                self.runtime = await send_runtime(sftp, root)
        if "env" in said.split():
            self.python = posixpath.join(self.env["env"], "bin", "python")
        self.agent = posixpath.join(self.runtime, "nblift", "target", "agent.py")

    def _requirements(self) -> str | None:
        return self.bundle.files.get(self.lock.requirements)

    async def send_objects(self, oids: list[str]) -> None:
        """Send those of `oids` the host lacks (objects are published there by a rename once complete)."""
        from ..backends.ssh import send_objects
        from ..backends.ssh_connect import connect

        conn = await connect(self.target)
        async with conn.start_sftp_client() as sftp:
            wanted = [oid for oid in dict.fromkeys(oids) if oid not in self.sent]
            there = await asyncio.gather(*(sftp.exists(self._remote(oid)) for oid in wanted))
            lacking = [oid for oid, present in zip(wanted, there, strict=True) if not present]
            await send_objects(sftp, self.store, self.objects, lacking)
        self.sent.update({oid: self.store.path_of(oid).stat().st_size for oid in lacking})

    def _remote(self, oid: str) -> str:
        return posixpath.join(self.objects, oid[:2], oid[2:])

    async def plan(self, manifest: dict[str, Any], unstorable: list[dict[str, Any]]) -> MovePlan:
        """What the host still lacks of the snapshot and the project, and what this move sent already."""
        from ..backends.ssh_connect import connect
        from ..snapshot import manifest as mf

        self.sid = str(manifest["id"])
        self.manifest_bytes = (mf.snapshots_dir(self.project.state_dir) / f"{self.sid}.json").read_bytes()
        self.digest = hashlib.sha256(self.manifest_bytes).hexdigest()
        oids = sorted({self.bundle.id, *self.bundle.files.values(), *mf.manifest_objects(manifest)})
        wanted = [oid for oid in oids if oid not in self.sent]
        conn = await connect(self.target)
        async with conn.start_sftp_client() as sftp:
            there = await asyncio.gather(*(sftp.exists(self._remote(oid)) for oid in wanted))
        self.lacking = [oid for oid, present in zip(wanted, there, strict=True) if not present]
        size = sum(self.store.path_of(oid).stat().st_size for oid in self.lacking)
        return MovePlan(
            target=f"ssh:{self.target.name}",
            snapshot=self.sid,
            objects=len(self.lacking) + len(self.sent),
            bytes=size + sum(self.sent.values()),
            unstorable=unstorable,
            findings=[],
            environment="cached" if self.python else "to build",
        )

    async def send(self) -> str:
        """Send what the host still lacks, build the environment (or find it), lay out the project, then say
        that all is there (the kernel there restores once it sees that); the environment's python."""
        from ..backends.ssh_connect import check_output, connect

        q = shlex.quote
        await self.send_objects(self.lacking)
        conn = await connect(self.target)
        plan_file = posixpath.join(self.folder, ".nblift-env.json")
        async with conn.start_sftp_client() as sftp:
            async with sftp.open(posixpath.join(self.state, "snapshots", f"{self.sid}.json"), "wb") as fh:
                await fh.write(self.manifest_bytes)
            async with sftp.open(plan_file, "w") as fh:
                await fh.write(json.dumps(self.env))
        materialize = (
            "import sys; from pathlib import Path; from nblift.bundle import materialize; "
            "from nblift.store import ObjectStore; "
            "materialize(ObjectStore(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3]))"
        )
        request = json.dumps({"snapshot": self.sid, "sha256": self.digest})
        request_file = self.request_file(self.folder)
        build = (
            f"py={q(self.python)}"
            if self.python
            else f"py=$({q(self.target.python)} {q(self.agent)} build {q(plan_file)} < /dev/null)"
        )
        # one command: the environment (found, or built: the agent prints its python), the project laid out
        # with that python, then the request the kernel there waits for (published by a rename)
        out = await check_output(
            conn,
            f"{build} && "
            f'PYTHONPATH={q(self.runtime)} "$py" -c {q(materialize)} '
            f"{q(self.state)} {q(self.bundle.id)} {q(self.folder)} < /dev/null && "
            f"cat > {q(request_file + '.part')} && mv {q(request_file + '.part')} {q(request_file)} && "
            'echo "$py"',
            request,
        )
        return out.strip().splitlines()[-1]

    async def outcome(self, sid: str) -> dict[str, Any] | None:
        """What the kernel on the host wrote when it restored `sid` (None: nothing yet)."""
        from ..backends.ssh_connect import connect

        conn = await connect(self.target)
        path = posixpath.join(self.state, MOVES_DIR, f"{sid}.restored.json")
        done = await conn.run(f"cat {shlex.quote(path)}", check=False)
        if done.exit_status != 0:
            return None
        try:
            return dict(json.loads(str(done.stdout)))
        except ValueError:
            return None
