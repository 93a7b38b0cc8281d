"""The `ssh` backend: a run on any machine you can SSH into (a rented GPU box, a lab server).

`--backend ssh:NAME` names a target: a table `[tool.nblift.ssh_hosts.NAME]` in the settings, or else a host
alias from `~/.ssh/config`. Host keys are checked against `known_hosts` (never turned off); keys come from
the SSH agent, `~/.ssh` or the target's `identity_file`; nothing secret is put on a command line.

On the host, under `root` (default `~/.nblift-remote`):

    store/objects/   the same content-addressed layout as the local store: only missing objects are sent
    runtime/KEY/     nblift's own Python files (the runner and this backend's agent), by content
    envs/KEY/        a virtual environment built by uv from the bundle's lock plus the runner's packages,
                     cached by their hash: the second run with the same lock starts at once
    runs/ID/         the run folder the runner writes (events, state, heartbeat, outputs)

The runner is started detached (`setsid nohup`), so it survives the client, the Jupyter server or the network
going away; `sync` reads new events, the state and the heartbeat over one round trip and reconnects when the
connection dropped. When the project records to its embedded store, the run records into an embedded store
on the host and is imported into the local one (params, metric histories with their steps and timestamps,
tags, artifacts) once it ends; with a tracking server, the runner logs to the server directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import posixpath
import secrets
import shlex
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..costs.prices import Priced
from ..errors import NbliftError
from ..runs.events import EventKind, append_event
from ..runs.model import SPEC_FILE
from ..runs.records import OUTPUT_DIR
from ..store import ObjectStore, hash_file
from .base import HostFacts, RunHandle, RunRequest, Target
from .remote import RemoteBackend, runtime_files
from .ssh_connect import (
    SSHTarget,
    check_output,
    remote_root,
    retrying,
    run_ssh,
    ssh_targets,
    target_named,
)

if TYPE_CHECKING:
    from ..environment.api_check import Probe

ENV_BUILD_TIMEOUT_S = 3600.0
# -- what is sent -------------------------------------------------------------------------------------------


#: What the runner and its kernel import besides the notebook's own packages.
RUNNER_NEEDS = ("blake3", "cloudpickle", "dill", "ipykernel", "ipywidgets", "mlflow", "nbformat", "papermill")


def _runner_packages() -> list[str]:
    """The runner's packages, pinned at the versions installed here (so the host's uv cache is reused)."""
    pins = []
    for name in RUNNER_NEEDS:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _env_key(target: SSHTarget, locks: list[str], strategy: str | None, extra: Sequence[str] = ()) -> str:
    """The host's environment for the lock's requirements (object ids), the runner's packages and `extra`."""
    return _digest(target.python, locks, _runner_packages(), strategy, *([list(extra)] if extra else []))


#: Run by the host's Python with the index URLs as arguments: `index=URL ok` for one that answers.
_REACH = """
import sys, urllib.error, urllib.request
for url in sys.argv[1:]:
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=%s)
        print("index=" + url + " ok")
    except urllib.error.HTTPError:
        print("index=" + url + " ok")  # it answered (an index may want credentials the host has)
    except Exception as exc:
        print("index=" + url + " " + (type(exc).__name__ + ": " + str(exc))[:300].replace(chr(10), " "))
"""
INDEX_TIMEOUT_S = 4


def _facts_script(target: SSHTarget, indexes: tuple[str, ...] = ()) -> str:
    """A POSIX shell script printing `key=value` lines: the host's Python and uv as configured, a uv outside
    the PATH, free disk space where runs go, the GPU driver, whether the host reaches each of `indexes`."""
    q = shlex.quote
    version = "import sys; print('.'.join(map(str, sys.version_info[:3])))"
    reach = " ".join(q(u) for u in indexes)
    return "; ".join(
        [
            'cd "$HOME" 2>/dev/null',
            f"py=$(command -v {q(target.python)} 2>/dev/null)",
            f'[ -n "$py" ] && echo "python=$("$py" -c {q(version)} 2>/dev/null)"',
            f"uvp=$(command -v {q(target.uv)} 2>/dev/null)",
            '[ -n "$uvp" ] && echo "uv=$("$uvp" --version 2>/dev/null | head -n 1)"',
            'for c in "$HOME/.local/bin/uv" "$HOME/.cargo/bin/uv"; do '
            '[ -x "$c" ] && { echo "uv_elsewhere=$c"; break; }; done',
            f'd={q(target.root)}; while [ ! -d "$d" ]; do d=$(dirname "$d"); done',
            'echo "disk_free_kb=$(df -Pk "$d" 2>/dev/null | awk \'NR==2 {print $4}\')"',
            'echo "driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null'
            ' | head -n 1)"',
            *([f'[ -n "$py" ] && "$py" -c {q(_REACH % INDEX_TIMEOUT_S)} {reach}'] if indexes else []),
            "true",
        ]
    )


def _parse_facts(out: str, target: SSHTarget) -> HostFacts:
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    reached = dict(
        line.removeprefix("index=").split(" ", 1) for line in out.splitlines() if line.startswith("index=")
    )
    free = values.get("disk_free_kb", "").strip()
    return HostFacts(
        python_command=target.python,
        python=values.get("python", "").strip() or None,
        uv_command=target.uv,
        uv=values.get("uv", "").strip() or None,
        uv_elsewhere=values.get("uv_elsewhere", "").strip() or None,
        disk_free=int(free) * 1024 if free.isdigit() else None,
        driver=values.get("driver", "").strip() or None,
        indexes=reached,
    )


async def missing_objects(
    conn: Any, target: SSHTarget, agent: str, objects: str, oids: list[str]
) -> list[str]:
    """The objects among `oids` the host's store folder `objects` lacks (each once)."""
    q = shlex.quote
    asked = f"{q(target.python)} {q(agent)} missing {q(objects)}"
    return list(dict.fromkeys((await check_output(conn, asked, "\n".join(oids))).split()))


async def send_objects(sftp: Any, store: ObjectStore, objects: str, oids: list[str]) -> int:
    """Copy `oids` from the local store into the host's store folder `objects` (each published by a rename
    once complete); the bytes sent."""
    sent = 0
    for oid in oids:
        folder = posixpath.join(objects, oid[:2])
        await sftp.makedirs(posixpath.join(objects, "tmp"), exist_ok=True)
        await sftp.makedirs(folder, exist_ok=True)
        temp = posixpath.join(objects, "tmp", f"{oid}.{secrets.token_hex(4)}")
        await sftp.put(str(store.path_of(oid)), temp)
        await sftp.posix_rename(temp, posixpath.join(folder, oid[2:]))
        sent += store.path_of(oid).stat().st_size
    return sent


def runtime_folder(root: str, files: dict[str, bytes] | None = None) -> str:
    """Where nblift's own Python files live on the host: `root/runtime/KEY`, KEY their content's digest."""
    files = runtime_files() if files is None else files
    return posixpath.join(
        root, "runtime", _digest(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items()))
    )


async def send_runtime(sftp: Any, root: str) -> str:
    """nblift's own Python files on the host under `root/runtime/KEY` (sent once per content); the folder."""
    files = runtime_files()
    runtime = runtime_folder(root, files)
    if await sftp.exists(posixpath.join(runtime, "ready")):
        return runtime
    for rel, data in files.items():
        path = posixpath.join(runtime, rel)
        await sftp.makedirs(posixpath.dirname(path), exist_ok=True)
        async with sftp.open(path, "wb") as fh:
            await fh.write(data)
    async with sftp.open(posixpath.join(runtime, "ready"), "w") as fh:
        await fh.write(str(time.time()))
    return runtime


def env_plan(
    target: SSHTarget,
    root: str,
    objects: str,
    requirements: str | None,
    strategy: str | None,
    extra: Sequence[str] = (),
) -> dict[str, Any]:
    """How the agent builds the environment for a lock's hashed `requirements` (an object id in the host's
    store folder `objects`): installed with the index strategy it was resolved with, plus the runner's
    packages and `extra` (dvc-data when the run fetches DVC inputs from the DVC remote); cached on the host
    under `root/envs/KEY`."""
    locks = [requirements] if requirements else []
    return {
        "env": posixpath.join(root, "envs", _env_key(target, locks, strategy, extra)),
        "python": target.python,
        "uv": target.uv,
        "offline": target.offline,
        "requirements": [posixpath.join(objects, oid[:2], oid[2:]) for oid in locks],
        "index_strategy": strategy,
        "packages": [*_runner_packages(), *extra],
    }


class SSHBackend(RemoteBackend):
    name = "ssh"
    cancel_poll_s = 0.3
    target_table = "ssh_hosts"

    @classmethod
    def targets(cls, project: Any) -> list[Target]:
        if not project.settings.ssh_hosts:
            return []
        return [Target(f"{cls.name}:{n}", t.gpus or "all") for n, t in ssh_targets(project).items()]

    def __init__(self, project: Any = None, target: str | None = None) -> None:
        super().__init__(project)
        self.target_name = target or ""
        self._polled: dict[str, tuple[float, dict[str, Any]]] = {}

    def _target(self, handle: RunHandle | None = None) -> SSHTarget:
        name = str(handle.details["target"]) if handle is not None else self.target_name
        return target_named(self.project, name)

    def price(self) -> tuple[Priced, str]:
        return self._target(), f"ssh_hosts.{self.target_name}"

    def _gpu_driver(self) -> str | None:
        return self._host_facts(()).driver

    def _host_facts(self, indexes: tuple[str, ...]) -> HostFacts:
        target = self._target()
        asked = () if target.offline else indexes  # an offline host installs from its cache
        out = run_ssh(retrying(target, lambda conn: check_output(conn, _facts_script(target, asked))))
        return _parse_facts(out, target)

    def environment_probe(self, requirements: Path, index_strategy: str | None) -> Probe:
        target = self._target()
        key = _env_key(target, [hash_file(requirements)], index_strategy)

        def probe(checks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
            from ..environment.api_check import ProbeFailed

            try:
                return run_ssh(retrying(target, lambda conn: self._probe_on(conn, target, key, checks)))
            except NbliftError as exc:
                raise ProbeFailed(f"ssh:{target.name}: {exc.message}", exc.hint or "") from None

        return probe

    async def _probe_on(
        self, conn: Any, target: SSHTarget, key: str, checks: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        from ..environment.api_check import PROBE_ENVIRON, ProbeFailed, probe_answer

        q = shlex.quote
        root = await remote_root(conn, target)
        env = posixpath.join(root, "envs", key)
        async with conn.start_sftp_client() as sftp:
            if not await sftp.exists(posixpath.join(env, "ready")):
                raise ProbeFailed(
                    f"ssh:{target.name} has no environment for this lock yet",
                    "the first run there builds it (then preflight checks the APIs in it); or pass "
                    "`--target-python` with the python of an environment built from the lock here",
                )
            await check_output(conn, f"mkdir -p {q(root)}/runtime")
            runtime = await send_runtime(sftp, root)
        environ = " ".join(f"{k}={q(v)}" for k, v in PROBE_ENVIRON.items())
        probe = posixpath.join(runtime, "nblift", "target", "api_probe.py")
        done = await conn.run(
            f"cd / && env -u PYTHONPATH {environ} {q(env)}/bin/python {q(probe)}",
            input=json.dumps(list(checks)),
            check=False,
        )
        return probe_answer(f"ssh:{target.name}", str(done.stdout), str(done.stderr), done.exit_status)

    # -- submit --------------------------------------------------------------------------------------------

    def _submit(self, request: RunRequest) -> RunHandle:
        target = self._target()
        return run_ssh(
            retrying(target, lambda conn: self._submit_on(conn, target, request)), ENV_BUILD_TIMEOUT_S
        )

    async def _submit_on(self, conn: Any, target: SSHTarget, request: RunRequest) -> RunHandle:
        from ..bundle import read_manifest
        from ..data import dvc_remote
        from ..data.sending import stage
        from ..environment.lock import lock_in_bundle

        q = shlex.quote
        root = await remote_root(conn, target)
        run_dir = posixpath.join(root, "runs", request.run_id)
        store_dir = posixpath.join(root, "store")
        objects = posixpath.join(store_dir, "objects")
        folders = [
            posixpath.join(objects, "tmp"),
            f"{run_dir}/tracking/.nblift",
            f"{root}/envs",
            f"{root}/runtime",
        ]
        await check_output(conn, "mkdir -p " + " ".join(q(f) for f in folders))
        async with conn.start_sftp_client() as sftp:
            runtime = await send_runtime(sftp, root)
            agent = posixpath.join(runtime, "nblift", "target", "agent.py")
            store = ObjectStore(request.store_dir)
            manifest = read_manifest(store, request.bundle_id)
            wanted = [request.bundle_id, *(str(e["oid"]) for e in manifest.get("files", {}).values())]
            # DVC inputs come from the DVC remote when the host can fetch them there (`dvc_remote`); other
            # data inputs the bundle does not carry go through the store too: only what the host lacks
            dvc = dvc_remote.plan(self.project.root, request.spec.data, manifest["files"])
            dvc = await dvc_remote.confirm(conn, dvc, target.python, target.uv, target.offline)
            staged = stage(request.spec, self.project.root, request.store_dir, store, manifest["files"], dvc)
            lacking = await missing_objects(conn, target, agent, objects, [*wanted, *staged.objects])
            sent = await send_objects(sftp, store, objects, lacking)
            append_event(
                request.record_dir,
                EventKind.BUNDLE_SENT,
                target=target.name,
                objects=len(lacking),
                bytes=sent,
                **staged.event_fields(),
            )
            lock, requirements = lock_in_bundle(store, manifest)
            strategy = lock.index_strategy if lock else None
            remote_spec = staged.spec.with_tracking(self.remote_tracking(run_dir))
            environ = {"MLFLOW_DISABLE_TELEMETRY": "true"}
            if target.gpus:
                environ["CUDA_VISIBLE_DEVICES"] = target.gpus
            plan = {
                **env_plan(target, root, objects, requirements, strategy, staged.packages),
                "runtime": runtime,
                "store": store_dir,
                "environ": environ,
            }
            env_key = posixpath.basename(plan["env"])
            for name, text in ((SPEC_FILE, remote_spec.dumps()), ("launch.json", json.dumps(plan))):
                async with sftp.open(posixpath.join(run_dir, name), "w") as fh:
                    await fh.write(text)
            cached = await sftp.exists(posixpath.join(plan["env"], "ready"))
        append_event(
            request.record_dir,
            EventKind.ENV_READY if cached else EventKind.ENV_BUILDING,
            target=target.name,
            key=env_key,
        )
        started = await check_output(
            conn,
            # only the agent goes to the background (`a && b &` would keep the channel open until b ends)
            f"cd {q(run_dir)} || exit 1; setsid nohup {q(target.python)} {q(agent)} launch {q(run_dir)} "
            ">> runner.log 2>&1 < /dev/null & echo $!",
        )
        pid = int(started.strip().splitlines()[-1])
        start = (await check_output(conn, f"{q(target.python)} {q(agent)} start {pid}")).strip()
        details = {
            "target": target.name,
            "root": root,
            "run_dir": run_dir,
            "agent": agent,
            "python": target.python,
            "pid": pid,
            "start": None if start == "None" else int(start),
            "record": str(request.record_dir),
            "remote_tracking": remote_spec.tracking.project is not None,
        }
        return RunHandle(f"{self.name}:{target.name}", request.run_id, str(pid), details)

    # -- follow --------------------------------------------------------------------------------------------

    def _poll(self, handle: RunHandle, offset: int) -> dict[str, Any]:
        q = shlex.quote
        d = handle.details
        command = (
            f"{q(d['python'])} {q(d['agent'])} poll {q(d['run_dir'])} {int(offset)} {int(d['pid'])} "
            f"{q(str(d.get('start')))}"
        )
        target = self._target(handle)
        out = run_ssh(retrying(target, lambda conn: check_output(conn, command)))
        reply: dict[str, Any] = json.loads(out)
        self._polled[handle.run_id] = (time.monotonic(), reply)
        return reply

    def _alive(self, handle: RunHandle) -> bool | None:
        seen = self._polled.get(handle.run_id)
        if seen is None or time.monotonic() - seen[0] > 1.0:
            try:
                self._poll(handle, 1 << 62)
            except NbliftError:
                return None  # the host cannot be reached: the heartbeat decides
            seen = self._polled[handle.run_id]
        return bool(seen[1]["alive"])

    # -- stop ----------------------------------------------------------------------------------------------

    def _signal(self, handle: RunHandle, name: str) -> None:
        q = shlex.quote
        d = handle.details
        command = f"{q(d['python'])} {q(d['agent'])} signal {int(d['pid'])} {name}"
        run_ssh(retrying(self._target(handle), lambda conn: check_output(conn, command)))

    def _terminate(self, handle: RunHandle) -> None:
        self._signal(handle, "SIGTERM")

    def _kill(self, handle: RunHandle) -> None:
        self._signal(handle, "SIGKILL")

    def _reap(self, handle: RunHandle) -> None:
        with contextlib.suppress(NbliftError):
            self._signal(handle, "SIGKILL")

    # -- results -------------------------------------------------------------------------------------------

    async def _download(self, conn: Any, remote: str, local: Path) -> bool:
        async with conn.start_sftp_client() as sftp:
            if not await sftp.exists(remote):
                return False
            await sftp.get(remote, str(local), recurse=True, preserve=True)
            return True

    def _fetch(self, handle: RunHandle, record_dir: Path) -> Path:
        output = record_dir / OUTPUT_DIR
        remote = posixpath.join(handle.details["run_dir"], OUTPUT_DIR)
        with tempfile.TemporaryDirectory(dir=record_dir) as tmp:
            landed = Path(tmp) / OUTPUT_DIR
            got = run_ssh(
                retrying(self._target(handle), lambda conn: self._download(conn, remote, landed)), 600
            )
            if got:
                shutil.rmtree(output, ignore_errors=True)
                landed.rename(output)
        return output

    def _download_tracking(self, handle: RunHandle, local: Path) -> str:
        remote = posixpath.join(handle.details["run_dir"], "tracking")
        run_ssh(retrying(self._target(handle), lambda conn: self._download(conn, remote, local)), 600)
        return remote
