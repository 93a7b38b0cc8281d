"""The SSH side of a move to a host (`to_host.move_to` drives it): the host prepared in one command, the
snapshot's objects streamed as they are written, what the host still lacks sent with the manifest, the
project laid out and the environment found (or built), then the request the kernel there restores from."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import posixpath
import queue
import secrets
import shlex
import threading
from pathlib import Path
from typing import Any

from ..project import Project
from ..target.kernel_restore import MOVES_DIR

#: How often a wait on the host looks for the restored kernel's outcome file.
OUTCOME_STEP_S = 0.02

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


def session_folder(root: str, project: Project, notebook: Path) -> str:
    """The session's copy of the project on the host: one per project and notebook, reused by later moves."""
    key = hashlib.sha256(f"{project.root.resolve()}\n{notebook.resolve()}".encode()).hexdigest()[:16]
    return posixpath.join(root, "sessions", key)


class Streamer:
    """Sends each object the snapshot writes to the host as soon as it is written (on a thread of its own,
    so the snapshot never waits on the network); `finish` waits for the last one and raises what failed."""

    def __init__(self, mover: Mover, prepared: Any) -> None:
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


class Mover:
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
        self.laid_out = False  # the project's files are laid out in the session folder (`lay_out`)
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

    def _materialize(self) -> str:
        """The shell words that lay out the project's files in the session folder with the python in `$py`."""
        q = shlex.quote
        code = (
            "import sys; from pathlib import Path; from nblift.bundle import materialize; "
            "from nblift.store import ObjectStore; "
            "materialize(ObjectStore(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3]))"
        )
        return (
            f'PYTHONPATH={q(self.runtime)} "$py" -c {q(code)} '
            f"{q(self.state)} {q(self.bundle.id)} {q(self.folder)} < /dev/null"
        )

    async def lay_out(self) -> None:
        """Send the project's files and lay them out in the session folder with the cached environment's
        python, while the snapshot is taken (`send` then only adds the snapshot and the request)."""
        from ..backends.ssh_connect import check_output, connect

        await self.send_objects(sorted({self.bundle.id, *self.bundle.files.values()}))
        conn = await connect(self.target)
        await check_output(conn, f"py={shlex.quote(self.python)} && {self._materialize()}")
        self.laid_out = True

    async def send(self) -> str:
        """Send what the host still lacks, build the environment (or find it), lay out the project (unless
        `lay_out` did), then say that all is there (the kernel there restores once it sees that); the
        environment's python."""
        from ..backends.ssh_connect import check_output, connect

        q = shlex.quote
        await self.send_objects(self.lacking)
        conn = await connect(self.target)
        plan_file = posixpath.join(self.folder, ".nblift-env.json")
        async with conn.start_sftp_client() as sftp:
            async with sftp.open(posixpath.join(self.state, "snapshots", f"{self.sid}.json"), "wb") as fh:
                await fh.write(self.manifest_bytes)
            if not self.laid_out:
                async with sftp.open(plan_file, "w") as fh:
                    await fh.write(json.dumps(self.env))
        request = json.dumps({"snapshot": self.sid, "sha256": self.digest})
        request_file = self.request_file(self.folder)
        if self.laid_out:
            build = f"py={q(self.python)}"
        else:
            build = (
                f"py={q(self.python)}"
                if self.python
                else f"py=$({q(self.target.python)} {q(self.agent)} build {q(plan_file)} < /dev/null)"
            )
            build += f" && {self._materialize()}"
        # one command: the environment (found, or built: the agent prints its python), the project laid out
        # with that python, then the request the kernel there waits for (published by a rename)
        out = await check_output(
            conn,
            f"{build} && "
            f"cat > {q(request_file + '.part')} && mv {q(request_file + '.part')} {q(request_file)} && "
            'echo "$py"',
            request,
        )
        return out.strip().splitlines()[-1]

    async def outcome(self, sid: str, wait_s: float = 0.0) -> dict[str, Any] | None:
        """What the kernel on the host wrote when it restored `sid`, waiting on the host up to `wait_s` for
        it (None: nothing yet)."""
        from ..backends.ssh_connect import connect

        conn = await connect(self.target)
        path = shlex.quote(posixpath.join(self.state, MOVES_DIR, f"{sid}.restored.json"))
        rounds = max(0, int(wait_s / OUTCOME_STEP_S))
        done = await conn.run(
            f"i=0; while ! test -f {path}; do i=$((i+1)); test $i -gt {rounds} && exit 3; "
            f"sleep {OUTCOME_STEP_S}; done; cat {path}",
            check=False,
        )
        if done.exit_status != 0:
            return None
        try:
            return dict(json.loads(str(done.stdout)))
        except ValueError:
            return None
