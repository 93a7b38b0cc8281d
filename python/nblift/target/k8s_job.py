"""What a pod of an nblift Job runs, once the bootstrap (nblift.backends.k8s_manifest) fetched this runtime:
`main(HOME)` in the pod's scratch folder.

It brings the bundle's objects (by content hash) and the run folder from the bucket, then runs the runner
and mirrors the run folder back as a Ray job does (nblift.target.ray_job). A pod that Kubernetes retries
(after an eviction or a lost node) finds what the last pod left there: the events so far and the kernel
checkpoint, from which the runner resumes.

SIGTERM means one of two things. After the client wrote the `cancel` marker (nblift cancel deletes the Job)
it is passed on as SIGTERM: the run ends CANCELLED. Otherwise the pod is being evicted or its node is going
away: the runner is asked (SIGUSR1) to checkpoint the kernel after the cell that is running and stop; the
checkpoint goes to the bucket and the pod exits with PREEMPTED so that the Job runs another one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from ..runs.events import EVENTS_FILE, EventKind
from ..runs.model import RunSpec, RunState
from .checkpoint import CHECKPOINT_DIR, KEY_FILE, PREEMPTED_EXIT
from .ray_job import Mirror, prepare_run, run_mirrored, upload_results

#: The pod's exit status when the runner recorded a terminal state other than SUCCEEDED: the Job's
#: podFailurePolicy fails the Job at once (nblift.backends.k8s_manifest.NOTEBOOK_ERROR_EXIT).
FINISHED_UNSUCCESSFUL = 42
#: How often the pod's log is given the run's new events.
ECHO_S = 0.2
RUN_FILES = ("request.json", "events.jsonl", "state.json", "mlflow.json")


def _download_tree(mirror: Mirror, under: str, local: Path) -> None:
    prefix = mirror.key(under) + "/"
    for page in mirror.s3.get_paginator("list_objects_v2").paginate(Bucket=mirror.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            path = (local / item["Key"][len(prefix) :]).resolve()
            if path.is_relative_to(local.resolve()):
                path.parent.mkdir(parents=True, exist_ok=True)
                mirror.s3.download_file(mirror.bucket, item["Key"], str(path))


def _get(mirror: Mirror, key: str) -> bytes | None:
    try:
        data: bytes = mirror.s3.get_object(Bucket=mirror.bucket, Key=key)["Body"].read()
    except Exception:  # noqa: BLE001 - absent: a first pod
        return None
    return data


def fetch_inputs(mirror: Mirror, home: Path, objects: str) -> tuple[Path, Path]:
    """The run folder (as the last pod left it) and a store holding the bundle's objects."""
    from ..bundle import read_manifest
    from ..store import ObjectStore

    run, store = home / "run", home / "store"
    run.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        data = _get(mirror, mirror.key(f"run/{name}" if name == "request.json" else name))
        if data is not None:
            (run / name).write_bytes(data)
    _download_tree(mirror, CHECKPOINT_DIR, run / CHECKPOINT_DIR)
    spec = RunSpec.read(run)

    def fetch(oid: str) -> None:
        path = store / "objects" / oid[:2] / oid[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        mirror.s3.download_file(mirror.bucket, f"{objects}/{oid}", str(path))

    fetch(spec.bundle)
    manifest = read_manifest(ObjectStore(store), spec.bundle)
    for oid in dict.fromkeys(str(e["oid"]) for e in manifest.get("files", {}).values()):
        fetch(oid)
    return run, store


def _describe(event: dict[str, Any]) -> str | None:
    """One event as a log line (None: not worth one)."""
    kind = event.get("kind")
    if kind == EventKind.OUTPUT:
        return f"[{event.get('index')}] {str(event.get('text', '')).rstrip()}"
    if kind == EventKind.CELL_STARTED:
        return f"cell {event.get('cell') or 'parameters'} started: {event.get('label', '')}"
    if kind == EventKind.CELL_FINISHED:
        return f"cell {event.get('cell') or 'parameters'} {event.get('status')} in {event.get('duration')} s"
    if kind == EventKind.RUN_FINISHED:
        return f"run {event.get('state')}: {(event.get('error') or {}).get('message', '')}".rstrip(": ")
    if kind in (EventKind.RUN_STARTED, EventKind.KERNEL_STARTING, EventKind.BUDGET_WARNING):
        return f"{kind}"
    return None


def echo_events(run: Path, stop: threading.Event) -> None:
    """Print the run's progress as it is recorded (what `kubectl logs` shows), from the events this pod
    adds (a retried pod's earlier ones were printed by the pod before)."""
    path = run / EVENTS_FILE
    offset = path.stat().st_size if path.is_file() else 0
    while True:
        last_look = stop.is_set()
        with contextlib.suppress(FileNotFoundError):
            with path.open("rb") as fh:
                fh.seek(offset)
                data = fh.read()
            end = data.rfind(b"\n") + 1
            for line in data[:end].splitlines():
                text = _describe(json.loads(line))
                if text is not None:
                    print(text, flush=True)
            offset += end
        if last_look:
            return
        stop.wait(ECHO_S)


def main(home: str) -> int:
    env = os.environ
    where = {"bucket": env["NBLIFT_BUCKET"], "prefix": env["NBLIFT_PREFIX"]}
    mirror = Mirror({**where, "endpoint_url": env.get("NBLIFT_S3_ENDPOINT")})
    folder = Path(home)
    run, store = fetch_inputs(mirror, folder, env["NBLIFT_OBJECTS"])
    extra: dict[str, str] = {}
    key = env.get("NBLIFT_CHECKPOINT_KEY", "")
    if key:  # the run's checkpoint key, as the signing key of snapshots taken and restored here
        path = folder / KEY_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes.fromhex(key))
        extra["NBLIFT_SECRET_FILE"] = str(path)
        extra["NBLIFT_CHECKPOINT_KEY"] = ""
    prepare_run(run, mirror)

    def on_sigterm(runner: subprocess.Popen[bytes]) -> None:
        wanted = signal.SIGTERM if mirror.exists("cancel") else signal.SIGUSR1
        with contextlib.suppress(ProcessLookupError):
            os.kill(runner.pid, wanted)  # the runner alone: it stops its kernel itself

    stop_echo = threading.Event()
    echo = threading.Thread(target=echo_events, args=(run, stop_echo), daemon=True)
    echo.start()
    try:
        code = run_mirrored(run, store, mirror, on_sigterm, env=extra)
    finally:
        stop_echo.set()
        echo.join(5)
    if code == PREEMPTED_EXIT:
        if (run / CHECKPOINT_DIR).is_dir():
            mirror.tree(run / CHECKPOINT_DIR, CHECKPOINT_DIR)
        return PREEMPTED_EXIT
    upload_results(run, mirror)
    state_file = run / "state.json"
    state = json.loads(state_file.read_text()).get("state") if state_file.is_file() else None
    return 0 if state == RunState.SUCCEEDED.value else FINISHED_UNSUCCESSFUL


if __name__ == "__main__":
    sys.exit(main(str(Path.cwd())))
