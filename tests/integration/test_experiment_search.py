"""The panel's search over 10,000 runs in the embedded store (filters, sorting, pages), checked against
MLflow's own search on the same store, and the same calls against a real MLflow server."""

from __future__ import annotations

import json

import pytest
from test_metric_logging import mlflow_server  # noqa: F401 - fixture
from tracking_seed import seed_runs

from nblift import tracking
from nblift.errors import InvalidInput, NotFound
from nblift.experiments import search
from nblift.project import Project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
N = 10_000


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    project = Project.discover(root, environ={})
    experiment = tracking.ensure_experiment(project, "big")
    ids = seed_runs(project.state_dir / tracking.DB_FILE, experiment, N)
    return project, experiment, ids


def test_experiments_list_counts_runs(seeded):
    project, experiment, _ = seeded
    listed = {e["name"]: e for e in search.list_experiments(project)["experiments"]}
    assert listed["big"]["runs"] == N and listed["big"]["id"] == experiment


def test_first_page_newest_first_and_keys(seeded):
    project, experiment, ids = seeded
    page = search.search_runs(project, experiment)
    assert page["total"] == N
    assert [r["run_id"] for r in page["runs"]] == ids[::-1][:50]
    first = page["runs"][0]
    assert first["params"] == {
        "lr": "0.1" if (N - 1) % 3 == 0 else first["params"]["lr"],
        "depth": str((N - 1) % 7),
    }
    assert set(first["metrics"]) == {"loss", "accuracy"}
    assert page["keys"] == {"params": ["depth", "lr"], "metrics": ["accuracy", "loss"]}


def test_pages_cover_every_run_once(seeded):
    project, experiment, ids = seeded
    seen, token = [], None
    while True:
        page = search.search_runs(project, experiment, page_size=500, page_token=token)
        seen += [r["run_id"] for r in page["runs"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert len(seen) == N and set(seen) == set(ids)


def test_filter_and_sort_agree_with_mlflow(seeded):
    project, experiment, _ = seeded
    query = "metrics.loss < 0.05 and params.lr = '0.01' and attributes.status = 'FINISHED'"
    ours = search.search_runs(project, experiment, query, "metrics.loss ASC", page_size=500)
    theirs = tracking.client(project).search_runs(
        [experiment], query, order_by=["metrics.loss ASC"], max_results=500
    )
    assert [r["run_id"] for r in ours["runs"]] == [r.info.run_id for r in theirs]
    assert ours["total"] == len(theirs) > 0
    losses = [r["metrics"]["loss"] for r in ours["runs"]]
    assert losses == sorted(losses)


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("params.depth = '3'", sum(1 for n in range(N) if n % 7 == 3)),
        ("tags.`nblift.kind` = 'run'", N // 2),
        ("attributes.status = 'FAILED'", N // 10),
        ("params.lr LIKE '0.0%'", sum(1 for n in range(N) if n % 3)),
        ("attributes.run_name ILIKE 'RUN-99%'", 1 + 10 + 100),
    ],
)
def test_filters(seeded, query, count):
    project, experiment, _ = seeded
    assert search.search_runs(project, experiment, query)["total"] == count


@pytest.mark.parametrize(
    ("query", "order"),
    [
        ("metrics.loss <<< 1", None),
        ("params.lr > 'a'", None),
        ("", "metrics.loss SIDEWAYS"),
        ("nonsense", None),
    ],
)
def test_bad_searches_say_how_to_write_one(seeded, query, order):
    project, experiment, _ = seeded
    with pytest.raises(InvalidInput) as err:
        search.search_runs(project, experiment, query, order)
    assert err.value.hint


def test_injection_attempts_are_plain_values(seeded):
    project, experiment, _ = seeded
    page = search.search_runs(project, experiment, "params.lr = '0.1'' OR 1=1 --'")
    assert page["total"] == 0
    with pytest.raises(InvalidInput):
        search.search_runs(project, experiment, page_token="10; DROP TABLE runs")
    with pytest.raises(NotFound):
        search.search_runs(project, "999")
    assert search.search_runs(project, experiment)["total"] == N


def test_detail_and_compare(seeded):
    project, _, ids = seeded
    detail = search.run_detail(project, ids[0])
    assert detail["run"]["params"]["lr"] == "0.1"
    assert detail["lineage"]["notebook"] is None
    compared = search.compare(project, ids[:3])
    lr = next(p for p in compared["params"] if p["key"] == "lr")
    assert lr["differs"] is True and lr["values"][ids[1]] == "0.01"
    assert [s for s, _, _ in compared["metrics"]["loss"][ids[0]]] == [0, 1, 2]
    with pytest.raises(InvalidInput):
        search.compare(project, ids[:1])
    json.dumps(compared)


def test_search_against_a_real_server(tmp_path, mlflow_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    project = Project.discover(tmp_path)
    client = tracking.client(project)
    experiment = client.create_experiment("served")
    for n in range(30):
        run = client.create_run(experiment, run_name=f"r{n}")
        client.log_param(run.info.run_id, "lr", LR[n % 3])
        client.log_metric(run.info.run_id, "loss", n / 30)
        client.set_terminated(run.info.run_id)
    names = {e["name"] for e in search.list_experiments(project)["experiments"]}
    assert "served" in names
    page = search.search_runs(project, str(experiment), "params.lr = '0.1'", "metrics.loss DESC", page_size=4)
    assert [r["name"] for r in page["runs"]] == ["r27", "r24", "r21", "r18"]
    rest = search.search_runs(
        project, str(experiment), "params.lr = '0.1'", "metrics.loss DESC", 10, page["next_page_token"]
    )
    assert [r["name"] for r in rest["runs"]] == ["r15", "r12", "r9", "r6", "r3", "r0"]
    first, second = page["runs"][0]["run_id"], page["runs"][1]["run_id"]
    compared = search.compare(project, [first, second])
    ((step, value, _),) = compared["metrics"]["loss"][first]
    assert (step, value) == (0, 27 / 30)
    with pytest.raises(InvalidInput):
        search.search_runs(project, str(experiment), "metrics.loss <<< 1")


LR = ("0.1", "0.01", "0.001")


def test_cli_table_and_compare(seeded, capsys):
    from nblift.cli import main
    from nblift.experiments.render import compare_html

    project, _, ids = seeded
    root = str(project.root)
    assert (
        main(["-C", root, "experiments", "--experiment", "big", "params.lr", "=", "'0.01'", "--limit", "3"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith(f"experiment big (3 of {sum(1 for n in range(N) if n % 3 == 1)} runs)")
    assert "lr" in out and "loss" in out
    assert main(["-C", root, "experiments", "--experiment", "nope"]) == 2
    assert "experiments here: Default, big" in capsys.readouterr().err
    assert main(["-C", root, "compare", ids[0], ids[1]]) == 0
    text = capsys.readouterr().out
    assert "* lr" in text and "  depth" not in text.split("* lr")[0]
    html = compare_html(search.compare(project, ids[:2]))
    assert html.count("<polyline") == 2 * 2  # two runs on each of the two metric plots
    assert "background:#fff3cd" in html  # differing parameters highlighted
