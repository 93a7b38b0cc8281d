"""Following one run's Job on Kubernetes from this process: its Job and pods through the watch API, and the
runner pod's log streamed into the run record (`pod.log`), taken up again after the API server drops it.

One `RunWatch` per run and process, started on first use; its threads are daemons and stop once the Job
has ended and the last pod's log is read. Only one process writes a run's `pod.log` (a file lock).
"""

from __future__ import annotations

import calendar
import contextlib
import datetime
import logging
import threading
import time
from pathlib import Path
from typing import Any

from ..fsutil import file_lock

log = logging.getLogger("nblift")
LOG_FILE = "pod.log"
#: How long one watch request asks the server to stay open before it is made again.
WATCH_TIMEOUT_S = 60
#: Longest wait for the next bytes of a followed log before the stream is opened again.
LOG_READ_TIMEOUT_S = 300
#: Pause before a dropped watch or log stream is opened again.
RECONNECT_S = 0.2
_ENDED_PHASES = ("Succeeded", "Failed")
_watches: dict[tuple[str, str], RunWatch] = {}
_watches_lock = threading.Lock()


def _as_dict(api: Any, obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    data: dict[str, Any] = api.sanitize_for_serialization(obj)
    return data


def job_ended(job: dict[str, Any] | None) -> str | None:
    """ "Complete" or "Failed" once the Job has ended (its conditions say so), else None."""
    for cond in ((job or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return str(cond["type"])
    return None


def _created(pod: dict[str, Any]) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")


def _parse_ts(text: str) -> float:
    """An RFC 3339 timestamp with nanoseconds (as the log API writes them) as seconds since the epoch."""
    base, _, frac = text.rstrip("Z").partition(".")
    whole = calendar.timegm(datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").timetuple())
    return whole + (float(f"0.{frac}") if frac else 0.0)


class RunWatch:
    """The Job `job` in `namespace` and the pods labelled with its run, as the API server last said."""

    def __init__(self, api: Any, namespace: str, job: str, selector: str, record_dir: Path) -> None:
        self.api, self.namespace, self.job_name, self.selector = api, namespace, job, selector
        self.record_dir = record_dir
        self.job: dict[str, Any] | None = None
        self.job_gone = False
        self.pods: dict[str, dict[str, Any]] = {}
        self.synced = threading.Event()  # the first listing of pods and Job is in
        self.stopped = threading.Event()
        self.lock = threading.Lock()
        self.log_done = threading.Event()
        for target, name in (
            (self._watch_pods, "pods"),
            (self._watch_job, "job"),
            (self._follow_logs, "logs"),
        ):
            threading.Thread(target=target, name=f"nblift-k8s-{name}-{job}", daemon=True).start()

    # -- watches ---------------------------------------------------------------------------------------

    def _stream(self, list_fn: Any, on_event: Any, **kwargs: Any) -> None:
        from kubernetes import watch

        while not self.stopped.is_set():
            try:
                stream = watch.Watch().stream(
                    list_fn,
                    self.namespace,
                    timeout_seconds=WATCH_TIMEOUT_S,
                    _request_timeout=WATCH_TIMEOUT_S + 5,
                    **kwargs,
                )
                for event in stream:
                    on_event(event["type"], _as_dict(self.api.api_client, event["object"]))
                    if self.stopped.is_set():
                        return
            except Exception as exc:  # noqa: BLE001 - a dropped or refused watch is made again
                log.debug("watch of %s dropped: %s", self.job_name, exc)
            time.sleep(RECONNECT_S)

    def _watch_pods(self) -> None:
        def on_event(kind: str, pod: dict[str, Any]) -> None:
            meta = pod.get("metadata") or {}
            key, _, value = self.selector.partition("=")
            if (meta.get("labels") or {}).get(key) != value:
                return  # a server that ignores the label selector: filtered here
            with self.lock:
                if kind == "DELETED":
                    self.pods.setdefault(meta["name"], pod)["deleted"] = True
                else:
                    self.pods[meta["name"]] = pod

        self._stream(self.api.list_namespaced_pod, on_event, label_selector=self.selector)

    def _watch_job(self) -> None:
        batch = self.api.batch

        def on_event(kind: str, job: dict[str, Any]) -> None:
            if (job.get("metadata") or {}).get("name") != self.job_name:
                return
            with self.lock:
                self.job, self.job_gone = job, kind == "DELETED"
            self.synced.set()
            self._stop_when_over()

        self._stream(batch.list_namespaced_job, on_event, field_selector=f"metadata.name={self.job_name}")

    def _stop_when_over(self) -> None:
        """Once the Job has ended (or is gone) and its pods' logs are read, the watches end."""
        if (self.job_gone or job_ended(self.job)) and self.log_done.is_set():
            self.stopped.set()

    # -- what the watches say ---------------------------------------------------------------------------

    def newest_pod(self) -> dict[str, Any] | None:
        with self.lock:
            pods = [p for p in self.pods.values() if not p.get("deleted")]
        pods.sort(key=_created)
        return pods[-1] if pods else None

    def all_pods(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.pods.values())

    # -- logs ------------------------------------------------------------------------------------------

    def _follow_logs(self) -> None:
        self.record_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self.record_dir / "pod-log.lock", blocking=False) as held:
            if not held:
                self.log_done.set()
                return  # another process writes this run's log
            done: set[str] = set()
            with (self.record_dir / LOG_FILE).open("a", encoding="utf-8") as out:
                while not self.stopped.is_set():
                    pod = next(
                        (
                            p
                            for p in sorted(
                                self.all_pods(), key=lambda p: p["metadata"].get("creationTimestamp") or ""
                            )
                            if p["metadata"]["name"] not in done
                            and (p.get("status") or {}).get("phase") in ("Running", *_ENDED_PHASES)
                        ),
                        None,
                    )
                    if pod is None:
                        if self.job_gone or (
                            job_ended(self.job)
                            and all(
                                p["metadata"]["name"] in done or p.get("deleted") for p in self.all_pods()
                            )
                        ):
                            break
                        time.sleep(RECONNECT_S)
                        continue
                    name = pod["metadata"]["name"]
                    out.write(f"--- pod {name} ---\n")
                    out.flush()
                    self._log_of(name, out)
                    done.add(name)
        self.log_done.set()
        self._stop_when_over()

    def _pod_over(self, name: str) -> bool:
        with self.lock:
            pod = self.pods.get(name) or {}
        return bool(pod.get("deleted")) or (pod.get("status") or {}).get("phase") in _ENDED_PHASES

    def _log_of(self, name: str, out: Any) -> None:
        """Stream pod `name`'s log into `out` until the pod has ended and its log is read; a stream the
        server drops is opened again from the last line written (`sinceSeconds`, lines at or before the last
        timestamp skipped)."""
        last: str | None = None
        pending = b""
        while not self.stopped.is_set():
            ended_before = self._pod_over(name)
            kwargs: dict[str, Any] = {}
            if last is not None:
                kwargs["since_seconds"] = max(1, int(time.time() - _parse_ts(last)) + 2)
            try:
                reply = self.api.read_namespaced_pod_log(
                    name,
                    self.namespace,
                    container="runner",
                    follow=True,
                    timestamps=True,
                    _preload_content=False,
                    _request_timeout=(5, LOG_READ_TIMEOUT_S),
                    **kwargs,
                )
                for chunk in reply.stream(4096):
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        text = line.decode("utf-8", "replace")
                        stamp, _, body = text.partition(" ")
                        if last is not None and stamp <= last:
                            continue  # already written before the stream was dropped
                        last = stamp
                        out.write(body + "\n")
                    out.flush()
                pending = b""
            except Exception as exc:  # noqa: BLE001 - a dropped stream (or a pod gone) is looked at again
                log.debug("log stream of %s dropped: %s", name, exc)
            if ended_before or (self._pod_over(name) and self._drained(name, last)):
                return
            time.sleep(RECONNECT_S)

    def _drained(self, name: str, last: str | None) -> bool:
        """After the pod ended: one more read (no follow) shows whether lines came after `last`."""
        with contextlib.suppress(Exception):
            text = self.api.read_namespaced_pod_log(name, self.namespace, container="runner", timestamps=True)
            stamps = [line.partition(" ")[0] for line in str(text).splitlines() if line]
            return not stamps or (last is not None and stamps[-1] <= last)
        return True


class Api:
    """The API groups one run uses, from one ApiClient."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.batch = client.BatchV1Api(api_client)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.core, name)


def watch_for(api: Api, namespace: str, job: str, selector: str, record_dir: Path) -> RunWatch:
    """This process's watch of `job` (started on first use)."""
    key = (namespace, job)
    with _watches_lock:
        found = _watches.get(key)
        if found is None or found.stopped.is_set():
            found = _watches[key] = RunWatch(api, namespace, job, selector, record_dir)
    return found


def forget(namespace: str, job: str) -> None:
    with _watches_lock:
        found = _watches.pop((namespace, job), None)
    if found is not None:
        found.stopped.set()
