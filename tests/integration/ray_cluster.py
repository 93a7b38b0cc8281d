"""A local Ray head (one logical GPU, a GPU type) and a moto S3 server on loopback, for tests and benchmarks.
Never `ray stop`: it kills every Ray process on the machine; the head is stopped by its process group."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from run_helpers import until

from nblift.backends.local import group_members

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_s3(bucket: str) -> tuple[Any, str]:
    """A moto S3 server with `bucket` (AWS_* credentials must be set); returns it and its endpoint."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return server, endpoint


@contextlib.contextmanager
def s3_bucket(bucket: str, *, set_endpoint: bool = False) -> Iterator[str]:
    """A moto S3 server with `bucket`, the test credentials (and with `set_endpoint`, `AWS_ENDPOINT_URL`, as
    a runner's own environment gives it) set in os.environ while it runs; yields its endpoint. The
    environment is as it was afterwards."""
    keys = [*CREDENTIALS, "AWS_ENDPOINT_URL"]
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(CREDENTIALS)
    server, endpoint = start_s3(bucket)
    if set_endpoint:
        os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        yield endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class RayHead:
    """`ray start --head --block` on 127.0.0.1 with its own temp folder."""

    def __init__(self) -> None:
        bin_dir = Path(sys.executable).parent
        dashboard = free_port()
        self.temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must stay short
        env = {
            **os.environ,
            **CREDENTIALS,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "python"),
        }
        command = [
            str(bin_dir / "ray"), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
            "--port", str(free_port()), "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
            "--num-cpus", "4", "--num-gpus", "1", "--resources", json.dumps({"accelerator_type:T4": 1}),
            "--temp-dir", str(self.temp), "--include-dashboard", "true",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.address = f"http://127.0.0.1:{dashboard}"
        try:
            until(self._up, 120, "the Ray head's Jobs API", every=1.0)
        except BaseException:
            self.stop()
            raise

    def _up(self) -> bool:
        from ray.job_submission import JobSubmissionClient

        try:
            JobSubmissionClient(self.address).list_jobs()
        except Exception:  # noqa: BLE001 - not up yet
            return False
        return True

    def stop(self) -> None:
        for pid in [self.proc.pid, *group_members(self.proc.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(30)
        shutil.rmtree(self.temp, ignore_errors=True)
