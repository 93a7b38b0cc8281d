"""Costs on the local backend, end to end (real runner, kernel and MLflow store): an estimate from earlier
runs, a budget that stops a run with its reason after a warning, the cost logged on the MLflow run, and the
sums of `nblift costs`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from run_helpers import events_of, mlflow_run, wait_done, wait_mlflow_closed, write_notebook

from nblift.errors import ConfigError
from nblift.project import Project
from nblift.runs import service

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

#: USD per hour on the local backend in these tests: a cent every second.
RATE = 36.0


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("NBLIFT_USER", "ada")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text(f"[tool.nblift]\nlocal_hourly_cost = {RATE}\n")
    return Project.discover(tmp_path)


def test_a_budget_stops_the_run_with_its_reason_after_a_warning(project, tmp_path):
    notebook = write_notebook(
        tmp_path / "long.ipynb", "import time\nfor _ in range(600):\n    time.sleep(0.1)"
    )
    info = service.launch(project, notebook, budget=0.05)  # 5 s at a cent a second
    assert info.cost is not None and info.cost["budget"] == 0.05 and info.cost["hourly"] == RATE
    assert "budget $0.05 (stops after 5 s)" in info.cost["estimate_text"]
    done = wait_done(project, info.id, timeout=120)
    assert done.state == "TIMED_OUT"
    assert done.error == {"message": "the run reached its budget of $0.05 (at $36.00/h)", "reason": "budget"}
    kinds = [e["kind"] for e in events_of(project, info.id)]
    assert kinds.index("budget.warning") < kinds.index("run.finished")
    warning = next(e for e in events_of(project, info.id) if e["kind"] == "budget.warning")
    assert warning["spent"] == pytest.approx(0.04) and warning["budget"] == 0.05
    finished = next(e for e in events_of(project, info.id) if e["kind"] == "run.finished")
    assert finished["cost"] == pytest.approx(0.05, abs=0.01)  # the kernel stops within a second of it
    assert done.cost["spent"] == finished["cost"]
    tracked = mlflow_run(project, wait_mlflow_closed(project, info.id))
    assert tracked.data.metrics["nblift.cost"] == pytest.approx(finished["cost"])
    assert tracked.data.tags["mlflow.user"] == "ada"


def test_the_estimate_is_the_median_of_earlier_runs_and_costs_sums_them(project, tmp_path):
    quick = write_notebook(tmp_path / "quick.ipynb", "import time\ntime.sleep(0.5)")
    first = service.launch(project, quick)
    assert (
        "duration unknown: no earlier successful run of quick.ipynb on local" in first.cost["estimate_text"]
    )
    runs = [wait_done(project, first.id), wait_done(project, service.launch(project, quick).id)]
    assert all(run.state == "SUCCEEDED" for run in runs)
    third = service.launch(project, quick)
    durations = sorted(run.duration for run in runs)
    expected = sum(durations) / 2
    assert third.cost["estimate"] == pytest.approx(RATE * expected / 3600, rel=1e-3)
    assert (
        "median of 2 earlier runs; local_hourly_cost of local (local_hourly_cost)" not in third.cost["source"]
    )
    assert "median of 2 earlier runs" in third.cost["estimate_text"]
    runs.append(wait_done(project, third.id))

    out = subprocess.run(
        [sys.executable, "-m", "nblift", "-C", str(project.root), "costs", "--by", "user,notebook", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    ledger = json.loads(out.stdout)
    assert ledger["runs"] == 3 and ledger["unpriced"] == 0
    (row,) = ledger["rows"]
    assert row["user"] == "ada" and row["notebook"] == "quick.ipynb" and row["runs"] == 3
    spent = sum(run.cost["spent"] for run in runs)
    assert row["cost"] == pytest.approx(spent, abs=1e-3) and ledger["total"] == pytest.approx(spent, abs=1e-3)
    text = subprocess.run(
        [sys.executable, "-m", "nblift", "-C", str(project.root), "costs"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "quick.ipynb" in text and f"total ${spent:.2f} over 3 priced run(s)" in text


def test_a_budget_on_a_target_without_a_price_is_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = Project.discover(tmp_path)  # local_hourly_cost 0: free
    notebook = write_notebook(tmp_path / "nb.ipynb", "print(1)")
    with pytest.raises(ConfigError, match="a budget needs a price: the local backend costs nothing"):
        service.launch(project, notebook, budget=5)
    assert service.list_runs(project) == []
    free = wait_done(project, service.launch(project, notebook).id)
    assert free.state == "SUCCEEDED" and free.cost is None  # free runs carry no cost
