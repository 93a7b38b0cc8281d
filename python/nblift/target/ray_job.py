"""The entry point of a Ray job that nblift submitted: `python -m nblift.target.ray_job` in the job's working
directory (the bundle's objects, nblift's runtime and the run folder, uploaded by Ray).

It starts the runner in its own process group and mirrors the run folder to the artifact store the client
reads (an S3-compatible bucket): events, state, a heartbeat and the MLflow info every second, then the
outputs and the embedded tracking store when the runner is done, and a `done` marker last. A `cancel` marker
the client writes (or SIGTERM from `ray job stop`) is passed to the runner as SIGTERM, which ends the run
CANCELLED. Results never travel through a shared filesystem.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..runs.model import SPEC_FILE, RunSpec

SMALL_FILES = ("events.jsonl", "state.json", "mlflow.json")
MIRROR_S = 1.0


class Mirror:
    """Uploads the run folder's files under `s3://bucket/prefix/`."""

    def __init__(self, config: dict[str, Any]) -> None:
        import boto3

        self.s3 = boto3.client("s3", endpoint_url=config.get("endpoint_url") or None)
        self.bucket = config["bucket"]
        self.prefix = config["prefix"].rstrip("/")

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def put(self, name: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.key(name), Body=data)

    def exists(self, name: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self.key(name))
        except Exception:  # noqa: BLE001 - botocore raises ClientError 404 (or another store's error): absent
            return False
        return True

    def small(self, run: Path) -> None:
        for name in SMALL_FILES:
            path = run / name
            if path.is_file():
                self.put(name, path.read_bytes())
        self.put("heartbeat", repr(time.time()).encode())

    def tree(self, folder: Path, under: str) -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.s3.upload_file(
                    str(path), self.bucket, self.key(f"{under}/{path.relative_to(folder).as_posix()}")
                )


def prepare_run(run: Path, mirror: Mirror) -> None:
    """Point an embedded tracking store at the run folder and tell the client where things are."""
    spec = RunSpec.read(run)
    if spec.tracking.project == "tracking":  # an embedded store in the run folder, brought back at the end
        (run / "tracking" / ".nblift").mkdir(parents=True, exist_ok=True)
        tracking = dataclasses.replace(spec.tracking, project=str(run / "tracking"))
        (run / SPEC_FILE).write_text(spec.with_tracking(tracking).dumps())
    mirror.put("paths.json", json.dumps({"run": str(run), "tracking": str(run / "tracking")}).encode())


def run_mirrored(
    run: Path,
    store: Path,
    mirror: Mirror,
    on_sigterm: Callable[[subprocess.Popen[bytes]], None] | None = None,
    env: dict[str, str] | None = None,
    python: str | None = None,
) -> int:
    """Run the runner (with `python`, default this interpreter) in its own process group, mirroring the run
    folder's small files every second until it ends; return its exit status. SIGTERM (or a `cancel` marker)
    is passed on as SIGTERM, unless `on_sigterm` decides what a SIGTERM means."""
    cwd = Path.cwd()
    environ = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(cwd), os.environ.get("PYTHONPATH")])),
    }
    runner = subprocess.Popen(
        [python or sys.executable, "-m", "nblift.target.runner", str(run), "--store", str(store)],
        env=environ,
        start_new_session=True,
    )

    def stop(_signum: int = signal.SIGTERM, _frame: Any = None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(runner.pid, signal.SIGTERM)

    signal.signal(
        signal.SIGTERM,
        stop if on_sigterm is None else (lambda _s, _f: on_sigterm(runner)),  # type: ignore[misc]
    )
    cancelled = False
    while runner.poll() is None:
        mirror.small(run)
        if not cancelled and mirror.exists("cancel"):
            cancelled = True
            stop()
        with contextlib.suppress(subprocess.TimeoutExpired):
            runner.wait(MIRROR_S)  # back at once when the runner ends, not a whole interval later
    mirror.small(run)
    return int(runner.returncode or 0)


def upload_results(run: Path, mirror: Mirror) -> None:
    """The outputs and the embedded tracking store, then the `done` marker the client waits for."""
    for folder, under in ((run / "output", "output"), (run / "tracking", "tracking")):
        if folder.is_dir():
            mirror.tree(folder, under)
    mirror.put("done", repr(time.time()).encode())


def main() -> int:
    cwd = Path.cwd()
    run, store = cwd / "run", cwd / "store"
    mirror = Mirror(json.loads((run / "ray.json").read_text()))
    prepare_run(run, mirror)
    code = run_mirrored(run, store, mirror)
    upload_results(run, mirror)
    return code


if __name__ == "__main__":
    sys.exit(main())
