"""The Registry view's "Run gates" route: quality gates run for a version through REST, the verdicts in the
reply (as documented in openapi.json), in the audit trail and in the gates the view reads; an alias without
a policy is a 400 with a hint."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_handlers import body_of, openapi_doc, response_validator
from tornado.httpclient import HTTPClientError

from nblift.project import Project
from nblift.registry import audit
from nblift.registry.register import register

pytestmark = pytest.mark.integration

ONE = "/nblift/api/registry/models/{name}/versions/{version}"
POLICY = """
[tool.nblift]
autolog = false
[tool.nblift.promotion.champion.data]
schema = "schema.yaml"
data = "eval.csv"
[tool.nblift.promotion.champion.drift]
reference = "train.csv"
current = "eval.csv"
"""


@pytest.fixture
def candidate(jp_root_dir, monkeypatch):
    from sklearn.linear_model import LinearRegression

    from nblift.gates import schema

    monkeypatch.setenv("NBLIFT_USER", "alice")
    (jp_root_dir / "pyproject.toml").write_text(POLICY)
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(0, 1, 1500), "k": rng.choice(["a", "b"], 1500)})
    train.to_csv(jp_root_dir / "train.csv", index=False)
    train.assign(x=train["x"] + 2).to_csv(jp_root_dir / "eval.csv", index=False)
    schema.infer_file(None, str(jp_root_dir / "train.csv"), jp_root_dir / "schema.yaml")
    project = Project.discover(jp_root_dir, environ={})
    model = LinearRegression().fit(train[["x"]], train["x"])
    return project, register(project, model, "reg", input_example=train[["x"]].head(3))


async def test_run_gates_through_rest(jp_fetch, candidate):
    project, version = candidate
    reply = body_of(
        await jp_fetch(
            "nblift",
            "api",
            "registry",
            "models",
            "reg",
            "versions",
            version.version,
            "check",
            method="POST",
            body=json.dumps({"alias": "champion"}),
        )
    )
    response_validator(openapi_doc(), f"{ONE}/check", "post", 200).validate(reply)
    verdicts = {v["kind"]: v for v in reply["verdicts"]}
    assert not reply["passed"]
    assert not verdicts["drift"]["passed"] and verdicts["drift"]["evidence"]["drifted"] == ["x"]
    assert not verdicts["data"]["passed"] and "x: less_than_or_equal_to" in verdicts["data"]["detail"]
    [entry] = [e for e in audit.entries(project, "reg") if e["action"] == "gates"]
    assert entry["who"] == "alice" and entry["alias"] == "champion"

    gates = body_of(
        await jp_fetch(
            "nblift",
            "api",
            "registry",
            "models",
            "reg",
            "versions",
            version.version,
            "gates",
            params={"alias": "champion"},
        )
    )
    response_validator(openapi_doc(), f"{ONE}/gates", "get", 200).validate(gates)
    drift = next(g for g in gates["gates"] if g["kind"] == "drift")
    assert not drift["passed"] and drift["evidence"]["columns"][0]["test"] == "wasserstein"

    with pytest.raises(HTTPClientError) as info:
        await jp_fetch(
            "nblift",
            "api",
            "registry",
            "models",
            "reg",
            "versions",
            version.version,
            "check",
            method="POST",
            body=json.dumps({"alias": "staging"}),
        )
    assert info.value.code == 400
    error = json.loads(info.value.response.body)
    assert "has no promotion policy" in error["message"] and "staging" in error["hint"]
