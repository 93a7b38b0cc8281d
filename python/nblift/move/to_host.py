"""`%lift move ssh:NAME`: take the notebook's live session to an SSH host (see the package docstring)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import posixpath
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
from ..target.kernel_restore import DEVICE_ENV
from .where import MOVED_ENV, PROVISIONER, SPEC_PREFIX

#: How long the new kernel may take to start and restore the snapshot.
START_TIMEOUT_S = 600.0
#: How long the notebook's old kernel waits before the session switches (its cell's reply goes out first).
SWITCH_DELAY_S = 0.2
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
    """Move this kernel's session to the SSH target `target_name` (see the package docstring)."""
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
    # Preflight asks the host (its driver, the APIs in its environment) while the snapshot and the plan are
    # made here: each waits on a different machine.
    with ThreadPoolExecutor(1, thread_name_prefix="nblift-preflight") as pool:
        checking = pool.submit(
            preflight, project, notebook, backend=f"ssh:{target.name}", known_types=known_types
        )
        taken = snap.snapshot(f"moved to ssh:{target.name}", background=False)
        manifest = mf.load(project.state_dir, taken.id)
        bundle = build_bundle(project, notebook)
        mover = _Mover(project, target, notebook, bundle, manifest, lock)
        plan = run_ssh(mover.plan([], _unstorable(manifest)))
        checked = checking.result()
    plan.findings = [dataclasses.asdict(f) for f in checked.findings if f.severity in ("error", "warning")]
    if plan_only:
        return MoveResult(plan, False, "the plan only: nothing was sent")
    if checked.failed and not force:
        return MoveResult(
            plan, False, "preflight found errors against the target: fix them, or move anyway with --force"
        )
    python = run_ssh(mover.send(), ENV_BUILD_TIMEOUT_S)
    spec = f"{SPEC_PREFIX}{target.name}"
    rel = notebook.resolve().relative_to(project.root.resolve())
    cwd = posixpath.join(mover.folder, *rel.parent.parts)
    home_kernel = str((session.get("kernel") or {}).get("name") or "python3")
    env = {
        "PYTHONPATH": mover.runtime,
        "IPYTHONDIR": posixpath.join(mover.folder, ".ipython"),
        "JPY_SESSION_NAME": posixpath.join(mover.folder, *rel.parts),
        "NBLIFT_MOVE_RESTORE": f"{taken.id}:{mover.digest}",
        MOVED_ENV: json.dumps({"target": target.name, "folder": mover.folder, "snapshot": taken.id}),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        **({"CUDA_VISIBLE_DEVICES": gpus} if gpus else {}),
        **({DEVICE_ENV: device} if device else {}),
    }
    config = {
        "target": target.name,
        "project": str(project.root),
        "python": python,
        "cwd": cwd,
        "session_folder": mover.folder,
        "home_kernel": home_kernel,
    }
    write_kernel_spec(spec, f"Python on {target.name} (nblift)", config, env)
    started = _server_call(server, "kernels", "POST", {"name": spec, "path": session.get("path", "")})
    kernel = str(started["id"])
    restored = _wait_for_restore(server, kernel, mover, taken.id)
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
        time.sleep(0.1)


def _switch(server: dict[str, Any], session_id: str, kernel: str) -> None:
    """Switch the session to `kernel` once this cell's reply is out (the server then stops this kernel)."""
    time.sleep(SWITCH_DELAY_S)
    _server_call(server, f"sessions/{session_id}", "PATCH", {"kernel": {"id": kernel}})


class _Mover:
    """The SSH side of a move to a host: what it lacks, then sending it all (on the SSH loop)."""

    def __init__(
        self, project: Project, target: Any, notebook: Path, bundle: Any, manifest: dict[str, Any], lock: Any
    ) -> None:
        from ..snapshot import manifest as mf
        from ..store import ObjectStore

        self.project, self.target, self.notebook, self.bundle, self.lock = (
            project,
            target,
            notebook,
            bundle,
            lock,
        )
        self.manifest = manifest
        self.store = ObjectStore(project.state_dir)
        self.manifest_bytes = (mf.snapshots_dir(project.state_dir) / f"{manifest['id']}.json").read_bytes()
        self.digest = hashlib.sha256(self.manifest_bytes).hexdigest()
        self.oids = sorted({self.bundle.id, *self.bundle.files.values(), *mf.manifest_objects(manifest)})
        self.folder = self.state = self.objects = self.runtime = self.agent = ""
        self.lacking: list[str] = []

    async def _where(self, conn: Any) -> None:
        from ..backends.ssh import send_runtime
        from ..backends.ssh_connect import check_output, remote_root

        root = await remote_root(conn, self.target)
        self.root = root
        self.folder = session_folder(root, self.project, self.notebook)
        self.state = posixpath.join(self.folder, self.project.settings.state_dir)
        self.objects = posixpath.join(self.state, "objects")
        q = shlex.quote
        folders = (posixpath.join(self.objects, "tmp"), posixpath.join(self.state, "snapshots"))
        await check_output(conn, "umask 077; mkdir -p " + " ".join(q(f) for f in folders))
        async with conn.start_sftp_client() as sftp:
            self.runtime = await send_runtime(sftp, root)
        self.agent = posixpath.join(self.runtime, "nblift", "target", "agent.py")

    async def plan(self, findings: list[dict[str, Any]], unstorable: list[dict[str, Any]]) -> MovePlan:
        from ..backends.ssh import env_plan, missing_objects
        from ..backends.ssh_connect import connect

        conn = await connect(self.target)
        await self._where(conn)
        self.lacking = await missing_objects(conn, self.target, self.agent, self.objects, self.oids)
        size = sum(self.store.path_of(oid).stat().st_size for oid in self.lacking)
        self.env = env_plan(
            self.target, self.root, self.objects, self._requirements(), self.lock.index_strategy
        )
        async with conn.start_sftp_client() as sftp:
            ready = await sftp.exists(posixpath.join(self.env["env"], "ready"))
        return MovePlan(
            target=f"ssh:{self.target.name}",
            snapshot=str(self.manifest["id"]),
            objects=len(self.lacking),
            bytes=size,
            unstorable=unstorable,
            findings=findings,
            environment="cached" if ready else "to build",
        )

    def _requirements(self) -> str | None:
        return self.bundle.files.get(self.lock.requirements)

    async def send(self) -> str:
        """Send what the host lacks, build the environment, lay out the project; the environment's python."""
        from ..backends.ssh import send_objects
        from ..backends.ssh_connect import check_output, connect

        q = shlex.quote
        conn = await connect(self.target)
        async with conn.start_sftp_client() as sftp:
            await send_objects(sftp, self.store, self.objects, self.lacking)
            sid = self.manifest["id"]
            async with sftp.open(posixpath.join(self.state, "snapshots", f"{sid}.json"), "wb") as fh:
                await fh.write(self.manifest_bytes)
            plan_file = posixpath.join(self.folder, ".nblift-env.json")
            async with sftp.open(plan_file, "w") as fh:
                await fh.write(json.dumps(self.env))
            startup = posixpath.join(self.folder, ".ipython", "profile_default", "startup")
            await sftp.makedirs(startup, exist_ok=True)
            async with sftp.open(posixpath.join(startup, "00-nblift-move.py"), "w") as fh:
                await fh.write(_STARTUP)
        materialize = (
            "import sys; from pathlib import Path; from nblift.bundle import materialize; "
            "from nblift.store import ObjectStore; "
            "materialize(ObjectStore(Path(sys.argv[1])), sys.argv[2], Path(sys.argv[3]))"
        )
        # one command: the environment (built or found; the agent prints its python), then the project laid
        # out with that python
        out = await check_output(
            conn,
            f"py=$({q(self.target.python)} {q(self.agent)} build {q(plan_file)}) && "
            f'PYTHONPATH={q(self.runtime)} "$py" -c {q(materialize)} '
            f'{q(self.state)} {q(self.bundle.id)} {q(self.folder)} && echo "$py"',
        )
        python = out.strip().splitlines()[-1]
        return python

    async def outcome(self, sid: str) -> dict[str, Any] | None:
        """What the kernel on the host wrote when it restored `sid` (None: nothing yet)."""
        from ..backends.ssh_connect import connect
        from ..target.kernel_restore import MOVES_DIR

        conn = await connect(self.target)
        path = posixpath.join(self.state, MOVES_DIR, f"{sid}.restored.json")
        done = await conn.run(f"cat {shlex.quote(path)}", check=False)
        if done.exit_status != 0:
            return None
        try:
            return dict(json.loads(str(done.stdout)))
        except ValueError:
            return None
