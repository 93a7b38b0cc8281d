"""The `k8s` backend: a run as a `batch/v1` Job on a Kubernetes cluster (`--backend k8s:NAME`, settings in
`[tool.nblift.kubernetes.NAME]`, see nblift.backends.k8s_manifest).

The bundle's objects and nblift's runtime reach the pod by content hash through the target's S3-compatible
bucket (what a second run of the same work finds there is not sent again); the pod runs
`nblift.target.k8s_job`, which mirrors the run folder back to the bucket as the Ray backend's job does
(nblift.backends.bucket reads it). The Job and its pods are followed through the watch API, the pod's log
streamed into the run record (nblift.backends.k8s_watch). An evicted pod is retried by the Job and the run
resumes from its last completed cell; a Job that ends without the runner recording the end is LOST with the
reason Kubernetes gives, and `nblift run --resume` continues it from the checkpoint under its prefix (a new
Job with a new prefix: the checkpoint is copied there and verified with the run's key, kept in its record).
Cancel deletes the Job and its pods. The `kubernetes` client is imported only here.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import tarfile
import time
from pathlib import Path
from typing import Any

from ..costs.prices import Priced
from ..errors import BackendUnavailable, NbliftError, NotFound
from ..runs import records
from ..runs.events import EventKind, append_event
from ..runs.records import RunRecord
from ..snapshot.signing import KEY_BYTES
from ..target.checkpoint import CHECKPOINT_DIR, CHECKPOINT_FILE, KEY_FILE
from .base import RunHandle, RunRequest, RunState, Target
from .bucket import BucketBackend, split_storage, upload_objects
from .k8s_manifest import (
    ENV_PLAN,
    RUN_LABEL,
    K8sTarget,
    deadline_seconds,
    job_manifest,
    job_name,
    k8s_targets,
)
from .k8s_watch import Api, RunWatch, job_ended, watch_for
from .remote import SYNC_FILE, runtime_files

GONE = "the runner process is gone"
#: How long `_poll` waits for a new watch's first listing before it asks the API server directly.
SYNC_WAIT_S = 5.0
_api_clients: dict[str, Api] = {}
_runtimes: dict[str, tuple[str, bytes]] = {}


def runtime_archive() -> tuple[str, bytes]:
    """nblift's runtime as a reproducible tar.gz and its SHA-256 (the same files give the same bytes)."""
    files = runtime_files()
    digest = hashlib.sha256()
    for rel, data in files.items():
        digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    key = digest.hexdigest()
    if key not in _runtimes:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
            for rel, data in files.items():
                info = tarfile.TarInfo(rel)
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
        _runtimes.clear()
        _runtimes[key] = (key, buffer.getvalue())
    return _runtimes[key]


def env_plan_for(target: K8sTarget, store: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    """How the pod builds the run's environment: the SSH agent's plan (`nblift.backends.ssh.env_plan`: uv
    installs the lock's hashed requirements with the index strategy they were resolved with, plus the
    runner's packages), its paths relative to the pod's scratch folder (the lock comes with the bundle's
    objects), the environment's folder keyed by the lock, the interpreter, uv and the runner's packages."""
    from ..environment.lock import lock_in_bundle
    from .ssh import env_plan

    lock, requirements = lock_in_bundle(store, manifest)
    strategy = lock.index_strategy if lock else None
    # a K8sTarget names python, uv and offline as an SSHTarget does: all the plan reads of it
    plan = env_plan(target, ".", "store/objects", requirements, strategy)  # type: ignore[arg-type]
    return {**plan, "target": target.name}


def _api(context: str) -> Api:
    """The API client for a kubeconfig context ("" : the current context, else the in-cluster config)."""
    if context in _api_clients:
        return _api_clients[context]
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    try:
        # KUBECONFIG as it is now (the client reads it once, when first imported)
        files = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
        client = config.new_client_from_config(config_file=files, context=context or None)
    except (ConfigException, FileNotFoundError, TypeError) as exc:
        if context:
            raise BackendUnavailable(
                f"no kubeconfig context {context!r}: {exc}",
                hint="check `kubectl config get-contexts` or the target's context setting",
            ) from None
        try:
            from kubernetes import client as k8s_client

            config.load_incluster_config()
            client = k8s_client.ApiClient()
        except ConfigException:
            raise BackendUnavailable(
                "no Kubernetes configuration found (no kubeconfig, not inside a cluster)",
                hint="set KUBECONFIG or write ~/.kube/config, then set the target's context",
            ) from None
    _api_clients[context] = api = Api(client)
    return api


def _api_error(exc: Exception, what: str) -> NbliftError:
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None) or str(exc)
    with_status = f" ({status})" if status else ""
    hint = (
        "the cluster refused: give the account the Role in docs/kubernetes.md"
        if status in (401, 403)
        else "check that the cluster is reachable and the namespace exists"
    )
    return NbliftError(f"Kubernetes refused to {what}{with_status}: {str(body)[:300]}", hint=hint)


class K8sBackend(BucketBackend):
    name = "k8s"
    cancel_poll_s = 0.25
    target_table = "kubernetes"

    @classmethod
    def targets(cls, project: Any) -> list[Target]:
        if not project.settings.kubernetes:
            return []
        return [Target(f"{cls.name}:{n}", t.gpus_text) for n, t in k8s_targets(project).items()]

    def __init__(self, project: Any = None, target: str | None = None) -> None:
        super().__init__(project)
        self.target_name = target or ""

    def _target(self, handle: RunHandle | None = None) -> K8sTarget:
        name = str(handle.details["target"]) if handle is not None else self.target_name
        configured = k8s_targets(self.project)
        if name not in configured:
            known = ", ".join(sorted(configured)) or "none"
            raise NotFound(
                f"no Kubernetes target named {name!r}",
                hint=f"use --backend k8s:NAME with a [tool.nblift.kubernetes.NAME] table (known: {known})",
            )
        return configured[name]

    def price(self) -> tuple[Priced, str]:
        return self._target(), f"kubernetes.{self.target_name}"

    # -- submit --------------------------------------------------------------------------------------------

    def has_checkpoint(self, handle: RunHandle, record_dir: Path) -> bool:
        """The checkpoint an evicted pod uploaded under the run's prefix (and the key that signed it)."""
        if not (record_dir / KEY_FILE).is_file():
            return False
        return self._get(handle, f"{CHECKPOINT_DIR}/{CHECKPOINT_FILE}") is not None

    def _checkpoint_key(self, target: K8sTarget, request: RunRequest, prefix: str) -> str:
        """The key that signs the run's kernel checkpoints, kept in its record (0600): a resumed run gets
        the key of the run it continues, and that run's checkpoint is copied under its own prefix."""
        key = secrets.token_hex(KEY_BYTES)
        earlier_id = request.spec.resume_from
        if earlier_id:
            earlier = records.record_dir(self.project.state_dir, earlier_id)
            handle = records.read_handle(earlier)
            if handle is None or not (earlier / KEY_FILE).is_file():
                raise NotFound(f"run {earlier_id} has no checkpoint to resume from")
            key = (earlier / KEY_FILE).read_text().strip()
            bucket = str(handle.details["bucket"])
            s3 = self._s3({"endpoint_url": target.endpoint_url})
            source = f"{handle.details['prefix']}/{CHECKPOINT_DIR}/"
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=source):
                for item in page.get("Contents", []):
                    rel = item["Key"][len(source) :]
                    s3.copy_object(
                        Bucket=split_storage(target.storage)[0],
                        Key=f"{prefix}/{CHECKPOINT_DIR}/{rel}",
                        CopySource={"Bucket": bucket, "Key": item["Key"]},
                    )
        fd = os.open(request.record_dir / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key

    def _send(self, target: K8sTarget, request: RunRequest, base: str, prefix: str) -> str:
        """Put the bundle's objects, the runtime and the run's specification in the bucket; returns the
        runtime's key."""
        from ..bundle import read_manifest
        from ..store import ObjectStore

        bucket, _ = split_storage(target.storage)
        s3 = self._s3({"endpoint_url": target.endpoint_url})
        store = ObjectStore(request.store_dir)
        manifest = read_manifest(store, request.bundle_id)
        oids = dict.fromkeys(
            [request.bundle_id, *(str(e["oid"]) for e in manifest.get("files", {}).values())]
        )
        sent, size = upload_objects(s3, bucket, base, ((oid, store.path_of(oid)) for oid in oids))
        append_event(request.record_dir, EventKind.BUNDLE_SENT, target=target.name, objects=sent, bytes=size)
        digest, archive = runtime_archive()
        runtime_key = f"{base}/runtime/{digest}.tar.gz".lstrip("/")
        try:
            s3.head_object(Bucket=bucket, Key=runtime_key)
        except Exception:  # noqa: BLE001 - absent (or unreadable: the put says which)
            s3.put_object(Bucket=bucket, Key=runtime_key, Body=archive)
        tracking = self.remote_tracking("")
        if tracking.project is not None:  # made absolute in the pod by k8s_job
            import dataclasses

            tracking = dataclasses.replace(tracking, project="tracking")
        spec = request.spec.with_tracking(tracking).dumps().encode()
        s3.put_object(Bucket=bucket, Key=f"{prefix}/run/request.json", Body=spec)
        if not target.image_has_env:
            plan = env_plan_for(target, store, manifest)
            s3.put_object(Bucket=bucket, Key=f"{prefix}/run/{ENV_PLAN}", Body=json.dumps(plan).encode())
        return runtime_key

    def _submit(self, request: RunRequest) -> RunHandle:
        target = self._target()
        bucket, base = split_storage(target.storage)
        prefix = f"{base}/runs/{request.run_id}".strip("/")
        runtime_key = self._send(target, request, base, prefix)
        checkpoint_key = self._checkpoint_key(target, request, prefix)
        cost = request.spec.cost
        deadline = deadline_seconds(request.spec.timeout, cost.budget_seconds if cost is not None else None)
        env = {
            "NBLIFT_BUCKET": bucket,
            "NBLIFT_PREFIX": prefix,
            "NBLIFT_OBJECTS": f"{base}/objects".lstrip("/"),
            "NBLIFT_RUNTIME": runtime_key,
            "NBLIFT_S3_ENDPOINT": target.endpoint_url,
            # signs the kernel checkpoints of this run: a retried pod trusts only what this run wrote
            "NBLIFT_CHECKPOINT_KEY": checkpoint_key,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        manifest = job_manifest(target, request.run_id, env, deadline)
        api = _api(target.context)
        try:
            api.batch.create_namespaced_job(target.namespace, manifest)
        except Exception as exc:  # noqa: BLE001 - ApiException, or the server unreachable
            if getattr(exc, "status", None) != 409:  # 409: created by an earlier try of this submit
                raise _api_error(exc, f"create Job {job_name(request.run_id)}") from None
        details = {
            "target": target.name,
            "context": target.context,
            "namespace": target.namespace,
            "job": job_name(request.run_id),
            "bucket": bucket,
            "prefix": prefix,
            "endpoint_url": target.endpoint_url,
            "remote_tracking": self.remote_tracking("").project is not None,
        }
        return RunHandle(f"{self.name}:{target.name}", request.run_id, job_name(request.run_id), details)

    # -- follow --------------------------------------------------------------------------------------------

    def _watch(self, handle: RunHandle, record_dir: Path | None = None) -> RunWatch:
        d = handle.details
        folder = record_dir or records.record_dir(self.project.state_dir, handle.run_id)
        found = watch_for(
            _api(str(d.get("context") or "")),
            str(d["namespace"]),
            str(d["job"]),
            f"{RUN_LABEL}={handle.run_id}",
            folder,
        )
        found.synced.wait(SYNC_WAIT_S)
        return found

    def _sync(self, handle: RunHandle, record_dir: Path) -> None:
        synced = record_dir / SYNC_FILE
        if not (synced.is_file() and json.loads(synced.read_text()).get("done")):
            self._watch(handle, record_dir)  # follows the Job, its pods and the pod's log from now on
        super()._sync(handle, record_dir)

    def _job_state(self, watch: RunWatch) -> tuple[bool, bool]:
        """(alive, queued): the Job still runs (or waits), and no pod of it runs now."""
        if watch.job_gone or (watch.job is None and watch.synced.is_set()):
            return False, False
        if job_ended(watch.job):
            return False, False
        pod = watch.newest_pod()
        phase = (pod or {}).get("status", {}).get("phase")
        suspended = bool(((watch.job or {}).get("spec") or {}).get("suspend"))
        return True, suspended or phase in (None, "Pending") or phase in ("Failed", "Succeeded")

    def _poll(self, handle: RunHandle, offset: int) -> dict[str, Any]:
        alive, queued = self._job_state(self._watch(handle))
        return self._bucket_reply(handle, offset, alive=alive, queued=queued)

    def _alive(self, handle: RunHandle) -> bool | None:
        watch = self._watch(handle)
        if not watch.synced.is_set():
            return None
        return self._job_state(watch)[0]

    def check(
        self, handle: RunHandle, record: RunRecord, heartbeat_timeout: float, start_grace: float
    ) -> str | None:
        """As every backend's, with Kubernetes' own reason for a Job that ended without the runner: an
        evicted pod, a lost node, the Job's deadline (TIMED_OUT, with the reason "budget" where the budget
        set it)."""
        reason = super().check(handle, record, heartbeat_timeout, start_grace)
        if reason != GONE:
            return reason
        watch = self._watch(handle)
        failed = self._job_failure(watch)
        if failed and failed[0] == "DeadlineExceeded":
            from ..runs.service import _finish_from_outside

            spec = record.spec
            budget_s = spec.cost.budget_seconds if spec.cost is not None else None
            why = "budget" if budget_s and (not spec.timeout or budget_s <= spec.timeout) else "time limit"
            message = f"Kubernetes stopped the Job at its deadline ({why})"
            _finish_from_outside(record, RunState.TIMED_OUT, message, reason=why)
            return None
        return self.lost_reason(watch, failed)

    def _job_failure(self, watch: RunWatch) -> tuple[str, str] | None:
        for cond in ((watch.job or {}).get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Failed" and cond.get("status") == "True":
                return str(cond.get("reason") or ""), str(cond.get("message") or "")
        return None

    def lost_reason(self, watch: RunWatch, failed: tuple[str, str] | None = None) -> str:
        """Why the run's pods are gone, in Kubernetes' words."""
        parts = []
        for pod in watch.all_pods():
            name = pod["metadata"]["name"]
            status = pod.get("status") or {}
            for cond in status.get("conditions") or []:
                if cond.get("type") == "DisruptionTarget" and cond.get("status") == "True":
                    parts.append(
                        f"pod {name} was disrupted ({cond.get('reason')}: {cond.get('message', '')})"
                    )
            if status.get("reason") in ("Evicted", "NodeLost", "Preempting", "Shutdown"):
                parts.append(f"pod {name}: {status['reason']} ({status.get('message', '')})")
            for cs in status.get("containerStatuses") or []:
                term = (cs.get("state") or {}).get("terminated") or {}
                if term.get("reason") in ("OOMKilled", "Error") and term.get("exitCode") not in (0, None):
                    parts.append(f"pod {name}: container {term['reason']} (exit {term.get('exitCode')})")
        if watch.job_gone:
            parts.insert(0, f"the Job {watch.job_name} was deleted")
        elif failed:
            parts.insert(0, f"the Job failed ({failed[0]}: {failed[1]})")
        return "; ".join(dict.fromkeys(parts)) or GONE

    # -- stop ----------------------------------------------------------------------------------------------

    def _delete_job(self, handle: RunHandle, grace: int | None = None) -> None:
        d = handle.details
        api = _api(str(d.get("context") or ""))
        try:
            api.batch.delete_namespaced_job(
                str(d["job"]),
                str(d["namespace"]),
                propagation_policy="Background",
                grace_period_seconds=grace,
            )
        except Exception as exc:  # noqa: BLE001 - already gone is fine; anything else is said
            if getattr(exc, "status", None) != 404:
                raise _api_error(exc, f"delete Job {d['job']}") from None

    def _terminate(self, handle: RunHandle) -> None:
        self._put(handle, "cancel", repr(time.time()).encode())  # the pod's SIGTERM then means cancel
        self._delete_job(handle)

    def _kill(self, handle: RunHandle) -> None:
        d = handle.details
        api = _api(str(d.get("context") or ""))
        self._delete_job(handle, grace=0)
        for pod in self._watch(handle).all_pods():
            if pod.get("deleted"):
                continue
            try:
                api.delete_namespaced_pod(
                    pod["metadata"]["name"], str(d["namespace"]), grace_period_seconds=0
                )
            except Exception as exc:  # noqa: BLE001 - gone already
                if getattr(exc, "status", None) != 404:
                    raise _api_error(exc, f"delete pod {pod['metadata']['name']}") from None

    def _reap(self, handle: RunHandle) -> None:
        with contextlib.suppress(NbliftError):  # the cluster may be gone: the TTL cleans up
            self._delete_job(handle)
