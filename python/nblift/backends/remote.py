"""What the backends that run elsewhere (ssh, ray) share: following a run folder they can only look at from
afar (new events, state, heartbeat, MLflow info, in one reply per look), importing the MLflow run the runner
recorded there, and nblift's own files sent along as the runtime."""

from __future__ import annotations

import abc
import base64
import contextlib
import json
import os
import posixpath
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import ConfigError, NbliftError
from ..fsutil import atomic_write, file_lock
from ..runs.events import EVENTS_FILE, EventKind, append_event
from ..runs.model import TrackingSpec
from ..runs.records import HEARTBEAT_FILE, MLFLOW_FILE, read_state, update_state, write_json
from .base import Backend, RunHandle, RunState

SYNC_FILE = "remote.json"
#: How long a finished run's sync waits for the remote runner to close its MLflow run.
IMPORT_WAIT_S = 130.0


def _locked(path: Path) -> contextlib.AbstractContextManager[bool]:
    return file_lock(path)


def runtime_files() -> dict[str, bytes]:
    """nblift's own Python files, by path inside the package (what the runner needs on the host)."""
    package = Path(__file__).resolve().parents[1]
    files = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if "labextension" in rel.parts:
            continue
        files[posixpath.join("nblift", *rel.parts)] = path.read_bytes()
    return files


def parse_targets(tables: dict[str, Any], keys: dict[str, type], where: str) -> dict[str, dict[str, Any]]:
    """Each target table's values, checked against `keys` (name -> type); a bad one is a ConfigError."""
    import re

    found = {}
    for name, table in tables.items():
        here = f"{where}.{name}"
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", name):
            raise ConfigError(
                f"{here}: a target name holds letters, digits, '_', '-' and '.'", hint="rename it"
            )
        values: dict[str, Any] = {}
        for key, value in table.items():
            kind = keys.get(key)
            if kind is None:
                known = ", ".join(sorted(keys))
                raise ConfigError(f"{here}: unknown key {key!r}", hint=f"known: {known}")
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)  # TOML writes 3 for 3.0
            if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
                what = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}[kind]
                raise ConfigError(f"{here}: {key} must be {what}", hint=f"fix {key} in the settings")
            values[key] = value
        found[name] = values
    return found


class RemoteBackend(Backend):
    """A backend whose runner writes its run folder somewhere else; `_poll` looks at it."""

    @abc.abstractmethod
    def _poll(self, handle: RunHandle, offset: int) -> dict[str, Any]:
        """The remote run folder now: `state`, `mlflow` (JSON or None), `heartbeat_age` (seconds or None),
        `events` (base64 of whole lines from byte `offset`), `offset` (where to go on), `alive`. Raises
        NbliftError while the place cannot be reached."""

    @abc.abstractmethod
    def _download_tracking(self, handle: RunHandle, local: Path) -> str:
        """Copy the run folder's `tracking` store to `local`; return where it was remotely (as a path)."""

    def remote_tracking(self, run_dir: str) -> TrackingSpec:
        """Where the runner on the host logs: the tracking server, or an embedded store in the run folder
        (imported into the local store when the run ends) that is only used when the notebook logs to MLflow
        itself; otherwise home records the MLflow run from the run folder (`at_home`)."""
        from .. import tracking

        project = self.project
        experiment = tracking.experiment_name(project)
        target = tracking.target_for(project)
        if not target.embedded:
            return TrackingSpec(uri=target.uri, experiment=experiment)
        return TrackingSpec(project=posixpath.join(run_dir, "tracking"), experiment=experiment, at_home=True)

    def _sync(self, handle: RunHandle, record_dir: Path) -> None:
        with _locked(record_dir / "ssh.lock"):  # the server and a waiting client may sync at once
            self._sync_locked(handle, record_dir)

    def _append(self, record_dir: Path, synced: dict[str, Any], reply: dict[str, Any]) -> bool:
        """Append the reply's events to the local record; whether there were any."""
        data = base64.b64decode(reply["events"])
        if data:
            fd = os.open(record_dir / EVENTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        synced["offset"] = reply["offset"]
        return bool(data)

    def _sync_locked(self, handle: RunHandle, record_dir: Path) -> None:
        sync_file = record_dir / SYNC_FILE
        synced: dict[str, Any] = json.loads(sync_file.read_text()) if sync_file.is_file() else {}
        if synced.get("done"):
            return
        try:
            reply = self._poll(handle, int(synced.get("offset", 0)))
        except NbliftError:
            return  # unreachable now; the heartbeat ages and a reconnect later catches up
        more = self._append(record_dir, synced, reply)
        if reply["heartbeat_age"] is not None:
            beat_at = time.time() - float(reply["heartbeat_age"])
            path = record_dir / HEARTBEAT_FILE
            path.touch(mode=0o600)
            os.utime(path, (beat_at, beat_at))
        remote_tracking = bool(handle.details.get("remote_tracking"))
        if reply["mlflow"] and not remote_tracking:
            write_json(record_dir / MLFLOW_FILE, reply["mlflow"])
        state = reply["state"]
        if state and RunState(state.get("state", "PENDING")).terminal:
            # the run ended there: wait for the runner to finish (it closes its MLflow run, then exits; a
            # mirror says `done` once everything is uploaded), taking every event, before the local record
            # says so: nothing syncs a run whose record is final
            deadline = time.monotonic() + IMPORT_WAIT_S
            while True:
                finished = reply.get("done", not reply.get("alive", False))
                if (not more and finished) or time.monotonic() > deadline:
                    break
                if not more:
                    time.sleep(0.1)
                reply = self._poll(handle, int(synced["offset"]))
                more = self._append(record_dir, synced, reply)  # each reply's events appended once
            info = reply["mlflow"] or {}
            if info and not remote_tracking:
                write_json(record_dir / MLFLOW_FILE, info)
            if remote_tracking and info.get("status") not in (None, "RUNNING"):
                synced["mlflow"] = info  # recorded at home by a helper once the record is final
            synced["done"] = True
        if state and state.get("state") and not RunState(read_state(record_dir)["state"]).terminal:
            update_state(record_dir, **state)
        atomic_write(sync_file, json.dumps(synced).encode())
        if synced.get("done") and synced.get("mlflow"):
            from . import record_tracking

            record_tracking.start(self.project.root, record_dir, handle.run_id)

    def record_tracking(self, handle: RunHandle, record_dir: Path) -> None:
        """Record the MLflow run of the finished run in the project's store (once, whoever asks twice):
        from the run folder when the runner left it to home, else imported from the runner's store."""
        with _locked(record_dir / "mlflow.lock"):
            synced = json.loads((record_dir / SYNC_FILE).read_text())
            info = synced.get("mlflow") or {}
            if not info or (record_dir / MLFLOW_FILE).is_file():
                return
            try:
                if info.get("at_home"):
                    self._record_at_home(handle, record_dir, RunState(read_state(record_dir)["state"]))
                else:
                    self._import_tracking(handle, record_dir, info)
            except Exception as exc:  # noqa: BLE001 - tracking trouble is reported, never the run's outcome
                message = f"the MLflow run was not recorded: {type(exc).__name__}: {exc}"
                append_event(record_dir, EventKind.TRACKING_ERROR, message=message)

    def _record_at_home(self, handle: RunHandle, record_dir: Path, state: RunState) -> None:
        """Record the MLflow run in the project's store from the run folder: its outputs are brought back
        first (the executed notebook and artifacts are logged with it)."""
        from ..runs.mlflow_close import record_from_folder

        record_from_folder(record_dir, self.fetch(handle, record_dir), state)

    def _import_tracking(self, handle: RunHandle, record_dir: Path, info: dict[str, Any]) -> None:
        """Copy the run the runner recorded in its embedded store into the project's store."""
        from .. import tracking
        from .mlflow_import import import_run

        with tempfile.TemporaryDirectory(prefix="nblift-import-") as tmp:
            local = Path(tmp) / "tracking"
            remote = self._download_tracking(handle, local)
            new_id, experiment = import_run(local, remote, str(info["run_id"]), self.project)
        target = tracking.target_for(self.project)
        imported = {"run_id": new_id, "experiment_id": experiment, "tracking_uri": target.display_uri}
        write_json(record_dir / MLFLOW_FILE, {**info, **imported, "remote_run_id": info["run_id"]})
