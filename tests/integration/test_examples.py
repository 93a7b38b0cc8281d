"""The example notebooks run top to bottom in a fresh kernel, as a user would run them."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nblift import tracking
from nblift.project import Project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def execute(name: str, folder: Path) -> nbformat.NotebookNode:
    shutil.copy(EXAMPLES / name, folder / name)
    nb = nbformat.read(folder / name, as_version=4)
    NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return nb


def text_of(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", "") or output.get("data", {}).get("text/html", ""))
    return "\n".join(parts)


def test_experiments_example(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    nb = execute("experiments.ipynb", tmp_path)
    out = text_of(nb)
    assert "3 of 3 runs" in out
    assert "<polyline" in out  # the comparison's curves
    assert "background:#fff3cd" in out  # alpha differs between the two runs compared
    client = tracking.client(Project.discover(tmp_path))
    experiment = client.get_experiment_by_name(tmp_path.name)
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["alpha"] for r in runs) == ["0.0001", "0.001", "0.01"]
    for run in runs:
        assert run.info.status == "FINISHED"
        assert len(client.get_metric_history(run.info.run_id, "test_accuracy")) == 15


def test_registry_example(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    nb = execute("registry.ipynb", tmp_path)
    out = text_of(nb)
    assert "blocked by failing gates" in out  # versions 1 and 2 before the approval
    assert "cancer@champion -&gt; v2: promoted" in out or "cancer@champion -> v2: promoted" in out
    assert "Pipeline test accuracy" in out
    client = tracking.client(Project.discover(tmp_path))
    assert str(client.get_model_version_by_alias("cancer", "champion").version) == "2"
    card = client.get_model_version("cancer", "2").tags["nblift.card"]
    assert card.endswith("model_card.md")


def test_quickstart_example(tmp_path, monkeypatch):
    """The five-minute tour: snapshot and restore, a run with a parameter, two runs compared, the better model
    registered with its lineage."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    nb = execute("quickstart.ipynb", tmp_path)
    out = text_of(nb)
    assert "(450, 64) {'epochs': 8," in out  # restored after the mistake
    assert "SUCCEEDED" in out and "train.ipynb" in out  # the run in a fresh kernel
    assert "<polyline" in out  # the two runs' curves compared
    assert "alpha=0.0001 registered as digits-quickstart v1" in out
    client = tracking.client(Project.discover(tmp_path))
    version = client.get_model_version("digits-quickstart", "1")
    assert client.get_run(version.run_id).data.params["alpha"] == "0.0001"
    experiment = client.get_experiment_by_name(tmp_path.name)
    alphas = sorted(r.data.params.get("alpha", "") for r in client.search_runs([experiment.experiment_id]))
    assert "0.01" in alphas  # the run's parameter, recorded by its MLflow run
