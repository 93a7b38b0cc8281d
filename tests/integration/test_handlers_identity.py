"""One identity per person in the audit trail: a real name from Jupyter's identity provider when it has one,
else the name the magics and the CLI record (never the anonymous hex id a shared-token server makes up)."""

from __future__ import annotations

import json

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from test_handlers import body_of
from test_handlers_registry import registered  # noqa: F401 - the fixture

from nblift.identity import actor, jupyter_name
from nblift.registry import audit

pytestmark = pytest.mark.integration


class NamedIdentity(IdentityProvider):
    """A provider that knows who the token's holder is (as JupyterHub's does)."""

    def generate_anonymous_user(self, handler):
        return User(username="dana", name="Dana Scully", display_name="Dana Scully", initials="DS")


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"nblift": True}, "identity_provider_class": NamedIdentity}}


async def test_an_approval_is_recorded_under_jupyters_real_name(jp_fetch, registered, monkeypatch):  # noqa: F811
    project, version = registered
    monkeypatch.setenv("NBLIFT_USER", "bob")
    one = ("nblift", "api", "registry", "models", version.name, "versions", "1")
    approved = body_of(await jp_fetch(*one, "approve", method="POST", body=json.dumps({"alias": "champion"})))
    assert approved["who"] == "dana"
    assert [e["who"] for e in audit.entries(project, version.name, "1")] == ["alice", "dana"]


def test_an_anonymous_jupyter_user_falls_back_to_the_local_name(monkeypatch):
    monkeypatch.setenv("NBLIFT_USER", "data-scientist")
    anonymous = User(
        username="16da0fefd63c4b0e9a4d2a8c5f1e7b3d", name="Anonymous Io", display_name="Anonymous Io"
    )
    assert jupyter_name(anonymous) is None
    assert actor(anonymous) == actor(None) == "data-scientist"
    assert actor(User(username="dana", name="Dana Scully")) == "dana"
    monkeypatch.delenv("NBLIFT_USER")
    monkeypatch.setenv("JUPYTERHUB_USER", "hub-dana")
    assert actor(anonymous) == "hub-dana"
