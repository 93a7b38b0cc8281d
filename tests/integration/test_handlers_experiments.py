"""REST routes of the Experiments panel: shapes as documented, bad input refused with a hint."""

from __future__ import annotations

import json

import pytest
from test_handlers import body_of, openapi_doc, response_validator
from tornado.httpclient import HTTPClientError
from tracking_seed import seed_runs

from nblift import tracking
from nblift.project import Project

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(jp_root_dir):
    project = Project.discover(jp_root_dir, environ={})
    experiment = tracking.ensure_experiment(project, "panel")
    return experiment, seed_runs(project.state_dir / tracking.DB_FILE, experiment, 120)


async def test_experiments_runs_detail_compare(jp_fetch, seeded, jp_root_dir):
    experiment, ids = seeded
    doc = openapi_doc()
    listed = body_of(await jp_fetch("nblift", "api", "experiments"))
    response_validator(doc, "/nblift/api/experiments", "get", 200).validate(listed)
    # The view opens on the project's own experiment (named after the project's folder unless set).
    assert listed["project_experiment"] == tracking.experiment_name(Project.discover(jp_root_dir, environ={}))
    assert {
        k: v
        for k, v in next(e for e in listed["experiments"] if e["name"] == "panel").items()
        if k in ("name", "runs")
    } == {"name": "panel", "runs": 120}

    params = {"filter": "params.depth = '2'", "order_by": "metrics.loss DESC", "page_size": "5"}
    page = body_of(await jp_fetch("nblift", "api", "experiments", experiment, "runs", params=params))
    response_validator(doc, "/nblift/api/experiments/{experiment_id}/runs", "get", 200).validate(page)
    assert page["total"] == sum(1 for n in range(120) if n % 7 == 2)
    losses = [r["metrics"]["loss"] for r in page["runs"]]
    assert losses == sorted(losses, reverse=True) and len(losses) == 5
    nxt = body_of(
        await jp_fetch(
            "nblift",
            "api",
            "experiments",
            experiment,
            "runs",
            params={**params, "page_token": page["next_page_token"]},
        )
    )
    assert not {r["run_id"] for r in nxt["runs"]} & {r["run_id"] for r in page["runs"]}

    detail = body_of(await jp_fetch("nblift", "api", "tracking", "runs", ids[5]))
    response_validator(doc, "/nblift/api/tracking/runs/{mlflow_run_id}", "get", 200).validate(detail)
    assert detail["run"]["run_id"] == ids[5]

    compared = body_of(
        await jp_fetch("nblift", "api", "tracking", "compare", params={"ids": f"{ids[0]},{ids[1]}"})
    )
    response_validator(doc, "/nblift/api/tracking/compare", "get", 200).validate(compared)
    assert {p["key"]: p["differs"] for p in compared["params"]} == {"depth": True, "lr": True}


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"filter": "metrics.loss <<< 1"}, "cannot be compared"),
        ({"order_by": "metrics.loss SIDEWAYS"}, "cannot read the search"),
        ({"page_size": "0"}, "out of range"),
        ({"page_size": "lots"}, "not a number"),
        ({"page_token": "abc"}, "page token"),
    ],
)
async def test_bad_searches_are_400_with_a_hint(jp_fetch, seeded, params, says):
    experiment, _ = seeded
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nblift", "api", "experiments", experiment, "runs", params=params)
    assert err.value.code == 400
    reply = json.loads(err.value.response.body)
    assert says in reply["message"] and reply["hint"]


async def test_unknown_things_are_404(jp_fetch, seeded):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nblift", "api", "experiments", "424242", "runs")
    assert err.value.code == 404
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nblift", "api", "tracking", "runs", "0" * 32)
    assert err.value.code == 404
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nblift", "api", "tracking", "compare", params={"ids": "a"})
    assert err.value.code == 400
