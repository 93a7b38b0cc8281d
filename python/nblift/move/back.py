"""`%lift move back`: the kernel on the host asks to go home; the provisioner at home brings it home.

In the moved kernel: a snapshot on the host and a request (`moves/back.json` in the session's state folder:
the snapshot id and its manifest's SHA-256). At home, the `nblift-ssh` provisioner reads the request at its
next look and, on the Jupyter server's loop: copies the manifest and the objects home lacks, trusts the
manifest only with that SHA-256, starts a kernel of the notebook's former kind, restores the snapshot in it,
switches the notebook's session to it and stops the kernel on the host.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import posixpath
import shlex
import time
from typing import Any

from ..errors import InvalidInput, NbliftError
from ..project import Project
from .where import MOVED_ENV

REQUEST_FILE = "back.json"
RESTORE_TIMEOUT_S = 600.0
#: How long home waits for the client that asked to switch the session itself (`--no-switch`) before it
#: switches it (a tab closed meanwhile).
CLIENT_SWITCH_S = 60.0


@dataclasses.dataclass
class MoveBackResult:
    snapshot: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def move_back(shell: Any, project: Project, *, switch: bool = True) -> MoveBackResult:
    """Ask home to take this moved kernel's state back (run in the kernel on the host). With `switch=False`
    home restores the state in a kernel there and leaves the session's switch to the caller (JupyterLab's
    Move back does it, the kernel's id from `GET /nblift/api/status?kernel=ID`), switching only if no
    client did within `CLIENT_SWITCH_S`."""
    from ..fsutil import atomic_write
    from ..snapshot import manifest as mf
    from ..snapshot.verbs import snapshotter
    from ..target.kernel_restore import MOVES_DIR

    moved = os.environ.get(MOVED_ENV)
    if not moved:
        raise InvalidInput(
            "this kernel was not moved by nblift: there is no home to go back to",
            hint="`%lift move ssh:NAME` moves a notebook's kernel to a host",
        )
    snap = snapshotter(shell)
    snap.bind(project)
    taken = snap.snapshot("moving back home", background=False)
    manifest = mf.snapshots_dir(project.state_dir) / f"{taken.id}.json"
    request = {
        "snapshot": taken.id,
        "sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
        "at": time.time(),
        "switch": switch,
    }
    atomic_write(project.state_dir / MOVES_DIR / REQUEST_FILE, json.dumps(request).encode())
    then = (
        "the notebook's kernel switches to one at home within seconds"
        if switch
        else "a kernel at home restores it and the notebook's session switches to it"
    )
    return MoveBackResult(
        taken.id, f"moving home: snapshot {taken.id} ({taken.variables} variables) goes back; {then}"
    )


def request_path(state: str) -> str:
    from ..target.kernel_restore import MOVES_DIR

    return posixpath.join(state, MOVES_DIR, REQUEST_FILE)


async def _fetch(target: Any, state: str, project: Project, request: dict[str, Any]) -> str:
    """Copy the requested snapshot's manifest and the objects home lacks; trust it by its SHA-256."""
    from ..backends.ssh_connect import connect
    from ..fsutil import atomic_write
    from ..snapshot import manifest as mf
    from ..store import ObjectStore, hash_file

    sid = mf.check_id(str(request["snapshot"]))
    conn = await connect(target)
    store = ObjectStore(project.ensure_state_dir())
    async with conn.start_sftp_client() as sftp:
        async with sftp.open(posixpath.join(state, "snapshots", f"{sid}.json"), "rb") as fh:
            data = await fh.read()
        if hashlib.sha256(data).hexdigest() != request.get("sha256"):
            raise NbliftError(
                f"snapshot {sid} on {target.name} is not the one the kernel there asked to bring"
            )
        manifest = json.loads(data)
        for oid in sorted(mf.manifest_objects(manifest)):
            if store.has(oid):
                continue
            local = store.path_of(oid)
            local.parent.mkdir(parents=True, exist_ok=True)
            temp = local.with_name(f".{local.name}.part")
            await sftp.get(posixpath.join(state, "objects", oid[:2], oid[2:]), str(temp))
            if hash_file(temp) != oid:  # published only as what its name says it is
                temp.unlink(missing_ok=True)
                raise NbliftError(f"object {oid} from {target.name} is damaged", hint="move back again")
            temp.replace(local)
    atomic_write(mf.snapshots_dir(project.state_dir) / f"{sid}.json", data)
    mf.trust(store, sid)
    return sid


def _text_of(content: dict[str, Any]) -> str:
    """What an output message of the restoring kernel says, as plain text (for the server's log)."""
    data = content.get("data")
    return str(content.get("text") or (data.get("text/plain", "") if isinstance(data, dict) else ""))


async def bring_home(provisioner: Any, request: dict[str, Any]) -> None:
    """The home half of `%lift move back`, on the Jupyter server's loop (see the module docstring)."""
    from jupyter_core.utils import ensure_async
    from jupyter_server.serverapp import ServerApp

    from ..backends.ssh_connect import connect

    target = provisioner._target()
    project = Project.discover(provisioner.project or None)
    state = posixpath.join(provisioner.session_folder, project.settings.state_dir)
    sid = await provisioner._on_ssh(_fetch(target, state, project, request), RESTORE_TIMEOUT_S)
    app = ServerApp.instance()
    sessions, kernels = app.session_manager, app.kernel_manager
    listed = await sessions.list_sessions()
    session = next(s for s in listed if (s.get("kernel") or {}).get("id") == provisioner.kernel_id)
    # a kernel as the session would start it (its folder and JPY_SESSION_NAME), restored before the switch:
    # a cell the notebook runs meanwhile still goes to the kernel on the host
    path = await ensure_async(app.contents_manager.get_kernel_path(path=session["path"]))
    kernel = await kernels.start_kernel(
        kernel_name=provisioner.home_kernel or "python3",
        path=path,
        env=sessions.get_kernel_env(session["path"], session.get("name")),
    )
    client = kernels.get_kernel(kernel).client()
    client.start_channels()
    said: list[str] = []
    try:
        await client.wait_for_ready(timeout=120)
        reply = await client.execute_interactive(
            f"%load_ext nblift\n%lift -C {shlex.quote(str(project.root))} restore {sid}",
            timeout=RESTORE_TIMEOUT_S,
            store_history=False,
            output_hook=lambda m: said.append(_text_of(m["content"])),
        )
    finally:
        client.stop_channels()
    if reply["content"]["status"] != "ok":
        await kernels.shutdown_kernel(kernel)
        raise NbliftError(f"restoring {sid} at home failed: {reply['content'].get('evalue') or said}")
    app.log.info("moving home: %s", " ".join(said).strip()[:500])

    async def done() -> None:
        conn = await connect(target)
        await conn.run(f"rm -f {shlex.quote(request_path(state))}", check=False)

    await provisioner._on_ssh(done())  # the request is consumed: asked again, it is a new move back
    provisioner.home_kernel_id = kernel  # the status names it (the client that switches reads it there)
    if request.get("switch") is False and await _client_switched(sessions, session["id"], kernel):
        return  # the client's switch stopped the kernel on the host
    await sessions.update_session(session["id"], kernel_id=kernel)
    await kernels.shutdown_kernel(provisioner.kernel_id)


async def _client_switched(sessions: Any, session_id: str, kernel: str) -> bool:
    """Whether the client switched the session to `kernel` within `CLIENT_SWITCH_S`."""
    import asyncio

    deadline = time.monotonic() + CLIENT_SWITCH_S
    while time.monotonic() < deadline:
        model = await sessions.get_session(session_id=session_id)
        if (model.get("kernel") or {}).get("id") == kernel:
            return True
        await asyncio.sleep(0.25)
    return False
