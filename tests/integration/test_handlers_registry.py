"""REST routes of the Registry panel: shapes as documented, the logged-in user as the one who approves and
promotes, gated aliases only through promotion, bad input refused with a hint and nothing changed."""

from __future__ import annotations

import json

import pytest
from test_handlers import body_of, openapi_doc, response_validator
from tornado.httpclient import HTTPClientError

from nblift import tracking
from nblift.project import Project
from nblift.registry import audit
from nblift.registry.register import register

pytestmark = pytest.mark.integration

BASE = "/nblift/api/registry"


@pytest.fixture
def registered(jp_root_dir, monkeypatch):
    from sklearn.datasets import load_iris
    from sklearn.tree import DecisionTreeClassifier

    monkeypatch.setenv("NBLIFT_USER", "alice")
    (jp_root_dir / "pyproject.toml").write_text(
        # no MLflow autologging: it is global to this test process and would outlive the test
        '[tool.nblift]\nautolog = false\n[tool.nblift.promotion.champion]\nmetrics = ["accuracy >= 0.5"]\n'
        "approvals = 1\n"
    )
    project = Project.discover(jp_root_dir, environ={})
    X, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(max_depth=2).fit(X, y)
    with tracking_run(project) as run_id:
        tracking.client(project).log_metric(run_id, "accuracy", 0.9)
        return project, register(project, model, "iris model", input_example=X[:3])


def tracking_run(project):
    from nblift.experiments.track import track

    return track("train", project=project)


async def post(jp_fetch, *parts, body, **kw):
    return await jp_fetch(*parts, method="POST", body=json.dumps(body), **kw)


async def refused(call, code: int) -> dict:
    with pytest.raises(HTTPClientError) as info:
        await call
    assert info.value.code == code
    reply = json.loads(info.value.response.body)
    assert reply["message"] and reply["hint"]
    return reply


async def test_list_detail_gates_approve_promote_card_audit(jp_fetch, registered, monkeypatch):
    project, version = registered
    monkeypatch.setenv("NBLIFT_USER", "bob")  # a second person, at the same server
    doc = openapi_doc()
    name = version.name

    def check(path: str, method: str, data: dict) -> dict:
        response_validator(doc, path, method, 200).validate(data)
        return data

    models = check(f"{BASE}/models", "get", body_of(await jp_fetch("nblift", "api", "registry", "models")))
    assert [m["name"] for m in models["models"]] == ["iris model"] and models["gated_aliases"] == ["champion"]
    versions = check(
        f"{BASE}/models/{{name}}", "get", body_of(await jp_fetch("nblift", "api", "registry", "models", name))
    )
    assert [v["version"] for v in versions["versions"]] == ["1"] and versions["versions"][0][
        "flavor"
    ] == "sklearn"
    one = ("nblift", "api", "registry", "models", name, "versions", "1")
    detail = check(f"{BASE}/models/{{name}}/versions/{{version}}", "get", body_of(await jp_fetch(*one)))
    assert detail["metrics"] == {"accuracy": 0.9} and detail["registered_by"] == "alice"
    assert {n["kind"] for n in detail["lineage"]["nodes"]} >= {"version", "run"}

    gates = check(
        f"{BASE}/models/{{name}}/versions/{{version}}/gates",
        "get",
        body_of(await jp_fetch(*one, "gates", params={"alias": "champion"})),
    )
    assert [(g["kind"], g["passed"]) for g in gates["gates"]] == [("metric", True), ("approvals", False)]
    assert not gates["promoted"]

    approved = body_of(await post(jp_fetch, *one, "approve", body={"alias": "champion"}))
    response_validator(doc, f"{BASE}/models/{{name}}/versions/{{version}}/approve", "post", 200).validate(
        approved
    )
    # a shared-token server knows only an anonymous generated user (a hex id): the approval is recorded
    # under the name the magics and the CLI use for this person, one identity in every door
    assert approved["who"] == "bob" and approved["action"] == "approve"

    promoted = body_of(await post(jp_fetch, *one, "promote", body={"alias": "champion"}))
    response_validator(doc, f"{BASE}/models/{{name}}/versions/{{version}}/promote", "post", 200).validate(
        promoted
    )
    assert promoted["promoted"] and promoted["passed"] and not promoted["overridden"]
    assert str(tracking.client(project).get_model_version_by_alias("iris model", "champion").version) == "1"

    # gated aliases move only through promotion; ungated ones move and go
    aliases = ("nblift", "api", "registry", "models", name, "aliases")
    await refused(post(jp_fetch, *aliases, body={"alias": "champion", "version": "1"}), 400)
    moved = body_of(await post(jp_fetch, *aliases, body={"alias": "challenger", "version": 1}))
    assert moved == {"name": "iris model", "alias": "challenger", "version": "1", "previous": None}
    removed = body_of(await post(jp_fetch, *aliases, body={"alias": "challenger", "version": None}))
    assert removed["version"] is None and removed["previous"] == "1"

    card = body_of(
        await post(jp_fetch, *one, "card", body={"fields": {"limitations": "<script>x()</script>"}})
    )
    response_validator(doc, f"{BASE}/models/{{name}}/versions/{{version}}/card", "post", 200).validate(card)
    assert "<script>" not in card["html"] and "&lt;script&gt;x()&lt;/script&gt;" in card["html"]
    again = body_of(await jp_fetch(*one, "card"))
    assert again["card"]["fields"]["limitations"] == "<script>x()</script>"

    trail = check(
        f"{BASE}/audit",
        "get",
        body_of(await jp_fetch("nblift", "api", "registry", "audit", params={"model": "iris model"})),
    )
    assert [e["action"] for e in trail["entries"]] == [
        "register",
        "approve",
        "promote",
        "alias",
        "unalias",
        "card",
    ]
    assert trail["problems"] == []


async def test_bad_input_is_refused_and_changes_nothing(jp_fetch, registered):
    project, version = registered
    name = version.name
    one = ("nblift", "api", "registry", "models", name, "versions", "1")
    before = audit.entries(project)
    await refused(jp_fetch("nblift", "api", "registry", "models", "<img src=x onerror=alert(1)>"), 400)
    await refused(jp_fetch("nblift", "api", "registry", "models", "nope"), 404)
    await refused(jp_fetch("nblift", "api", "registry", "models", name, "versions", "7"), 404)
    await refused(post(jp_fetch, *one, "promote", body={"alias": "champion", "override_reason": " "}), 400)
    await refused(post(jp_fetch, *one, "reject", body={"alias": "champion"}), 400)
    await refused(post(jp_fetch, *one, "promote", body={"alias": "not an alias!"}), 400)
    await refused(post(jp_fetch, *one, "approve", body=["champion"]), 400)
    await refused(post(jp_fetch, *one, "card", body={"fields": {"owner": "me"}}), 400)
    await refused(jp_fetch(*one, "promote", method="POST", body="{not json"), 400)
    assert audit.entries(project) == before
    assert tracking.client(project).get_registered_model("iris model").aliases == {}
