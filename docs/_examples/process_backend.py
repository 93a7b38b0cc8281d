"""An example nblift run backend: each run executes in a separate "machine" folder with its own object cache.

It does, on one computer, what a remote backend does across two: copy only the bundle objects the target
lacks, write the run's specification there and start `python -m nblift.target.runner` detached, copy its
events, state and heartbeat back into the local run record, signal its whole process group on cancel, and
copy its outputs back on fetch.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from nblift.backends.base import Backend, RunHandle, RunRequest
from nblift.bundle import read_manifest
from nblift.runs.model import SPEC_FILE
from nblift.store import ObjectStore

# The files of a run folder the runner writes and the local record mirrors.
MIRRORED = ("state.json", "mlflow.json", "heartbeat")


class ProcessBackend(Backend):
    name = "process"

    def __init__(self, project: object = None, root: Path | None = None) -> None:
        super().__init__(project)
        # The "machine": a folder with an object cache and one folder per run.
        self.root = root or Path(
            os.environ.get("NBLIFT_PROCESS_ROOT", Path.home() / ".cache" / "nblift-process")
        )

    def _run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def _upload(self, request: RunRequest) -> int:
        """Copy the bundle's objects the target does not have yet; returns how many were copied."""
        local, remote = ObjectStore(request.store_dir), ObjectStore(self.root / "cache")
        manifest = read_manifest(local, request.bundle_id)
        copied = 0
        for oid in [request.bundle_id, *(entry["oid"] for entry in manifest["files"].values())]:
            if not remote.has(oid):
                remote.put_bytes(local.get_bytes(oid))
                copied += 1
        return copied

    def _submit(self, request: RunRequest) -> RunHandle:
        copied = self._upload(request)
        run_dir = self._run_dir(request.run_id)
        run_dir.mkdir(parents=True)
        (run_dir / SPEC_FILE).write_text(request.spec.dumps())  # the typed RunSpec the runner reads
        with (run_dir / "runner.log").open("wb") as log:
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "nblift.target.runner",
                    str(run_dir),
                    "--store",
                    str(self.root / "cache"),
                ],
                cwd=run_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # detached: its own process group, so cancel reaches every child
            )
        return RunHandle(self.name, request.run_id, str(child.pid), {"uploaded_objects": copied})

    def _alive(self, handle: RunHandle) -> bool:
        try:
            os.kill(int(handle.native_id), 0)
        except ProcessLookupError:
            return False
        with contextlib.suppress(ChildProcessError):  # reap it if it was our child and has exited
            pid, _ = os.waitpid(int(handle.native_id), os.WNOHANG)
            if pid:
                return False
        return True

    def _sync(self, handle: RunHandle, record_dir: Path) -> None:
        run_dir = self._run_dir(handle.run_id)
        events = run_dir / "events.jsonl"
        if events.is_file():  # append only the bytes the record does not have yet
            have = (
                (record_dir / "events.jsonl").stat().st_size if (record_dir / "events.jsonl").exists() else 0
            )
            with events.open("rb") as src, (record_dir / "events.jsonl").open("ab") as dst:
                src.seek(have)
                chunk = src.read()
                dst.write(chunk[: chunk.rfind(b"\n") + 1])  # whole lines only
        for name in MIRRORED:
            if (run_dir / name).is_file():
                shutil.copy2(run_dir / name, record_dir / name)

    def _terminate(self, handle: RunHandle) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(handle.native_id), signal.SIGTERM)  # the runner records CANCELLED, stops its kernel

    def _kill(self, handle: RunHandle) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(handle.native_id), signal.SIGKILL)

    def _reap(self, handle: RunHandle) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(handle.native_id), signal.SIGKILL)

    def _fetch(self, handle: RunHandle, record_dir: Path) -> Path:
        source = self._run_dir(handle.run_id) / "output"
        # symlinks=True copies links as links: nothing is written outside the record.
        shutil.copytree(source, record_dir / "output", symlinks=True, dirs_exist_ok=True)
        return record_dir / "output"
