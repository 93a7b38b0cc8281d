"""REST handlers of the Registry panel: models, versions, gates, promotion, approvals, aliases, model cards,
lineage and the audit trail. The person acting is the Jupyter server's logged-in user; state changes are
POSTs (XSRF-checked, and `write` for the authorizer)."""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..errors import InvalidInput
from .handlers import PREFIX, BaseHandler


class RegistryHandler(BaseHandler):
    auth_resource = "nblift:registry"

    def who(self) -> str:
        user = self.current_user
        return str(getattr(user, "username", None) or getattr(user, "name", None) or user or "anonymous")

    def body(self) -> dict[str, Any]:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise InvalidInput("the request body is not JSON", hint="send a JSON object") from None
        if not isinstance(data, dict):
            raise InvalidInput("the request body must be a JSON object", hint='e.g. {"alias": "champion"}')
        return data

    @staticmethod
    def text(data: dict[str, Any], key: str, default: str | None = None) -> str | None:
        value = data.get(key, default)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"{key} must be text", hint=f'send "{key}": "..."')
        return value


class ModelsHandler(RegistryHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..registry.catalog import list_models

        project = self.project()
        self.reply(await self.off_loop(lambda: list_models(project)))


class ModelHandler(RegistryHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        from ..registry.catalog import model_versions

        project = self.project()
        self.reply(await self.off_loop(lambda: model_versions(project, name)))


class AliasHandler(RegistryHandler):
    """Point an ungated alias at a version (`{"alias", "version"}`), or remove it (`"version": null`)."""

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        from ..registry.promote import set_alias

        data = self.body()
        alias = self.text(data, "alias") or ""
        version = data.get("version")
        if version is not None and not isinstance(version, (str, int)):
            raise InvalidInput("version must be a number or null", hint='send "version": "3"')
        project, who = self.project(), self.who()
        self.reply(
            await self.off_loop(
                lambda: set_alias(project, name, None if version is None else str(version), alias, who)
            )
        )


class ModelVersionHandler(RegistryHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        from ..registry.catalog import version_detail

        project = self.project()
        self.reply(await self.off_loop(lambda: version_detail(project, name, version)))


class GatesHandler(RegistryHandler):
    """The gates of `?alias=` (default champion) evaluated for the version, changing nothing."""

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        from ..registry.promote import promote

        project, who, alias = self.project(), self.who(), self.get_argument("alias", "champion")
        result = await self.off_loop(lambda: promote(project, name, version, alias, who, dry_run=True))
        self.reply(result.to_json())


class PromoteHandler(RegistryHandler):
    """`{"alias", "override_reason"?}`: promote when the gates pass, or override them with a reason."""

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str, version: str) -> None:
        from ..registry.promote import promote

        data = self.body()
        alias = self.text(data, "alias", "champion") or "champion"
        reason = self.text(data, "override_reason")
        project, who = self.project(), self.who()
        result = await self.off_loop(
            lambda: promote(project, name, version, alias, who, override_reason=reason)
        )
        self.reply(result.to_json())


class DecisionHandler(RegistryHandler):
    """`{"alias", "reason"?}` approves (or, on /reject, rejects with a reason) the version for the alias."""

    approve = True

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str, version: str) -> None:
        from ..registry.promote import decide

        data = self.body()
        alias = self.text(data, "alias", "champion") or "champion"
        reason = self.text(data, "reason")
        project, who, approve = self.project(), self.who(), self.approve
        self.reply(
            await self.off_loop(
                lambda: decide(project, name, version, alias, who, approve=approve, reason=reason)
            )
        )


class RejectHandler(DecisionHandler):
    approve = False


class CardHandler(RegistryHandler):
    """GET: the card (data, Markdown, HTML). POST `{"fields": {...}}`: fill fields, regenerate and save."""

    @tornado.web.authenticated
    @authorized
    async def get(self, name: str, version: str) -> None:
        from ..registry.card import render

        project = self.project()
        self.reply(await self.off_loop(lambda: render(project, name, version)))

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str, version: str) -> None:
        from ..registry.card import save

        fields = self.body().get("fields", {})
        if not isinstance(fields, dict):
            raise InvalidInput("fields must be an object", hint='send {"fields": {"intended_use": "..."}}')
        project, who = self.project(), self.who()
        self.reply(await self.off_loop(lambda: save(project, name, version, who, fields)))


class AuditHandler(RegistryHandler):
    """The audit trail (newest `limit` entries, one model's with `?model=`) and any damage to it."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        from ..registry import audit

        project = self.project()
        model = self.get_argument("model", "") or None
        limit = self.get_argument("limit", "200")
        if not limit.isdigit():
            raise InvalidInput(f"limit={limit!r} is not a number", hint="ask for e.g. 200 entries")
        self.reply(
            await self.off_loop(
                lambda: {
                    "entries": audit.entries(project, model, limit=int(limit)),
                    "problems": audit.verify(project),
                }
            )
        )


_NAME = r"(?P<name>[^/]+)"
_VERSION = r"(?P<version>[0-9]{1,9})"


def registry_routes() -> list[tuple[str, type[BaseHandler]]]:
    base = f"{PREFIX}/registry"
    one = rf"{base}/models/{_NAME}/versions/{_VERSION}"
    return [
        (rf"{base}/models", ModelsHandler),
        (rf"{base}/models/{_NAME}", ModelHandler),
        (rf"{base}/models/{_NAME}/aliases", AliasHandler),
        (one, ModelVersionHandler),
        (rf"{one}/gates", GatesHandler),
        (rf"{one}/promote", PromoteHandler),
        (rf"{one}/approve", DecisionHandler),
        (rf"{one}/reject", RejectHandler),
        (rf"{one}/card", CardHandler),
        (rf"{base}/audit", AuditHandler),
    ]
