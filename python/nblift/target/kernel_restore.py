"""Run in a moved kernel as it starts (an IPython startup file on the host): restore the snapshot it was moved
with, once.

The kernel is started while the mover is still snapshotting and sending: its spec sets `NBLIFT_MOVE_RESTORE`
to the path of a request file the mover writes (by a rename) once the snapshot's manifest and objects are in
the state folder of the session's project copy on the host and the project is laid out there:
`{"snapshot": SID, "sha256": SHA-256 of the manifest}`. The kernel waits for it. The manifest was signed at
home with a key the host does not have, so it is trusted here only when its bytes have the SHA-256 the mover
wrote on its own channel; it is then signed with the host's key and restored like any snapshot. What happened
is written beside it (`moves/SID.restored.json`) for the mover to report, and a restart of the kernel starts
fresh instead of restoring again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

#: The request file the mover writes once everything the restore reads is on the host.
RESTORE_ENV = "NBLIFT_MOVE_RESTORE"
#: How long the kernel waits for it before it starts without the moved state (and says why).
REQUEST_TIMEOUT_S = 600.0
#: `%lift move --device cuda`: where torch tensors and modules go.
DEVICE_ENV = "NBLIFT_MOVE_DEVICE"
MOVES_DIR = "moves"


def outcome_file(state_dir: Path, sid: str) -> Path:
    return state_dir / MOVES_DIR / f"{sid}.restored.json"


def _usable(device: str | None) -> tuple[str | None, str]:
    """The device to restore onto, and a warning when the one asked for is not there (then the cpu)."""
    if not device or not device.startswith("cuda"):
        return device, ""
    try:
        import torch
    except ImportError:
        return None, ""  # no torch in the host's environment: the snapshot holds no tensors to place
    if torch.cuda.is_available():
        return device, ""
    return "cpu", f"--device {device}: torch on the host sees no CUDA device, so tensors are on the cpu"


def _wait_for(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _note_snapshot(sid: str) -> None:
    """Tell `%lift status` in this kernel which snapshot it was moved with."""
    from ..move.where import MOVED_ENV

    try:
        moved = json.loads(os.environ.get(MOVED_ENV) or "{}")
    except ValueError:
        return
    if isinstance(moved, dict):
        os.environ[MOVED_ENV] = json.dumps({**moved, "snapshot": sid})


def restore_at_start() -> None:
    request_file = os.environ.pop(RESTORE_ENV, "")
    device = os.environ.pop(DEVICE_ENV, "") or None
    if not request_file:
        return
    if not _wait_for(Path(request_file), REQUEST_TIMEOUT_S):
        print(f"nblift: the move never finished ({request_file} missing): nothing restored", file=sys.stderr)
        return
    try:
        request = json.loads(Path(request_file).read_text(encoding="utf-8"))
        sid, digest = str(request["snapshot"]), str(request["sha256"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(
            f"nblift: the move's request {request_file} is unreadable ({exc}): nothing restored",
            file=sys.stderr,
        )
        return
    _note_snapshot(sid)
    from ..fsutil import atomic_write
    from ..project import Project
    from ..snapshot import manifest as mf
    from ..store import ObjectStore

    project = Project.discover(Path.cwd())
    done = outcome_file(project.state_dir, sid)
    if done.exists():
        return  # a restart: the moved state was restored once already
    outcome: dict[str, object] = {"id": sid, "at": time.time()}
    try:
        path = mf.snapshots_dir(project.state_dir) / f"{sid}.json"
        if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            raise ValueError("the snapshot's manifest is not the one that was sent (its SHA-256 differs)")
        mf.trust(ObjectStore(project.state_dir), sid)
        shell = get_ipython()  # type: ignore[name-defined] # noqa: F821 - an IPython startup file
        shell.run_line_magic("load_ext", "nblift")
        from ..snapshot.verbs import snapshotter

        snap = snapshotter(shell)
        snap.bind(project)
        device, outcome["warning"] = _usable(device)
        outcome["result"] = snap.restore(sid, device=device).to_json()
    except Exception as exc:  # noqa: BLE001 - reported to the mover, never a kernel that does not start
        outcome["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
    done.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(done, json.dumps(outcome).encode())
