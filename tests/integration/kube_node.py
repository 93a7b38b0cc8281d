"""A Kubernetes API stand-in on loopback, and a node that runs what it is given, for the k8s backend's tests
and benchmark.

The API server is kmock's KubernetesEmulator (a real aiohttp server speaking the Kubernetes API: create,
get, list, patch, delete, and watch streams), in a thread of its own. kmock keeps objects and nothing else:
what the control plane and a kubelet do is done here, as a client of that server over HTTP, the way they
would do it:

- the Job controller: a pod for each Job that has none running, again after a pod failed unless the Job's
  podFailurePolicy says FailJob (exit codes) or Ignore (the DisruptionTarget condition, not counted against
  backoffLimit); the Job's Complete/Failed conditions; activeDeadlineSeconds;
- the garbage collector: the pods of a deleted Job are deleted (their processes get SIGTERM, then SIGKILL
  after the pod's grace period);
- the kubelet: a pod's container command runs as a local process with the pod's environment, its working
  directory an emptyDir of its own; a persistentVolumeClaim is a local folder per claim, kept across pods,
  that the process finds where an environment value names the volume's mount path; its phase, conditions
  and container state are reported back;
- the pod log endpoint (`pods/NAME/log`, with follow, timestamps and sinceSeconds), which kmock does not
  serve: a reaction of ours; `drop_logs_after` makes the server drop a stream after that many lines.

`evict(run_id)` does what an eviction does: the DisruptionTarget condition on the pod, then SIGTERM;
`no_capacity` keeps a Job's next pod from starting (a cluster without room for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RUN_LABEL = "nblift.dev/run"
_LOG_PATH = re.compile(r"/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<name>[^/]+)/log")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(at: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at))
    return f"{whole}.{int((at % 1) * 1e9):09d}Z"


class _Pod:
    def __init__(self, name: str, namespace: str, job: str, spec: dict[str, Any]) -> None:
        self.name, self.namespace, self.job, self.spec = name, namespace, job, spec
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[tuple[float, str]] = []
        self.changed = asyncio.Event()
        self.ended = False
        self.exit_code: int | None = None
        self.disrupted = False
        self.removed = False
        self.terminating = False
        self.folder = Path(tempfile.mkdtemp(prefix="nblift-pod-"))
        self.created = time.time()
        self.started: float | None = None


class KubeStandIn:
    """kmock on loopback plus the control plane and one node, all in one background event loop."""

    def __init__(self, base_env: dict[str, str] | None = None) -> None:
        self.base_env = dict(base_env or os.environ)
        self.loop = asyncio.new_event_loop()
        self.pods: dict[str, _Pod] = {}
        self.failed: dict[str, list[_Pod]] = {}
        self.jobs_seen: dict[str, dict[str, Any]] = {}
        self.created_jobs: list[dict[str, Any]] = []  # every Job as nblift sent it
        self.deleted_jobs: list[str] = []
        self.drop_logs_after: int | None = None
        self.claims: dict[str, Path] = {}  # persistentVolumeClaim name -> its local folder
        #: No room on the node: a Job's next pod is not started (it would stay Pending).
        self.no_capacity = False
        self.dropped = 0
        self._count = 0
        self._tasks: set[asyncio.Future[Any]] = set()  # kept until the loop ends
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="kube-stand-in", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the Kubernetes stand-in did not start")

    # -- lifecycle ---------------------------------------------------------------------------------------

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        import aiohttp
        import kmock

        self._stop = asyncio.Event()
        async with kmock.KubernetesEmulator() as api, kmock.Server(api) as server:
            self.api = api
            verbs = ["create", "get", "list", "watch", "delete", "patch"]
            for key, kind, subresources in (
                ("batch/v1/jobs", "Job", ["status"]),
                ("v1/pods", "Pod", ["log", "status"]),
            ):
                api.resources[key] = {
                    "kind": kind, "namespaced": True, "singular": kind.lower(), "verbs": verbs,
                    "shortnames": [], "categories": [], "subresources": subresources,
                }  # fmt: skip
            api["get", _LOG_PATH] << self._serve_log
            self.url = str(server.url).rstrip("/")
            async with aiohttp.ClientSession(base_url=self.url) as self.http:
                self._ready.set()
                controller = asyncio.ensure_future(self._control())
                await self._stop.wait()
                controller.cancel()
                for pod in list(self.pods.values()):
                    await self._signal(pod, signal.SIGKILL)

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)  # open watch streams may hold the server; the thread is a daemon
        for pod in self.pods.values():
            shutil.rmtree(pod.folder, ignore_errors=True)
        for folder in self.claims.values():
            shutil.rmtree(folder, ignore_errors=True)

    def kubeconfig(self, path: Path) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "stand-in", "cluster": {"server": self.url}}],
            "users": [{"name": "tester", "user": {"token": "stand-in"}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "tester"}}],
            "current-context": "stand-in",
        }
        path.write_text(json.dumps(config))
        return path

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    # -- HTTP as a client of the API server --------------------------------------------------------------

    async def _patch(self, path: str, body: dict[str, Any]) -> None:
        headers = {"Content-Type": "application/merge-patch+json"}
        async with self.http.patch(path, data=json.dumps(body), headers=headers) as reply:
            await reply.read()

    async def _objects(self, path: str) -> list[dict[str, Any]]:
        async with self.http.get(path) as reply:
            if reply.status != 200:
                return []
            return list((await reply.json()).get("items", []))

    # -- the control plane ---------------------------------------------------------------------------------

    async def _control(self) -> None:
        while True:
            try:
                await self._reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a stand-in that stops reconciling hides the cause
                print(f"kube stand-in: {type(exc).__name__}: {exc}")
            await asyncio.sleep(0.05)

    async def _reconcile(self) -> None:
        jobs = {j["metadata"]["name"]: j for j in await self._objects("/apis/batch/v1/jobs")}
        for name, job in jobs.items():
            if name not in self.jobs_seen:
                self.created_jobs.append(json.loads(json.dumps(job)))
            self.jobs_seen.setdefault(name, {"started": time.time()})
            await self._reconcile_job(job)
        for pod in list(self.pods.values()):  # the garbage collector: pods whose Job is gone
            if pod.job in jobs or pod.removed:
                continue
            if pod.job not in self.deleted_jobs:
                self.deleted_jobs.append(pod.job)
            if pod.ended:
                await self._delete_pod(pod)
            else:
                await self._terminate(pod)  # deleted once its process has ended

    def _conditions(self, job: dict[str, Any]) -> set[str]:
        return {
            c["type"] for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"
        }

    async def _finish_job(self, job: dict[str, Any], kind: str, reason: str, message: str) -> None:
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        condition = {
            "type": kind,
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": _now(),
        }
        failed = len([p for p in self.failed.get(name, []) if not p.disrupted])
        await self._patch(
            f"/apis/batch/v1/namespaces/{ns}/jobs/{name}",
            {
                "status": {
                    "conditions": [condition],
                    "active": 0,
                    "failed": failed,
                    "succeeded": int(kind == "Complete"),
                }
            },
        )

    async def _reconcile_job(self, job: dict[str, Any]) -> None:
        spec, name, ns = job["spec"], job["metadata"]["name"], job["metadata"]["namespace"]
        if self._conditions(job) & {"Complete", "Failed"} or spec.get("suspend"):
            return
        mine = [p for p in self.pods.values() if p.job == name]
        running = [p for p in mine if not p.ended]
        deadline = spec.get("activeDeadlineSeconds")
        if deadline and time.time() - self.jobs_seen[name]["started"] > deadline:
            for pod in running:
                await self._terminate(pod)
            await self._finish_job(
                job, "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
            )
            return
        if running:
            return
        ended = sorted(mine, key=lambda p: p.created)
        if ended and ended[-1].exit_code == 0:
            await self._finish_job(job, "Complete", "", "")
            return
        counted = 0
        for pod in ended:
            if pod.disrupted:
                continue  # podFailurePolicy Ignore on DisruptionTarget
            for rule in (spec.get("podFailurePolicy") or {}).get("rules", []):
                codes = (rule.get("onExitCodes") or {}).get("values") or []
                if rule["action"] == "FailJob" and pod.exit_code in codes:
                    message = (
                        f"Container runner for pod {ns}/{pod.name} failed with exit code {pod.exit_code}"
                    )
                    await self._finish_job(job, "Failed", "PodFailurePolicy", message)
                    return
            counted += 1
        if counted > spec.get("backoffLimit", 6):
            await self._finish_job(
                job, "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            )
            return
        if not self.no_capacity:
            await self._start_pod(job)

    # -- the kubelet ---------------------------------------------------------------------------------------

    async def _start_pod(self, job: dict[str, Any]) -> None:
        self._count += 1
        ns, name = job["metadata"]["namespace"], job["metadata"]["name"]
        template = job["spec"]["template"]
        pod_name = f"{name}-{self._count:05d}"
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": pod_name,
                "namespace": ns,
                "labels": {**(template.get("metadata") or {}).get("labels", {}), "job-name": name},
                "creationTimestamp": _now(),
            },
            "spec": template["spec"],
            "status": {"phase": "Pending"},
        }
        async with self.http.post(f"/api/v1/namespaces/{ns}/pods", json=body) as reply:
            await reply.read()
        pod = self.pods[pod_name] = _Pod(pod_name, ns, name, template["spec"])
        self._tasks.add(asyncio.ensure_future(self._run(pod)))

    async def _run(self, pod: _Pod) -> None:
        container = pod.spec["containers"][0]
        env = {**self.base_env, **{e["name"]: e.get("value", "") for e in container.get("env", [])}}
        claims = {
            v["name"]: v["persistentVolumeClaim"]["claimName"]
            for v in pod.spec.get("volumes", [])
            if "persistentVolumeClaim" in v
        }
        for mount in container.get("volumeMounts", []):
            if mount["name"] in claims:
                claim = claims[mount["name"]]
                local = self.claims.setdefault(claim, Path(tempfile.mkdtemp(prefix=f"nblift-pvc-{claim}-")))
                at = mount["mountPath"]
                env = {
                    k: str(local) + v[len(at) :] if v == at or v.startswith(f"{at}/") else v
                    for k, v in env.items()
                }
        cwd = pod.folder if container.get("workingDir") else Path.cwd()  # the emptyDir at workingDir
        pod.proc = await asyncio.create_subprocess_exec(
            *container["command"], *container.get("args", []), cwd=cwd, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        pod.started = time.time()
        running = {"running": {"startedAt": _now()}}
        await self._patch_pod(pod, {"phase": "Running", "startTime": _now(), **self._container(pod, running)})
        assert pod.proc.stdout is not None
        async for raw in pod.proc.stdout:
            pod.lines.append((time.time(), raw.decode("utf-8", "replace").rstrip("\n")))
            pod.changed.set()
        code = await pod.proc.wait()
        pod.exit_code = code if code >= 0 else 128 - code  # killed by a signal: 128 + its number
        pod.ended = True
        pod.changed.set()
        shutil.rmtree(pod.folder, ignore_errors=True)
        if pod.job in self.deleted_jobs:
            await self._delete_pod(pod)
            return
        terminated = {
            "exitCode": pod.exit_code,
            "reason": "Completed" if code == 0 else "Error",
            "finishedAt": _now(),
        }
        phase = "Succeeded" if code == 0 else "Failed"
        await self._patch_pod(pod, {"phase": phase, **self._container(pod, {"terminated": terminated})})
        if code != 0:
            self.failed.setdefault(pod.job, []).append(pod)

    async def _delete_pod(self, pod: _Pod) -> None:
        pod.removed = True
        async with self.http.delete(f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}") as reply:
            await reply.read()

    def _container(self, pod: _Pod, state: dict[str, Any]) -> dict[str, Any]:
        image = pod.spec["containers"][0].get("image", "")
        ready = "running" in state
        status = {
            "name": "runner",
            "ready": ready,
            "restartCount": 0,
            "image": image,
            "imageID": f"stand-in://{image}",
        }
        return {"containerStatuses": [{**status, "state": state}]}

    async def _patch_pod(self, pod: _Pod, status: dict[str, Any]) -> None:
        await self._patch(f"/api/v1/namespaces/{pod.namespace}/pods/{pod.name}", {"status": status})

    async def _signal(self, pod: _Pod, signum: int) -> None:
        if pod.proc is not None and pod.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pod.proc.pid, signum)

    async def _terminate(self, pod: _Pod) -> None:
        """SIGTERM, then SIGKILL after the pod's terminationGracePeriodSeconds (as a kubelet stops a pod)."""
        if pod.terminating:
            return
        pod.terminating = True
        if pod.proc is not None and pod.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pod.proc.pid, signal.SIGTERM)  # the container's main process, as the runtime does

        async def kill_later() -> None:
            await asyncio.sleep(float(pod.spec.get("terminationGracePeriodSeconds", 30)))
            await self._signal(pod, signal.SIGKILL)

        self._tasks.add(asyncio.ensure_future(kill_later()))

    async def _evict(self, run_id: str) -> str:
        pod = next(p for p in self.pods.values() if p.spec and not p.ended and p.job == f"nblift-{run_id}")
        pod.disrupted = True
        condition = {"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                     "message": "Eviction API: evicting", "lastTransitionTime": _now()}  # fmt: skip
        await self._patch_pod(pod, {"conditions": [condition]})
        await self._terminate(pod)
        return pod.name

    def evict(self, run_id: str) -> str:
        """Evict the running pod of `run_id`'s Job; returns its name."""
        return str(self.call(self._evict(run_id)))

    def pods_of(self, run_id: str) -> list[_Pod]:
        return [p for p in self.pods.values() if p.job == f"nblift-{run_id}"]

    # -- pods/NAME/log ---------------------------------------------------------------------------------

    def _serve_log(self, request: Any) -> Any:
        match = _LOG_PATH.fullmatch(request.url.path)
        assert match is not None
        pod = self.pods.get(match["name"])
        params = request.params
        follow = params.get("follow") in ("true", "True", "1")
        stamps = params.get("timestamps") in ("true", "True", "1")
        since = float(params["sinceSeconds"]) if params.get("sinceSeconds") else None
        drop_after = self.drop_logs_after

        async def lines() -> Any:
            yield b""  # the headers go out at once
            if pod is None:
                return
            sent, index = 0, 0
            begin = time.time() - since if since is not None else 0.0
            while True:
                while index < len(pod.lines):
                    at, text = pod.lines[index]
                    index += 1
                    if at < begin:
                        continue
                    yield (f"{_stamp(at)} {text}" if stamps else text).encode() + b"\n"
                    sent += 1
                    if follow and drop_after is not None and sent >= drop_after:
                        self.drop_logs_after = None  # once: the next stream goes on to the end
                        self.dropped += 1
                        return
                if not follow or pod.ended:
                    return
                pod.changed.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(pod.changed.wait(), 1.0)

        return lines()
