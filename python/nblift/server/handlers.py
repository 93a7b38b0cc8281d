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
from ..errors import InvalidInput, NbliftError, NotFound, TooLarge
from ..project import Project
from .bodies import EmptyBody, KernelBody, LaunchBody, ResumeBody, read_body
from .paths import resolve_inside

API_VERSION = 1
PREFIX = "/nblift/api"
T = TypeVar("T")
# Query parameters whose values never reach a log (the keys jupyter_server's access log scrubs, and more).
#: The largest JSON body a route reads (the bodies are small forms: a notebook path, parameters, a reason).
MAX_JSON_BODY = 1 << 20
MAX_MESSAGE = 500
_SECRET_PARAM = re.compile(r"([?&][^=&#]*(?:token|auth|key|code|state|xsrf|secret|pass)[^=&#]*=)[^&#]*", re.I)


class BaseHandler(ExtensionHandlerMixin, APIHandler):
    """One error mapping and one way to find the project for every nblift route."""

    auth_resource = "nblift"
    #: The typed JSON body a POST takes (published as its requestBody in openapi.json).
    post_body: type = EmptyBody

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, NbliftError):
            message = exc.message  # a message that quotes an over-long input is cut, not echoed whole
            if len(message) > MAX_MESSAGE:
                message = message[: MAX_MESSAGE - 3] + "..."
            reply = {"message": message, "reason": type(exc).__name__, "hint": exc.hint}
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

    def body(self) -> Any:
        """The request body read as this route's typed body (`post_body`, see bodies.py), or a 4xx."""
        return read_body(self.post_body, self.json_body())

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object ({} when empty), or a 4xx that says what to send."""
        raw = self.request.body or b""
        if len(raw) > MAX_JSON_BODY:
            raise TooLarge(
                f"the request body is {len(raw)} bytes; nblift reads at most {MAX_JSON_BODY}",
                hint="send only the fields the route takes",
            )
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(
                "the request body is not UTF-8 text", hint="send a JSON object encoded as UTF-8"
            ) from None
        except (ValueError, RecursionError):
            raise InvalidInput("the request body is not JSON", hint="send a JSON object") from None
        if not isinstance(data, dict):
            raise InvalidInput(
                "the request body must be a JSON object", hint="send {...}, not a list or a value"
            )
        return data


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
        from ..status import collect_status
        from .kernels import kernel_location

        project = self.project()
        kernel_id = self.get_query_argument("kernel", None)
        where = None if kernel_id is None else kernel_location(self.kernel_manager, kernel_id)
        self.reply((await self.off_loop(lambda: collect_status(project, where))).to_json())


class FsckHandler(BaseHandler):
    auth_resource = "nblift:store"

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        self.body()
        from ..fsck import fsck
        from ..store import ObjectStore

        project = self.project()
        self.reply((await self.off_loop(lambda: fsck(ObjectStore(project.state_dir)))).to_json())


class GcHandler(BaseHandler):
    auth_resource = "nblift:store"

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        self.body()
        from ..collect import collect_garbage
        from ..store import ObjectStore

        project = self.project()
        grace = project.settings.gc_grace_seconds
        result = await self.off_loop(lambda: collect_garbage(ObjectStore(project.state_dir), grace))
        self.reply(dataclasses.asdict(result))


class SnapshotsHandler(BaseHandler):
    auth_resource = "nblift:snapshots"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..snapshot.manifest import list_manifests
        from ..snapshot.render import summary_json

        project = self.project()
        found = await self.off_loop(lambda: list_manifests(project.state_dir))
        self.reply({"snapshots": [summary_json(m) for m in found]})


class SnapshotDiffHandler(BaseHandler):
    auth_resource = "nblift:snapshots"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..snapshot.diff import diff_snapshots
        from ..snapshot.manifest import check_id
        from ..snapshot.render import diff_json
        from ..store import ObjectStore

        a = check_id(self.get_argument("a", ""))
        b = check_id(self.get_argument("b", ""))
        project = self.project()
        self.reply(
            diff_json(await self.off_loop(lambda: diff_snapshots(ObjectStore(project.state_dir), a, b)))
        )


class SnapshotHandler(BaseHandler):
    auth_resource = "nblift:snapshots"

    @tornado.web.authenticated
    @authorized
    async def get(self, sid: str) -> None:
        from ..snapshot.manifest import load_with_trust
        from ..snapshot.render import summary_json

        project = self.project()
        self.reply(summary_json(await self.off_loop(lambda: load_with_trust(project.state_dir, sid))))


class SnapshotTrustHandler(BaseHandler):
    auth_resource = "nblift:snapshots"

    @tornado.web.authenticated
    @authorized
    async def post(self, sid: str) -> None:
        self.body()
        from ..snapshot.manifest import trust
        from ..snapshot.render import trusted_message
        from ..store import ObjectStore

        project = self.project()
        manifest = await self.off_loop(lambda: trust(ObjectStore(project.state_dir), sid))
        self.reply({"message": trusted_message(manifest)})


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
        from ..environment.diff import env_diff

        project = self.project()
        self.reply({"diff": (await self.off_loop(lambda: env_diff(project, *sides))).to_json()})


class KernelEnvHandler(BaseHandler):
    """The environment of the notebook's kernel (`?kernel=` its id), read by a helper process in the kernel's
    interpreter, and its drift against the project's lock (null without a lock)."""

    auth_resource = "nblift:environments"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..environment.diff import env_diff
        from ..errors import NotFound
        from .kernels import kernel_environment

        project = self.project()
        kernel_id = self.get_argument("kernel", "")
        env = await self.off_loop(lambda: kernel_environment(self.kernel_manager, kernel_id))
        try:
            diff = (await self.off_loop(lambda: env_diff(project, "kernel", "lock", env=env))).to_json()
        except NotFound:  # no lock yet: nothing to drift from
            diff = None
        self.reply({"show": env.to_json(), "diff": diff})


class PinHandler(BaseHandler):
    """Lock the environment of the notebook's kernel (`{"kernel": id}`), as `%lift pin` in it would."""

    auth_resource = "nblift:environments"
    post_body = KernelBody

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        from ..environment.lock import pin
        from ..environment.render import pin_text
        from .kernels import kernel_environment

        body: KernelBody = self.body()
        project = self.project()
        result = await self.off_loop(
            lambda: pin(project, env=kernel_environment(self.kernel_manager, body.kernel))
        )
        self.reply({"message": pin_text(result), "pin": result.to_json()})


class PreflightHandler(BaseHandler):
    auth_resource = "nblift:environments"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..environment.preflight import preflight
        from .kernels import kernel_python

        notebook = self.notebook(self.get_argument("path", ""))
        backend = self.get_argument("backend", "") or None  # a run target: its host and environment are asked
        kernel = self.get_argument("kernel", "")  # the notebook's kernel: the API check compares against it
        python = kernel_python(self.kernel_manager, kernel) if kernel else None
        project = Project.discover(notebook)
        result = await self.off_loop(
            lambda: preflight(project, str(notebook), backend=backend, driver=None, kernel_python=python)
        )
        self.reply(result.to_json())


_RUN = r"(?P<run_id>[0-9a-f]{12})"
#: How often the event stream looks for new events, and how often it sends a keep-alive comment.
STREAM_POLL_S = 0.25
STREAM_KEEPALIVE_S = 15.0


class RunsHandler(BaseHandler):
    """GET: this project's runs and the backends a run can go to. POST: launch a run."""

    auth_resource = "nblift:runs"
    post_body = LaunchBody

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
        from ..costs.prices import parse_budget
        from ..identity import actor
        from ..runs import service
        from ..runs.params import check_parameters, parse_duration, parse_texts

        body: LaunchBody = self.body()
        notebook = self.notebook(body.notebook)
        parameters = check_parameters(body.parameters or {}) | parse_texts(body.parameter_text or {})
        timeout = parse_duration(body.timeout)
        backend, submission = body.backend or None, body.submission_id
        budget = parse_budget(body.budget)
        project = Project.discover(notebook)
        user = actor(self.current_user)
        info = await self.off_loop(
            lambda: service.launch(
                project,
                notebook,
                parameters,
                backend=backend,
                timeout=timeout,
                submission_id=submission,
                budget=budget,
                user=user,
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


class RunEstimateHandler(BaseHandler):
    """What a run of a notebook on a target would cost, for the launch dialog (`nblift.costs.estimate`)."""

    auth_resource = "nblift:runs"

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..costs.estimate import estimate_for
        from ..costs.prices import parse_budget

        notebook = self.notebook(self.get_argument("notebook", ""))
        backend = self.get_argument("backend", "") or None
        budget = parse_budget(self.get_argument("budget", ""))
        project = Project.discover(notebook)
        found = await self.off_loop(lambda: estimate_for(project, notebook, backend, budget))
        self.reply(found.to_json())


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

        self.body()
        project = self.project()
        self.reply((await self.off_loop(lambda: service.cancel(project, run_id))).to_json())


class RunResumeHandler(BaseHandler):
    """Continue a stopped run from its last checkpoint as a new run (`nblift run --resume`)."""

    auth_resource = "nblift:runs"
    post_body = ResumeBody

    @tornado.web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        from ..costs.prices import parse_budget
        from ..runs import service
        from ..runs.params import parse_duration

        body: ResumeBody = self.body()
        timeout, budget = parse_duration(body.timeout), parse_budget(body.budget)
        project = self.project()
        info = await self.off_loop(lambda: service.resume(project, run_id, timeout=timeout, budget=budget))
        self.set_status(201)
        self.reply(info.to_json())


class RunFetchHandler(BaseHandler):
    """Copy the run's executed notebook and artifacts into the project; reply with the notebook's path
    relative to the server root, for the UI to open."""

    auth_resource = "nblift:runs"

    @tornado.web.authenticated
    @authorized
    async def post(self, run_id: str) -> None:
        from ..runs import service

        self.body()
        project = self.project()
        path = await self.off_loop(lambda: service.fetch(project, run_id))
        if not path.is_file():  # the outputs folder: the run has not brought its notebook back (yet)
            raise NotFound(
                f"run {run_id} has no executed notebook yet",
                hint="it comes back when the run ends; open it then",
            )
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
        from .. import tracking
        from ..experiments import search

        project = self.project()
        reply = await self.off_loop(lambda: search.list_experiments(project))
        # The experiment this project's runs go into: the view opens on it (snapshot records keep their own).
        self.reply({**reply, "project_experiment": tracking.experiment_name(project)})


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
        (rf"{PREFIX}/env/kernel", KernelEnvHandler),
        (rf"{PREFIX}/env/pin", PinHandler),
        (rf"{PREFIX}/runs", RunsHandler),
        (rf"{PREFIX}/runs/parameters", RunParametersHandler),
        (rf"{PREFIX}/runs/estimate", RunEstimateHandler),
        (rf"{PREFIX}/runs/{_RUN}", RunHandler),
        (rf"{PREFIX}/runs/{_RUN}/events", RunEventsHandler),
        (rf"{PREFIX}/runs/{_RUN}/events/stream", RunEventStreamHandler),
        (rf"{PREFIX}/runs/{_RUN}/cancel", RunCancelHandler),
        (rf"{PREFIX}/runs/{_RUN}/resume", RunResumeHandler),
        (rf"{PREFIX}/runs/{_RUN}/fetch", RunFetchHandler),
        (rf"{PREFIX}/experiments", ExperimentsHandler),
        (rf"{PREFIX}/experiments/(?P<experiment_id>[0-9]{{1,19}})/runs", ExperimentRunsHandler),
        (rf"{PREFIX}/tracking/runs/(?P<mlflow_run_id>[0-9a-f]{{32}})", TrackedRunHandler),
        (rf"{PREFIX}/tracking/compare", CompareHandler),
        *registry_routes(),
        (rf"{PREFIX}/openapi\.json", OpenAPIHandler),
    ]
