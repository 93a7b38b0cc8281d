"""What the backends that move runs through an S3-compatible bucket share (ray, kubernetes).

The runner's side (nblift.target.ray_job's `Mirror`) writes the run folder under `s3://bucket/prefix/`:
events, state, a heartbeat and the MLflow info while it runs, then `output/`, `tracking/` and a `done`
marker. A backend's handle names the bucket (`details`: bucket, prefix, endpoint_url); this class reads
and writes there. The bundle's objects can also go by content hash under a shared `objects/` prefix, so a
second run of the same work uploads nothing (`upload_objects`).
"""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import NbliftError
from ..runs.records import OUTPUT_DIR
from .base import RunHandle
from .remote import RemoteBackend

#: Clients kept for the process (each call is a fresh backend object).
_s3_clients: dict[str, Any] = {}


def split_storage(storage: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parts = urlparse(storage)
    return parts.netloc, parts.path.strip("/")


def s3_client(endpoint_url: str) -> Any:
    if endpoint_url not in _s3_clients:
        import boto3

        _s3_clients[endpoint_url] = boto3.client("s3", endpoint_url=endpoint_url or None)
    return _s3_clients[endpoint_url]


def upload_objects(s3: Any, bucket: str, prefix: str, paths: Iterable[tuple[str, Path]]) -> tuple[int, int]:
    """Upload each (object id, local file) to `prefix/objects/ID` unless it is there already; returns
    (objects sent, bytes sent)."""
    from botocore.exceptions import ClientError

    sent = size = 0
    for oid, path in paths:
        key = f"{prefix}/objects/{oid}".lstrip("/")
        try:
            s3.head_object(Bucket=bucket, Key=key)
            continue
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise NbliftError(
                    f"cannot read the bucket {bucket}: {exc}", hint="check its credentials"
                ) from None
        s3.upload_file(str(path), bucket, key)
        sent += 1
        size += path.stat().st_size
    return sent, size


class BucketBackend(RemoteBackend):
    """A remote backend whose runner mirrors its run folder to an S3-compatible bucket."""

    def _s3(self, details: dict[str, Any]) -> Any:
        return s3_client(str(details.get("endpoint_url") or ""))

    def _get(self, handle: RunHandle, name: str, **extra: Any) -> bytes | None:
        from botocore.exceptions import ClientError

        d = handle.details
        try:
            reply = self._s3(dict(d)).get_object(Bucket=d["bucket"], Key=f"{d['prefix']}/{name}", **extra)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "InvalidRange"):
                return None
            raise NbliftError(
                f"cannot read the run's artifact store: {exc}", hint="check its credentials"
            ) from None
        data: bytes = reply["Body"].read()
        return data

    def _put(self, handle: RunHandle, name: str, data: bytes) -> None:
        d = handle.details
        self._s3(dict(d)).put_object(Bucket=d["bucket"], Key=f"{d['prefix']}/{name}", Body=data)

    def _bucket_reply(self, handle: RunHandle, offset: int, alive: bool, queued: bool) -> dict[str, Any]:
        """`_poll`'s reply from what the runner mirrored; `queued`: waiting for resources (alive, not yet
        beating)."""
        data = self._get(handle, "events.jsonl", Range=f"bytes={offset}-") or b""
        data = data[: data.rfind(b"\n") + 1]
        state, mlflow, beat = (self._get(handle, n) for n in ("state.json", "mlflow.json", "heartbeat"))
        heartbeat_age: float | None = 0.0 if queued else (time.time() - float(beat) if beat else None)
        return {
            "state": json.loads(state) if state else None,
            "mlflow": json.loads(mlflow) if mlflow else None,
            "heartbeat_age": heartbeat_age,
            "events": base64.b64encode(data).decode(),
            "offset": offset + len(data),
            "alive": alive,
            "done": self._get(handle, "done") is not None,  # outputs and tracking store uploaded
        }

    def _download(self, handle: RunHandle, under: str, local: Path) -> bool:
        d = handle.details
        s3 = self._s3(dict(d))
        prefix = f"{d['prefix']}/{under}/"
        found = False
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=d["bucket"], Prefix=prefix):
            for item in page.get("Contents", []):
                rel = item["Key"][len(prefix) :]
                path = (local / rel).resolve()
                if not path.is_relative_to(local.resolve()):
                    continue  # a key that climbs out of the folder is not written
                path.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(d["bucket"], item["Key"], str(path))
                found = True
        return found

    def _fetch(self, handle: RunHandle, record_dir: Path) -> Path:
        output = record_dir / OUTPUT_DIR
        with tempfile.TemporaryDirectory(dir=record_dir) as tmp:
            landed = Path(tmp) / OUTPUT_DIR
            landed.mkdir()
            if self._download(handle, OUTPUT_DIR, landed):
                shutil.rmtree(output, ignore_errors=True)
                landed.rename(output)
        return output

    def _download_tracking(self, handle: RunHandle, local: Path) -> str:
        local.mkdir(parents=True, exist_ok=True)
        self._download(handle, "tracking", local)
        paths = json.loads(self._get(handle, "paths.json") or b"{}")
        return str(paths.get("tracking", ""))
