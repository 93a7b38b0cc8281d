"""REST routes of the Runs panel against a real server, runner and kernel: launch, the live event stream,
list, parameters, cancel, fetch, and the errors bad input gets."""

from __future__ import annotations

import asyncio
import json

import pytest
from run_helpers import write_notebook
from test_handlers import body_of, openapi_doc, response_validator
from tornado.httpclient import HTTPClientError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")


def sse_frames(body: bytes) -> list[tuple[str, dict]]:
    frames = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "event" in fields:
            frames.append((fields["event"], json.loads(fields["data"])))
    return frames


async def post_json(jp_fetch, *parts, body, **kw):
    return await jp_fetch(*parts, method="POST", body=json.dumps(body), **kw)


async def test_launch_stream_list_and_fetch(jp_fetch, jp_root_dir):
    (jp_root_dir / "sub").mkdir()
    write_notebook(
        jp_root_dir / "sub" / "train.ipynb",
        "print('lr is', lr)",
        "import nblift\nnblift.log(step=0, loss=0.25)",
        parameters="lr = 0.1  # learning rate\nname = 'base'",
    )
    response = await jp_fetch("nblift", "api", "runs", "parameters", params={"notebook": "sub/train.ipynb"})
    declared = body_of(response)["parameters"]
    response_validator(openapi_doc(), "/nblift/api/runs/parameters", "get", 200).validate(body_of(response))
    assert declared["lr"]["default"] == "0.1" and declared["lr"]["help"] == "learning rate"
    assert declared["name"]["default"] == "'base'"

    response = await post_json(
        jp_fetch, "nblift", "api", "runs", body={"notebook": "sub/train.ipynb", "parameters": {"lr": 0.5}}
    )
    assert response.code == 201
    run = body_of(response)
    response_validator(openapi_doc(), "/nblift/api/runs", "post", 201).validate(run)
    assert run["parameters"] == {"lr": 0.5} and run["backend"] == "local"

    query = {"path": "sub/train.ipynb"}
    stream = await jp_fetch(
        "nblift", "api", "runs", run["id"], "events", "stream", params=query, request_timeout=180
    )
    assert stream.headers["Content-Type"] == "text/event-stream"
    frames = sse_frames(stream.body)
    kinds = [kind for kind, _ in frames]
    assert kinds[-1] == "end" and frames[-1][1]["state"] == "SUCCEEDED"
    assert "cell.started" in kinds and "cell.finished" in kinds
    outputs = [data["text"] for kind, data in frames if kind == "output"]
    assert "lr is 0.5\n" in outputs
    assert ("metric", "loss") in [(k, d.get("name")) for k, d in frames]

    listed = body_of(await jp_fetch("nblift", "api", "runs", params=query))
    response_validator(openapi_doc(), "/nblift/api/runs", "get", 200).validate(listed)
    assert [r["id"] for r in listed["runs"]] == [run["id"]]
    assert "local" in {b["name"] for b in listed["backends"]}

    page = body_of(await jp_fetch("nblift", "api", "runs", run["id"], "events", params=query))
    response_validator(openapi_doc(), "/nblift/api/runs/{run_id}/events", "get", 200).validate(page)
    rest = body_of(
        await jp_fetch(
            "nblift", "api", "runs", run["id"], "events", params={**query, "after": str(page["next"])}
        )
    )
    assert rest["events"] == [] and rest["next"] == page["next"]

    fetched = body_of(
        await post_json(jp_fetch, "nblift", "api", "runs", run["id"], "fetch", body={}, params=query)
    )
    assert fetched["path"] == f"sub/nblift-runs/{run['id']}/train.ipynb"
    assert "lr is 0.5" in (jp_root_dir / fetched["path"]).read_text()


async def test_cancel_over_rest(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.setenv("NBLIFT_RUN_CANCEL_GRACE", "5")
    write_notebook(jp_root_dir / "slow.ipynb", "import time\ntime.sleep(120)")
    run = body_of(await post_json(jp_fetch, "nblift", "api", "runs", body={"notebook": "slow.ipynb"}))
    cancelled = body_of(await post_json(jp_fetch, "nblift", "api", "runs", run["id"], "cancel", body={}))
    response_validator(openapi_doc(), "/nblift/api/runs/{run_id}/cancel", "post", 200).validate(cancelled)
    assert cancelled["state"] == "CANCELLED"
    again = body_of(await jp_fetch("nblift", "api", "runs", run["id"]))
    assert again["state"] == "CANCELLED"


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        ({"notebook": "ok.ipynb", "parameters": {"x; import os": 1}}, 400, "not a Python identifier"),
        ({"notebook": "ok.ipynb", "parameters": {"class": 1}}, 400, "not a Python identifier"),
        ({"notebook": "ok.ipynb", "parameters": [1, 2]}, 400, "must be an object"),
        ({"notebook": "ok.ipynb", "timeout": "soon"}, 400, "not a duration"),
        ({"notebook": "ok.ipynb", "timeout": -5}, 400, "not positive"),
        ({"notebook": "ok.ipynb", "backend": "nowhere"}, 404, "no run backend named 'nowhere'"),
        ({"notebook": "../outside.ipynb"}, 400, ""),
        ({"notebook": "missing.ipynb"}, 404, "does not exist"),
        ({"notebook": "notes.txt"}, 400, "name a notebook"),
        ({}, 400, "needs 'notebook'"),
    ],
)
async def test_bad_launches_are_refused_and_start_nothing(jp_fetch, jp_root_dir, body, code, says):
    write_notebook(jp_root_dir / "ok.ipynb", "pass")
    (jp_root_dir / "notes.txt").write_text("x")
    with pytest.raises(HTTPClientError) as err:
        await post_json(jp_fetch, "nblift", "api", "runs", body=body)
    assert err.value.code == code
    reply = json.loads(err.value.response.body)
    assert says in reply["message"] and reply["hint"]
    assert not (jp_root_dir / ".nblift" / "runs").exists() or not any(
        (jp_root_dir / ".nblift" / "runs").iterdir()
    )


async def test_a_retried_launch_starts_one_run(jp_fetch, jp_root_dir):
    write_notebook(jp_root_dir / "once.ipynb", "print('once')")
    body = {"notebook": "once.ipynb", "submission_id": "3f1c2a9e-retry-0001"}
    first = body_of(await post_json(jp_fetch, "nblift", "api", "runs", body=body))
    again = body_of(await post_json(jp_fetch, "nblift", "api", "runs", body=body))
    assert again["id"] == first["id"]
    listed = body_of(await jp_fetch("nblift", "api", "runs"))["runs"]
    assert [r["id"] for r in listed] == [first["id"]]
    with pytest.raises(HTTPClientError) as err:
        await post_json(jp_fetch, "nblift", "api", "runs", body={**body, "submission_id": "../../x"})
    assert err.value.code == 400


async def test_unknown_run_is_404_and_bad_offset_400(jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nblift", "api", "runs", "abcdef123456")
    assert err.value.code == 404
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("nblift", "api", "runs", "abcdef123456", "events", params={"after": "-1"})
    assert err.value.code == 400


async def test_run_on_offers_configured_targets_and_says_how_to_add_one(jp_fetch, jp_root_dir):
    (jp_root_dir / "bare").mkdir()
    write_notebook(jp_root_dir / "bare" / "a.ipynb", "pass")
    (jp_root_dir / "hosts").mkdir()
    write_notebook(jp_root_dir / "hosts" / "a.ipynb", "pass")
    (jp_root_dir / "hosts" / "pyproject.toml").write_text(
        '[tool.nblift.ssh_hosts.box]\nhost = "127.0.0.1"\ngpus = "0"\n'
    )
    validator = response_validator(openapi_doc(), "/nblift/api/runs", "get", 200)

    bare = body_of(await jp_fetch("nblift", "api", "runs", params={"path": "bare/a.ipynb"}))
    validator.validate(bare)
    by_name = {b["name"]: b for b in bare["backends"]}
    assert by_name["local"]["launchable"] and by_name["local"]["setup"] is None
    # a kind that needs a target and has none is listed to say how to add one, never as a choice
    assert not by_name["ssh"]["launchable"] and "[tool.nblift.ssh_hosts.NAME]" in by_name["ssh"]["setup"]
    assert not by_name["ray"]["launchable"] and "[tool.nblift.ray_clusters.NAME]" in by_name["ray"]["setup"]

    hosts = body_of(await jp_fetch("nblift", "api", "runs", params={"path": "hosts/a.ipynb"}))
    validator.validate(hosts)
    by_name = {b["name"]: b for b in hosts["backends"]}
    assert by_name["ssh:box"]["launchable"] and by_name["ssh:box"]["gpus"] == "0"
    assert by_name["ssh:box"]["setup"] is None and "ssh" not in by_name
    assert [n for n, b in by_name.items() if b["launchable"]] == ["local", "ssh:box"]


async def test_the_executed_notebook_is_offered_only_once_it_exists(jp_fetch, jp_root_dir, monkeypatch):
    monkeypatch.setenv("NBLIFT_RUN_CANCEL_GRACE", "5")
    write_notebook(jp_root_dir / "slow.ipynb", "import time\ntime.sleep(120)")
    run = body_of(await post_json(jp_fetch, "nblift", "api", "runs", body={"notebook": "slow.ipynb"}))
    assert run["executed"] is None  # the Runs view keeps "Open executed notebook" disabled on this
    for _ in range(600):  # until its outputs folder exists (the executed notebook comes at the end)
        page = body_of(await jp_fetch("nblift", "api", "runs", run["id"], "events"))
        if any(e["kind"] == "cell.started" for e in page["events"]):
            break
        await asyncio.sleep(0.1)
    assert page["run"]["executed"] is None
    with pytest.raises(HTTPClientError) as err:
        await post_json(jp_fetch, "nblift", "api", "runs", run["id"], "fetch", body={})
    assert err.value.code == 404  # not the outputs folder, which the view would open instead of a notebook
    reply = json.loads(err.value.response.body)
    assert "no executed notebook yet" in reply["message"] and reply["hint"]
    await post_json(jp_fetch, "nblift", "api", "runs", run["id"], "cancel", body={})


async def test_the_estimate_route_says_the_price_and_bad_budgets_get_a_400(jp_fetch, jp_root_dir):
    (jp_root_dir / "pyproject.toml").write_text("[tool.nblift]\nlocal_hourly_cost = 2.5\n")
    write_notebook(jp_root_dir / "train.ipynb", "print(1)")
    query = {"notebook": "train.ipynb", "backend": "local", "budget": "$5"}
    reply = body_of(await jp_fetch("nblift", "api", "runs", "estimate", params=query))
    response_validator(openapi_doc(), "/nblift/api/runs/estimate", "get", 200).validate(reply)
    assert reply["hourly"] == 2.5 and reply["budget"] == 5.0 and reply["expected_seconds"] is None
    assert reply["text"] == (
        "$2.50/h (local_hourly_cost of the local backend); duration unknown: no earlier successful "
        "run of train.ipynb on local; budget $5.00 (stops after 2 h 00 min)"
    )
    for budget, words in (("five", "is not an amount"), ("-2", "is not a positive amount")):
        with pytest.raises(HTTPClientError) as err:
            await jp_fetch("nblift", "api", "runs", "estimate", params={**query, "budget": budget})
        assert err.value.code == 400 and words in json.loads(err.value.response.body)["message"]
    with pytest.raises(HTTPClientError) as err:  # a budget on a launch is checked the same way
        await jp_fetch(
            "nblift",
            "api",
            "runs",
            method="POST",
            body=json.dumps({"notebook": "train.ipynb", "budget": "x"}),
        )
    assert err.value.code == 400
