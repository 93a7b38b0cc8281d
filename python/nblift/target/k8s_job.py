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

Unless the image has the run's environment, the run prefix holds a plan (`run/launch.json`, made by
nblift.backends.k8s.env_plan_for): the environment is built from the bundle's lock with uv, by the builder
the SSH agent uses (nblift.target.agent), in the `env_cache` volume when the Job mounts one (a folder per
lock hash, built once, under a lock so that pods sharing the volume never build the same one twice) or in
the pod's scratch folder; the runner then runs in it. A build that fails ends the run FAILED with uv's
reason (the Job fails at once).
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
from .ray_job import MIRROR_S, Mirror, prepare_run, run_mirrored, upload_results

#: The pod's exit status when the runner recorded a terminal state other than SUCCEEDED: the Job's
#: podFailurePolicy fails the Job at once (nblift.backends.k8s_manifest.NOTEBOOK_ERROR_EXIT).
FINISHED_UNSUCCESSFUL = 42
#: How often the pod's log is given the run's new events.
ECHO_S = 0.2
RUN_FILES = ("request.json", "events.jsonl", "state.json", "mlflow.json")
#: The environment's plan in the run prefix (nblift.backends.k8s_manifest.ENV_PLAN).
PLAN_FILE = "launch.json"


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


def build_environment(mirror: Mirror, home: Path, run: Path) -> str | None:
    """The python of the run's environment, built from the plan in the run prefix (None: there is none, the
    image's Python runs it). Raises BuildError or OSError when uv cannot build it."""
    from ..fsutil import file_lock
    from ..runs.events import append_event
    from .agent import _build, _read_plan

    data = _get(mirror, mirror.key(f"run/{PLAN_FILE}"))
    if data is None:
        return None
    (run / PLAN_FILE).write_bytes(data)
    plan = _read_plan(run / PLAN_FILE)  # paths relative to the pod's scratch folder
    cache = os.environ.get("NBLIFT_ENV_CACHE")
    env = Path(plan["env"])
    if cache:  # the env_cache volume: environments of every run with this lock
        env = Path(cache) / env.relative_to(home.resolve())
    env.parent.mkdir(parents=True, exist_ok=True)
    # built once, run many times: compiled to bytecode as it is installed, not by each run's imports
    os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
    target, key = str(plan.get("target", "")), env.name
    done = threading.Event()

    def beat() -> None:  # the run is alive while uv builds (or waits for another pod's build)
        while not done.wait(MIRROR_S):
            mirror.small(run)

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    try:
        with file_lock(env.parent / f"{env.name}.lock"):
            ready = (env / "ready").is_file()
            kind = EventKind.ENV_READY if ready else EventKind.ENV_BUILDING
            append_event(run, kind, target=target, key=key)
            with (home / "env-build.log").open("a") as log:
                _build(env, plan, log)
    finally:
        done.set()
        beating.join(10)
    if not ready:
        append_event(run, EventKind.ENV_READY, target=target, key=key)
    print(f"environment {key}: {'cached' if ready else 'built'} at {env}", flush=True)
    return str(env / "bin" / "python")


def _failed_build(run: Path, mirror: Mirror, reason: str) -> int:
    """Record the run as FAILED (the environment could not be built), its results uploaded."""
    import time

    from ..runs.events import append_event
    from ..runs.records import update_state

    error = {"message": f"could not build the run's environment: {reason}"}
    update_state(run, state=RunState.FAILED.value, finished=time.time(), error=error)
    append_event(run, EventKind.RUN_FINISHED, state=RunState.FAILED.value, error=error)
    print(error["message"], flush=True)
    mirror.small(run)
    upload_results(run, mirror)
    return FINISHED_UNSUCCESSFUL


def main(home: str) -> int:
    env = os.environ
    where = {"bucket": env["NBLIFT_BUCKET"], "prefix": env["NBLIFT_PREFIX"]}
    mirror = Mirror({**where, "endpoint_url": env.get("NBLIFT_S3_ENDPOINT")})
    folder = Path(home)
    run, store = fetch_inputs(mirror, folder, env["NBLIFT_OBJECTS"])
    from .agent import BuildError

    try:
        python = build_environment(mirror, folder, run)
    except (BuildError, OSError) as exc:
        return _failed_build(run, mirror, str(exc))
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
        code = run_mirrored(run, store, mirror, on_sigterm, env=extra, python=python)
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
