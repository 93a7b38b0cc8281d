"""An example nblift run backend: each run is a local process working in its own copy of the bundle."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nblift.backends.base import Backend, RunEvent, RunHandle, RunState

# Runs the command, then records its exit status next to the work folder.
WRAPPER = '"$@"; echo $? > ../exit'
SUBMISSION_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class ProcessBackend(Backend):
    name = "process"

    def __init__(self, root: Path | None = None, command: list[str] | None = None) -> None:
        self.root = root or Path.home() / ".cache" / "nblift-process"
        # What a run executes inside its copy of the bundle.
        self.command = command or [sys.executable, "main.py"]
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def _folder(self, submission_id: str) -> Path:
        if not SUBMISSION_ID.fullmatch(submission_id):
            raise ValueError(f"unusable submission id {submission_id!r}")
        return self.root / submission_id

    def _submit(self, bundle_dir: Path, parameters: dict[str, Any], submission_id: str) -> RunHandle:
        folder = self._folder(submission_id)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            folder.mkdir()  # atomic: only one submission of this id gets past here
        except FileExistsError:
            return self._handle(submission_id, json.loads((folder / "handle.json").read_text()))
        shutil.copytree(bundle_dir, folder / "work", symlinks=True)
        (folder / "work" / "parameters.json").write_text(json.dumps(parameters))
        with (folder / "log.txt").open("wb") as log:
            child = subprocess.Popen(
                ["/bin/sh", "-c", WRAPPER, "sh", *self.command],
                cwd=folder / "work",
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so cancel reaches every child
            )
        self._children[child.pid] = child
        details = {"pid": child.pid}
        (folder / "handle.json").write_text(json.dumps(details))
        return self._handle(submission_id, details)

    def _handle(self, submission_id: str, details: dict[str, Any]) -> RunHandle:
        return RunHandle(self.name, submission_id, str(details["pid"]), details)

    def _alive(self, pid: int) -> bool:
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    def _poll(self, handle: RunHandle) -> RunState:
        folder = self._folder(handle.submission_id)
        exit_file = folder / "exit"
        code = exit_file.read_text().strip() if exit_file.exists() else None
        if code == "0":
            return RunState.SUCCEEDED
        if (folder / "cancelled").exists():
            return RunState.CANCELLED
        if code is not None:
            return RunState.FAILED
        if self._alive(int(handle.native_id)):
            return RunState.RUNNING
        return RunState.LOST  # the process is gone and never recorded an exit status

    def _stream(self, handle: RunHandle) -> Iterator[RunEvent]:
        with (self._folder(handle.submission_id) / "log.txt").open() as log:
            while True:
                state = self._poll(
                    handle
                )  # read the state first, so no line written before the end is missed
                for line in log:
                    yield RunEvent("log", {"line": line.rstrip("\n")})
                if state.terminal:
                    yield RunEvent("state", {"state": state.value})
                    return
                time.sleep(0.2)

    def _cancel(self, handle: RunHandle, grace_seconds: float) -> RunState:
        state = self._poll(handle)
        if state.terminal:
            return state
        (self._folder(handle.submission_id) / "cancelled").touch()
        pid = int(handle.native_id)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_seconds
            while self._alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if self._alive(pid):
                os.killpg(pid, signal.SIGKILL)
        return self._poll(handle)

    def _fetch(self, handle: RunHandle, destination: Path) -> Path:
        folder = self._folder(handle.submission_id)
        # symlinks=True copies links as links: nothing is written outside `destination`.
        shutil.copytree(folder / "work", destination / "work", symlinks=True, dirs_exist_ok=True)
        shutil.copy2(folder / "log.txt", destination / "log.txt")
        return destination
