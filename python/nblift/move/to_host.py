"""`%lift move ssh:NAME`: take the notebook's live session to an SSH host (see the package docstring)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import posixpath
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NbliftError, NotFound
from ..project import Project
from ..target.kernel_restore import DEVICE_ENV, RESTORE_ENV
from .host_side import MovePlan, Mover, Streamer
from .where import MOVED_ENV, PROVISIONER, SPEC_PREFIX

#: How long the new kernel may take to start and restore the snapshot.
START_TIMEOUT_S = 600.0
#: How long one wait on the host for the restored kernel's outcome lasts before the kernel is looked at again.
OUTCOME_WAIT_S = 1.0
#: How long the notebook's old kernel waits before the session switches (its cell's reply goes out first).
SWITCH_DELAY_S = 0.1


@dataclasses.dataclass
class MoveResult:
    plan: MovePlan
    moved: bool
    message: str
    kernel: str | None = None  # the kernel spec the session switches to
    restore: dict[str, Any] | None = None  # what the kernel on the host restored as it started
    kernel_id: str | None = None  # the Jupyter server's id of the kernel on the host

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "plan": self.plan.to_json()}


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
    switch: bool = True,
) -> MoveResult:
    """Move this kernel's session to the SSH target `target_name` (see the package docstring).

    The work overlaps where it waits on different machines: preflight and the host's preparation run while
    the snapshot is taken, each object the snapshot writes is sent as soon as it is written, and the kernel on
    the host starts (when the environment is cached there) while the rest is sent; it restores once the
    mover says everything is there. With `switch=False` the caller switches the notebook's session to the
    kernel on the host (JupyterLab's Move to… does, so that the tab itself follows the change)."""
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
    mover = Mover(project, target, notebook, bundle, lock)
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

    def lay_out_early() -> None:
        """The project's files sent and laid out on the host while the snapshot is taken, as soon as the
        preparation finds the environment cached there."""
        preparing.result()
        if mover.python:
            run_ssh(mover.lay_out(), ENV_BUILD_TIMEOUT_S)

    def stop_started() -> None:
        while started:  # a kernel that would wait for a request that never comes
            with contextlib.suppress(NbliftError, OSError):
                _server_call(server, f"kernels/{started.pop()}", "DELETE")

    try:
        with ThreadPoolExecutor(4, thread_name_prefix="nblift-move") as pool:
            checking = pool.submit(
                preflight, project, notebook, backend=f"ssh:{target.name}", known_types=known_types
            )
            preparing = pool.submit(run_ssh, mover.prepare())
            starting = None if plan_only else pool.submit(start_early)
            laying = None if plan_only else pool.submit(lay_out_early)
            streamer = None if plan_only else Streamer(mover, preparing)
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
            if laying is not None:
                laying.result()  # the plan then counts what the host has of the project's files
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
    count = len((restored or {}).get("result", {}).get("restored", []))
    if switch:
        threading.Thread(
            target=_switch, args=(server, str(session["id"]), kernel), name="nblift-move", daemon=True
        ).start()
        message = (
            f"moved to {target.name}: {count} variable(s) restored there; the notebook's kernel switches to "
            f"'Python on {target.name}' now (`%lift move back` brings it home)"
        )
    else:
        message = (
            f"moved to {target.name}: {count} variable(s) restored there, in kernel {kernel} "
            f"('Python on {target.name}'), which the notebook's session switches to (`%lift move back` "
            "brings it home)"
        )
    if restored and restored.get("error"):
        message = f"moved to {target.name}, but restoring there failed: {restored['error']}"
    elif restored and restored.get("warning"):
        message += f" (note: {restored['warning']})"
    return MoveResult(plan, True, message, spec, restored, kernel)


def _wait_for_restore(server: dict[str, Any], kernel: str, mover: Mover, sid: str) -> dict[str, Any]:
    """What the new kernel restored as it started (its startup writes it on the host before it answers)."""
    from ..backends.ssh_connect import run_ssh

    deadline = time.monotonic() + START_TIMEOUT_S
    while True:  # waits on the host (seen at once), a second at a time: the kernel may have died meanwhile
        outcome = run_ssh(mover.outcome(sid, wait_s=OUTCOME_WAIT_S))
        if outcome is not None:
            return outcome
        alive = {k.get("id") for k in _server_call(server, "kernels") or []}
        if kernel not in alive or time.monotonic() > deadline:
            raise NbliftError(
                f"the kernel on {mover.target.name} did not start",
                hint=f"see the kernel's log under {mover.root}/kernels on the host",
            )


def _switch(server: dict[str, Any], session_id: str, kernel: str) -> None:
    """Switch the session to `kernel` once this cell's reply is out (the server then stops this kernel)."""
    time.sleep(SWITCH_DELAY_S)
    _server_call(server, f"sessions/{session_id}", "PATCH", {"kernel": {"id": kernel}})
