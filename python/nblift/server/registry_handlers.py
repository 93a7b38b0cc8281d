"""REST handlers of the Registry panel: models, versions, gates, promotion, approvals, aliases, model cards,
lineage and the audit trail. The person acting is the Jupyter server's logged-in user; state changes are
POSTs (XSRF-checked, and `write` for the authorizer)."""

from __future__ import annotations

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..errors import InvalidInput
from .bodies import AliasBody, CardBody, CheckBody, DecisionBody, PromoteBody
from .handlers import PREFIX, BaseHandler


class RegistryHandler(BaseHandler):
    auth_resource = "nblift:registry"

    def who(self) -> str:
        """Jupyter's real identity of the user, else the name the magics and the CLI record."""
        from ..identity import actor

        return actor(self.current_user)


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

    post_body = AliasBody

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        from ..registry.promote import set_alias

        body: AliasBody = self.body()
        alias, version = body.alias, body.version
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

    post_body = PromoteBody

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str, version: str) -> None:
        from ..registry.promote import promote

        body: PromoteBody = self.body()
        alias, reason = body.alias or "champion", body.override_reason
        project, who = self.project(), self.who()
        result = await self.off_loop(
            lambda: promote(project, name, version, alias, who, override_reason=reason)
        )
        self.reply(result.to_json())


class CheckHandler(RegistryHandler):
    """`{"alias"}`: run the quality gates of the alias's policy for the version ("Run gates"), record their
    verdicts in the audit trail, and evaluate every gate of the policy (nothing is promoted)."""

    post_body = CheckBody

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str, version: str) -> None:
        from ..gates.check import check

        body: CheckBody = self.body()
        alias = body.alias or "champion"
        project, who = self.project(), self.who()
        result = await self.off_loop(lambda: check(project, name, alias, who, version=version))
        self.reply(result.to_json())


class DecisionHandler(RegistryHandler):
    """`{"alias", "reason"?}` approves (or, on /reject, rejects with a reason) the version for the alias."""

    post_body = DecisionBody

    approve = True

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str, version: str) -> None:
        from ..registry.promote import decide

        body: DecisionBody = self.body()
        alias, reason = body.alias or "champion", body.reason
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

    post_body = CardBody

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

        body: CardBody = self.body()
        fields = body.fields
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
        (rf"{one}/check", CheckHandler),
        (rf"{one}/approve", DecisionHandler),
        (rf"{one}/reject", RejectHandler),
        (rf"{one}/card", CardHandler),
        (rf"{base}/audit", AuditHandler),
    ]
