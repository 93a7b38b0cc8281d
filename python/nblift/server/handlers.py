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
        root = Path(self.settings["server_root_dir"]).expanduser()
        notebook = resolve_inside(root, self.get_argument("path", ""))
        if notebook.suffix != ".ipynb":
            raise InvalidInput("preflight needs a notebook", hint="pass ?path=<notebook>.ipynb")
        self.reply(await self._verb("preflight", "--notebook", str(notebook)))


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
        (rf"{PREFIX}/openapi\.json", OpenAPIHandler),
    ]
