"""REST handlers. Each one parses the request, calls one core function off the event loop and writes JSON.

Every route is authenticated (`@tornado.web.authenticated`) and authorized (`@authorized` with an
`auth_resource` of `nblift:<thing>`); state changes only on POST (XSRF-checked by jupyter_server);
errors are JSON `{"message", "reason", "hint"}` with a 4xx status for bad input.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

import tornado.iostream
import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin

from .. import __version__
from ..commands import VERBS, Context, default_args
from ..errors import InvalidInput, NbliftError
from ..project import Project
from .paths import resolve_inside

API_VERSION = 1
PREFIX = "/nblift/api"
T = TypeVar("T")
# Query parameters whose values never reach a log (the keys jupyter_server's access log scrubs, and more).
_SECRET_PARAM = re.compile(r"([?&][^=&#]*(?:token|auth|key|code|state|xsrf|secret|pass)[^=&#]*=)[^&#]*", re.I)


class BaseHandler(ExtensionHandlerMixin, APIHandler):
    """One error mapping and one way to find the project for every nblift route."""

    auth_resource = "nblift"

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, NbliftError):
            reply = {"message": exc.message, "reason": type(exc).__name__, "hint": exc.hint}
        elif isinstance(exc, tornado.web.HTTPError):
            reply = {"message": exc.log_message or self._reason, "reason": exc.reason, "hint": None}
        else:
            reply = {"message": "internal error in nblift; see the server log", "reason": None, "hint": None}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(reply))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, NbliftError):
            self.send_error(e.status_code, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)  # type: ignore[arg-type]

    def _request_summary(self) -> str:
        """The request line tornado logs beside an error (e.g. a failed XSRF check), secrets scrubbed.

        jupyter_server scrubs `?token=` from its access log but not from these warnings.
        """
        uri = _SECRET_PARAM.sub(r"\1[secret]", self.request.uri or "")
        return f"{self.request.method} {uri} ({self.request.remote_ip})"

    def project(self) -> Project:
        """The project of the notebook or folder named by `?path=` (relative to the server root)."""
        root = Path(self.settings["server_root_dir"]).expanduser()
        return Project.discover(resolve_inside(root, self.get_argument("path", "")))

    async def off_loop(self, fn: Callable[[], T]) -> T:
        """Run blocking core work in a thread so the server keeps answering."""
        return await asyncio.to_thread(fn)

    def notebook(self, value: object) -> Path:
        """The saved notebook at `value` (relative to the server root), or InvalidInput."""
        if not isinstance(value, str) or not value.endswith(".ipynb"):
            raise InvalidInput(
                "name a notebook", hint="pass the path of a .ipynb file relative to the server root"
            )
        root = Path(self.settings["server_root_dir"]).expanduser()
        notebook = resolve_inside(root, value)
        if not notebook.is_file():
            raise InvalidInput(f"no notebook at {value}", hint="save the notebook first")
        return notebook

    def reply(self, data: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    async def _verb(self, name: str, *extra: str) -> Any:
        """Run a verb of the shared table with default options (plus `extra` arguments) for this request."""
        verb = VERBS[name]
        ctx = Context(resolved=self.project())
        args = default_args(name, *extra)
        return verb.json(await self.off_loop(lambda: verb.run(ctx, args)))


class VersionHandler(BaseHandler):
    auth_resource = "nblift:version"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"version": __version__, "api": API_VERSION})


class StatusHandler(BaseHandler):
    auth_resource = "nblift:status"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await self._verb("status"))


class FsckHandler(BaseHandler):
    auth_resource = "nblift:store"

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        self.reply(await self._verb("fsck"))


class GcHandler(BaseHandler):
    auth_resource = "nblift:store"

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        self.reply(await self._verb("gc"))


class SnapshotsHandler(BaseHandler):
    auth_resource = "nblift:snapshots"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await self._verb("snapshots", "list"))


class SnapshotDiffHandler(BaseHandler):
    auth_resource = "nblift:snapshots"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..snapshot.manifest import check_id

        a = check_id(self.get_argument("a", ""))
        b = check_id(self.get_argument("b", ""))
        self.reply(await self._verb("snapshots", "diff", a, b))


class SnapshotHandler(BaseHandler):
    auth_resource = "nblift:snapshots"

    @tornado.web.authenticated
    @authorized
    async def get(self, sid: str) -> None:
        self.reply(await self._verb("snapshots", "show", sid))


class SnapshotTrustHandler(BaseHandler):
    auth_resource = "nblift:snapshots"

    @tornado.web.authenticated
    @authorized
    async def post(self, sid: str) -> None:
        self.reply(await self._verb("snapshots", "trust", sid))


_ENV_SIDE = re.compile(r"^(lock|[0-9a-f]{4,12})$")


class EnvLockHandler(BaseHandler):
    auth_resource = "nblift:environments"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..environment.lock import read_lock

        project = self.project()
        lock = await self.off_loop(lambda: read_lock(project.root))
        self.reply(dataclasses.asdict(lock))


class EnvDiffHandler(BaseHandler):
    """Drift between the lock and recorded environments. The kernel's own environment is read in the kernel
    (`%lift --json env diff`): this server's interpreter is not the kernel's."""

    auth_resource = "nblift:environments"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        sides = [self.get_argument(k, "") for k in ("a", "b")]
        for side in sides:
            if not _ENV_SIDE.match(side):
                raise InvalidInput(f"cannot compare {side!r}", hint="use `lock` or a snapshot id")
        self.reply(await self._verb("env", "--no-gpu", "diff", *sides))


class PreflightHandler(BaseHandler):
    auth_resource = "nblift:environments"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        notebook = self.notebook(self.get_argument("path", ""))
        backend = self.get_argument("backend", "")  # a run target: its GPU driver is asked for
        extra = ["--backend", backend] if backend else []
        self.reply(await self._verb("preflight", "--notebook", str(notebook), *extra))


_RUN = r"(?P<run_id>[0-9a-f]{12})"
#: How often the event stream looks for new events, and how often it sends a keep-alive comment.
STREAM_POLL_S = 0.25
STREAM_KEEPALIVE_S = 15.0


class RunsHandler(BaseHandler):
    """GET: this project's runs and the backends a run can go to. POST: launch a run."""

    auth_resource = "nblift:runs"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..runs import service

        project = self.project()
        runs = await self.off_loop(lambda: service.list_runs(project))
        backends = await self.off_loop(lambda: service.launch_targets(project))
        self.reply(
            {
                "runs": [r.to_json() for r in runs],
                "backends": backends,
                "default_backend": project.settings.default_backend,
            }
        )

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        from ..runs import service
        from ..runs.params import check_parameters, parse_duration

        body = self.get_json_body() or {}
        if not isinstance(body, dict):
            raise InvalidInput("the request body must be a JSON object", hint='e.g. {"notebook": "a.ipynb"}')
        notebook = self.notebook(body.get("notebook"))
        parameters = check_parameters(body.get("parameters") or {})
        timeout = parse_duration(body.get("timeout"))
        backend = body.get("backend") or None
        if backend is not None and not isinstance(backend, str):
            raise InvalidInput("backend must be a name", hint="see `backends` in GET /nblift/api/runs")
        submission = body.get("submission_id")
        project = Project.discover(notebook)
        info = await self.off_loop(
            lambda: service.launch(
                project, notebook, parameters, backend=backend, timeout=timeout, submission_id=submission
            )
        )
        self.set_status(201)
        self.reply(info.to_json())


class RunParametersHandler(BaseHandler):
    """The parameters a notebook declares (its cell tagged `parameters`), for the launch dialog."""

    auth_resource = "nblift:runs"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..runs import service

        notebook = self.notebook(self.get_argument("notebook", ""))
        self.reply({"parameters": await self.off_loop(lambda: service.notebook_parameters(notebook))})


class RunHandler(BaseHandler):
    auth_resource = "nblift:runs"

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        from ..runs import service

        project = self.project()
        self.reply((await self.off_loop(lambda: service.get_run(project, run_id))).to_json())


class RunEventsHandler(BaseHandler):
    """Events after byte offset `after`, the offset to ask from next time, and the run as it is now."""

    auth_resource = "nblift:runs"

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        from ..runs import service

        project = self.project()
        after = self._offset()
        found, offset, info = await self.off_loop(lambda: service.events(project, run_id, after))
        self.reply({"events": found, "next": offset, "run": info.to_json()})

    def _offset(self) -> int:
        raw = self.get_argument("after", "") or self.request.headers.get("Last-Event-ID", "") or "0"
        if not raw.isdigit():
            raise InvalidInput(
                f"after={raw!r} is not an offset", hint="pass the `next` of the previous reply"
            )
        return int(raw)


class RunEventStreamHandler(RunEventsHandler):
    """Server-sent events: each run event as `event: <kind>`, `id: <offset>`; `event: end` when terminal."""

    @tornado.web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        from ..runs import service
        from ..runs.model import RunState

        project = self.project()
        offset = self._offset()
        await self.off_loop(lambda: service.get_run(project, run_id))  # 404 before the stream starts
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        quiet = 0.0
        while True:
            found, offset, info = await self.off_loop(
                lambda after=offset: service.events(project, run_id, after)  # type: ignore[misc]
            )
            for event in found:
                self.write(
                    f"id: {offset}\nevent: {event.get('kind', 'message')}\ndata: {json.dumps(event)}\n\n"
                )
            if found:
                quiet = 0.0
            elif quiet >= STREAM_KEEPALIVE_S:
                self.write(": keep-alive\n\n")
                quiet = 0.0
            try:
                await self.flush()
            except tornado.iostream.StreamClosedError:
                return  # the client went away; the run goes on
            if RunState(info.state).terminal and not found:
                self.write(f"id: {offset}\nevent: end\ndata: {json.dumps(info.to_json())}\n\n")
                self.finish()
                return
            await asyncio.sleep(STREAM_POLL_S)
            quiet += STREAM_POLL_S


class RunCancelHandler(BaseHandler):
    auth_resource = "nblift:runs"

    @tornado.web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        from ..runs import service

        project = self.project()
        self.reply((await self.off_loop(lambda: service.cancel(project, run_id))).to_json())


class RunFetchHandler(BaseHandler):
    """Copy the run's executed notebook and artifacts into the project; reply with the notebook's path
    relative to the server root, for the UI to open."""

    auth_resource = "nblift:runs"

    @tornado.web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        from ..runs import service

        project = self.project()
        path = await self.off_loop(lambda: service.fetch(project, run_id))
        root = Path(self.settings["server_root_dir"]).expanduser().resolve()
        resolved = path.resolve()
        relative = resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else None
        self.reply({"path": relative})


class ExperimentsHandler(BaseHandler):
    """The project's MLflow experiments with their run counts."""

    auth_resource = "nblift:experiments"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..experiments import search

        project = self.project()
        self.reply(await self.off_loop(lambda: search.list_experiments(project)))


class ExperimentRunsHandler(BaseHandler):
    """One page of an experiment's runs: MLflow filter syntax, order, page size and token."""

    auth_resource = "nblift:experiments"

    @tornado.web.authenticated
    @authorized
    async def get(self, experiment_id: str) -> None:
        from ..experiments import search

        project = self.project()
        size = self.get_argument("page_size", "50")
        if not size.isdigit():
            raise InvalidInput(f"page_size={size!r} is not a number", hint="ask for 1 to 500 runs")
        page = await self.off_loop(
            lambda: search.search_runs(
                project,
                experiment_id,
                self.get_argument("filter", ""),
                self.get_argument("order_by", "") or None,
                int(size),
                self.get_argument("page_token", "") or None,
            )
        )
        self.reply(page)


class TrackedRunHandler(BaseHandler):
    """One MLflow run: params, metrics, all tags, artifacts and where it came from."""

    auth_resource = "nblift:experiments"

    @tornado.web.authenticated
    @authorized
    async def get(self, mlflow_run_id: str) -> None:
        from ..experiments import search

        project = self.project()
        self.reply(await self.off_loop(lambda: search.run_detail(project, mlflow_run_id)))


class CompareHandler(BaseHandler):
    """Runs side by side: parameters (which differ) and metric curves."""

    auth_resource = "nblift:experiments"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..experiments import search

        project = self.project()
        ids = [i for i in self.get_argument("ids", "").split(",") if i]
        self.reply(await self.off_loop(lambda: search.compare(project, ids)))


@cache
def openapi_document() -> dict[str, Any]:
    return json.loads(files("nblift.server").joinpath("openapi.json").read_text())


class OpenAPIHandler(BaseHandler):
    auth_resource = "nblift:api"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(openapi_document())


def route_table() -> list[tuple[str, type[BaseHandler]]]:
    from .registry_handlers import registry_routes

    return [
        (rf"{PREFIX}/version", VersionHandler),
        (rf"{PREFIX}/status", StatusHandler),
        (rf"{PREFIX}/store/fsck", FsckHandler),
        (rf"{PREFIX}/store/gc", GcHandler),
        (rf"{PREFIX}/snapshots", SnapshotsHandler),
        (rf"{PREFIX}/snapshots/diff", SnapshotDiffHandler),
        (rf"{PREFIX}/snapshots/(?P<sid>[0-9a-f]{{4,12}})", SnapshotHandler),
        (rf"{PREFIX}/snapshots/(?P<sid>[0-9a-f]{{4,12}})/trust", SnapshotTrustHandler),
        (rf"{PREFIX}/env/lock", EnvLockHandler),
        (rf"{PREFIX}/env/diff", EnvDiffHandler),
        (rf"{PREFIX}/env/preflight", PreflightHandler),
        (rf"{PREFIX}/runs", RunsHandler),
        (rf"{PREFIX}/runs/parameters", RunParametersHandler),
        (rf"{PREFIX}/runs/{_RUN}", RunHandler),
        (rf"{PREFIX}/runs/{_RUN}/events", RunEventsHandler),
        (rf"{PREFIX}/runs/{_RUN}/events/stream", RunEventStreamHandler),
        (rf"{PREFIX}/runs/{_RUN}/cancel", RunCancelHandler),
        (rf"{PREFIX}/runs/{_RUN}/fetch", RunFetchHandler),
        (rf"{PREFIX}/experiments", ExperimentsHandler),
        (rf"{PREFIX}/experiments/(?P<experiment_id>[0-9]{{1,19}})/runs", ExperimentRunsHandler),
        (rf"{PREFIX}/tracking/runs/(?P<mlflow_run_id>[0-9a-f]{{32}})", TrackedRunHandler),
        (rf"{PREFIX}/tracking/compare", CompareHandler),
        *registry_routes(),
        (rf"{PREFIX}/openapi\.json", OpenAPIHandler),
    ]
