"""The `ray` backend: a run as a Ray job on a cluster (Ray Jobs API; the cluster runs anywhere Ray runs,
KubeRay included).

`--backend ray:NAME` names a cluster in the settings:

    [tool.nblift.ray_clusters.NAME]
    address = "http://head:8265"        # the Ray dashboard (Jobs API)
    storage = "s3://bucket/nblift"      # an artifact store both sides reach; results come back through it
    endpoint_url = ""                   # for S3-compatible stores
    python = "python"                   # the interpreter on the cluster
    num_cpus = 1                        # entrypoint_num_cpus
    num_gpus = 0                        # entrypoint_num_gpus (Ray sets CUDA_VISIBLE_DEVICES)
    gpu_type = ""                       # e.g. "A100": requires the resource accelerator_type:A100
    install_lock = true                 # the bundle's lock as the job's runtime_env pip packages

The job's working directory (`runtime_env.working_dir`, uploaded by Ray, at most 100 MiB) holds the bundle's
objects, nblift's runtime and the run folder; `python -m nblift.target.ray_job` runs the runner there and
mirrors the run folder to `storage` (see nblift.target.ray_job), which this backend reads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..costs.prices import PRICE_KEYS, Priced
from ..errors import InvalidInput, NbliftError, NotFound
from ..project import Project
from ..runs.events import EventKind, append_event
from ..runs.model import SPEC_FILE
from .base import RunHandle, RunRequest, Target
from .bucket import BucketBackend, split_storage
from .remote import parse_targets, runtime_files

WORKING_DIR_MAX = 100 << 20
_KEYS = {
    "address": str,
    "storage": str,
    "endpoint_url": str,
    "python": str,
    "num_cpus": int,
    "num_gpus": int,
    "gpu_type": str,
    "install_lock": bool,
    **PRICE_KEYS,
}
_LIVE = {"PENDING", "RUNNING"}
#: Clients kept for the process (making one costs a round trip or a slow set-up; each call is a fresh
#: backend object).
_job_clients: dict[str, Any] = {}


@dataclasses.dataclass(frozen=True)
class RayTarget(Priced):
    name: str
    address: str
    storage: str
    endpoint_url: str = ""
    python: str = "python"
    num_cpus: int = 1
    num_gpus: int = 0
    gpu_type: str = ""
    install_lock: bool = True


def ray_targets(project: Project) -> dict[str, RayTarget]:
    found = {}
    for name, values in parse_targets(dict(project.settings.ray_clusters), _KEYS, "ray_clusters").items():
        for key in ("address", "storage"):
            if not values.get(key):
                raise InvalidInput(f"ray_clusters.{name} has no {key}", hint=f"set {key} in its table")
        if urlparse(values["storage"]).scheme != "s3":
            raise InvalidInput(
                f"ray_clusters.{name}: storage must be an s3:// URI",
                hint='e.g. storage = "s3://bucket/nblift"',
            )
        found[name] = RayTarget(name=name, **values)
    return found


_storage = split_storage


class RayBackend(BucketBackend):
    name = "ray"
    cancel_poll_s = 0.5
    target_table = "ray_clusters"

    @classmethod
    def targets(cls, project: Any) -> list[Target]:
        if not project.settings.ray_clusters:
            return []
        return [
            Target(f"{cls.name}:{n}", f"{t.num_gpus}{f' x {t.gpu_type}' if t.gpu_type else ''}")
            for n, t in ray_targets(project).items()
        ]

    def __init__(self, project: Any = None, target: str | None = None) -> None:
        super().__init__(project)
        self.target_name = target or ""

    def _target(self, handle: RunHandle | None = None) -> RayTarget:
        name = str(handle.details["target"]) if handle is not None else self.target_name
        configured = ray_targets(self.project)
        if name not in configured:
            known = ", ".join(sorted(configured)) or "none"
            raise NotFound(
                f"no Ray cluster named {name!r}",
                hint=f"use --backend ray:NAME with a [tool.nblift.ray_clusters.NAME] table (known: {known})",
            )
        return configured[name]

    def price(self) -> tuple[Priced, str]:
        return self._target(), f"ray_clusters.{self.target_name}"

    def _jobs(self, target: RayTarget) -> Any:
        from ray.job_submission import JobSubmissionClient

        if target.address in _job_clients:
            return _job_clients[target.address]
        try:
            client = _job_clients[target.address] = JobSubmissionClient(target.address)
            return client
        except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ... by version
            raise NbliftError(
                f"cannot reach Ray cluster {target.name!r} at {target.address} ({type(exc).__name__}: {exc})",
                hint="check the address of its dashboard (Jobs API) and that the cluster is up",
            ) from None

    # -- submit --------------------------------------------------------------------------------------------

    def _stage(self, target: RayTarget, request: RunRequest, folder: Path, prefix: str) -> list[str]:
        """The job's working directory; returns the lock's requirement lines."""
        from ..bundle import read_manifest
        from ..environment.lock import lock_in_bundle
        from ..store import ObjectStore

        for rel, data in runtime_files().items():
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        store = ObjectStore(request.store_dir)
        manifest = read_manifest(store, request.bundle_id)
        oids = [request.bundle_id, *(str(e["oid"]) for e in manifest.get("files", {}).values())]
        for oid in dict.fromkeys(oids):
            target_path = folder / "store" / "objects" / oid[:2] / oid[2:]
            target_path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(store.path_of(oid), target_path)
        run = folder / "run"
        run.mkdir()
        tracking = self.remote_tracking("")
        if tracking.project is not None:  # made absolute on the cluster by ray_job
            tracking = dataclasses.replace(tracking, project="tracking")
        bucket, _ = _storage(target.storage)
        (run / SPEC_FILE).write_text(request.spec.with_tracking(tracking).dumps())
        (run / "ray.json").write_text(
            json.dumps({"bucket": bucket, "prefix": prefix, "endpoint_url": target.endpoint_url})
        )
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        if size > WORKING_DIR_MAX:
            raise InvalidInput(
                f"the run's working directory is {size / 2**20:.0f} MiB; Ray uploads at most 100 MiB",
                hint="leave large data out of the bundle (.nbliftignore) and read it from the artifact store",
            )
        _, requirements = lock_in_bundle(store, manifest)
        if not (target.install_lock and requirements):
            return []
        text = store.get_bytes(requirements).decode()
        return [
            line.split(" --hash")[0].strip(" \\") for line in text.splitlines() if line and line[0].isalnum()
        ]

    def _submit(self, request: RunRequest) -> RunHandle:
        target = self._target()
        bucket, base = _storage(target.storage)
        prefix = f"{base}/runs/{request.run_id}".strip("/")
        submission_id = f"nblift-{request.run_id}"
        with tempfile.TemporaryDirectory(prefix="nblift-ray-") as tmp:
            folder = Path(tmp)
            packages = self._stage(target, request, folder, prefix)
            runtime_env: dict[str, Any] = {
                "working_dir": str(folder),
                "env_vars": {"MLFLOW_DISABLE_TELEMETRY": "true"},
            }
            if packages:
                runtime_env["pip"] = packages
            options: dict[str, Any] = {"entrypoint_num_cpus": target.num_cpus}
            if target.num_gpus:
                options["entrypoint_num_gpus"] = target.num_gpus
            if target.gpu_type:
                options["entrypoint_resources"] = {f"accelerator_type:{target.gpu_type}": 0.001}
            jobs = self._jobs(target)
            try:
                jobs.submit_job(
                    entrypoint=f"{target.python} -m nblift.target.ray_job",
                    runtime_env=runtime_env,
                    submission_id=submission_id,
                    metadata={"nblift_run": request.run_id},
                    **options,
                )
            except Exception as exc:  # noqa: BLE001 - the Jobs API's errors carry the cluster's message
                if "already exists" not in str(exc):
                    raise NbliftError(f"Ray refused the job: {exc}", hint="see the message") from None
        append_event(
            request.record_dir, EventKind.RAY_SUBMITTED, target=target.name, submission_id=submission_id
        )
        details = {
            "target": target.name,
            "submission_id": submission_id,
            "bucket": bucket,
            "prefix": prefix,
            "endpoint_url": target.endpoint_url,
            "remote_tracking": self.remote_tracking("").project is not None,
        }
        return RunHandle(f"{self.name}:{target.name}", request.run_id, submission_id, details)

    # -- follow --------------------------------------------------------------------------------------------

    def _status(self, handle: RunHandle) -> str:
        target = self._target(handle)
        try:
            return str(self._jobs(target).get_job_status(handle.native_id))
        except NbliftError:
            raise
        except Exception as exc:  # noqa: BLE001 - unknown job or a cluster that went away
            raise NbliftError(
                f"cannot ask Ray about {handle.native_id}: {exc}", hint="is the cluster up?"
            ) from None

    def _poll(self, handle: RunHandle, offset: int) -> dict[str, Any]:
        status = self._status(handle).rsplit(".", 1)[-1]
        return self._bucket_reply(handle, offset, alive=status in _LIVE, queued=status == "PENDING")

    def _alive(self, handle: RunHandle) -> bool | None:
        try:
            return self._status(handle).rsplit(".", 1)[-1] in _LIVE
        except NbliftError:
            return None

    # -- stop ----------------------------------------------------------------------------------------------

    def _terminate(self, handle: RunHandle) -> None:
        self._put(handle, "cancel", repr(time.time()).encode())  # the job passes it on as SIGTERM

    def _kill(self, handle: RunHandle) -> None:
        self._reap(handle)

    def _reap(self, handle: RunHandle) -> None:
        with contextlib.suppress(Exception):  # already ended, or the cluster is gone: nothing left to stop
            self._jobs(self._target(handle)).stop_job(handle.native_id)
