"""Data versions in comparison and lineage: two runs whose input changed in between differ in the run
comparison's `data`; a model version made from a run reaches that run's data versions in the registry's
lineage graph, its detail and its model card."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from run_helpers import wait_done, wait_mlflow_closed, write_notebook

from nblift import tracking
from nblift.experiments import search
from nblift.project import Project
from nblift.registry import card, catalog
from nblift.runs import service
from nblift.snapshot.context import set_tracked

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def write_old(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    then = time.time_ns() - 60 * 10**9
    os.utime(path, ns=(then, then))


def test_changed_inputs_show_in_the_comparison_and_the_model_card(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    write_old(tmp_path / "labels.csv", b"id,label\n1,cat\n")
    write_old(tmp_path / "vocab.txt", b"cat\ndog\n")
    nb = write_notebook(tmp_path / "train.ipynb", "print(open('labels.csv').read())")
    project = Project.discover(tmp_path)
    set_tracked(project.root, project.ensure_state_dir(), ["vocab.txt"], [])

    first = service.launch(project, nb)
    assert wait_done(project, first.id).state == "SUCCEEDED"
    write_old(tmp_path / "labels.csv", b"id,label\n1,dog\n")
    second = service.launch(project, nb)
    assert wait_done(project, second.id).state == "SUCCEEDED"
    a = wait_mlflow_closed(project, first.id).mlflow["run_id"]
    b = wait_mlflow_closed(project, second.id).mlflow["run_id"]

    rows = {r["uri"]: r for r in search.compare(project, [a, b])["data"]}
    assert set(rows) == {"labels.csv", "vocab.txt"}
    assert rows["labels.csv"]["differs"] and not rows["vocab.txt"]["differs"]
    labels = rows["labels.csv"]["values"]
    assert labels[a]["hash"] != labels[b]["hash"] and labels[a]["size"] == labels[b]["size"] == 15

    client = tracking.client(project)
    client.create_registered_model("labeller")
    source = f"runs:/{b}/model"
    tags = {"nblift.artifact_path": "model"}  # as `%lift register` tags it
    version = client.create_model_version("labeller", source, run_id=b, tags=tags).version
    detail = catalog.version_detail(project, "labeller", str(version))
    assert {d["uri"]: d["hash"] for d in detail["data"]} == {
        "labels.csv": labels[b]["hash"],
        "vocab.txt": rows["vocab.txt"]["values"][b]["hash"],
    }
    graph = catalog.lineage(project, "labeller", str(version))
    data_nodes = {n["uri"]: n for n in graph["nodes"] if n["kind"] == "data"}
    assert data_nodes["labels.csv"]["hash"] == labels[b]["hash"]
    assert any(e["to"] == data_nodes["labels.csv"]["key"] and e["label"] == "read" for e in graph["edges"])

    built = card.build(project, "labeller", str(version))
    assert [row[0] for row in built["data"]] == ["labels.csv", "vocab.txt"]
    assert built["data"][0][2] == labels[b]["hash"] and built["data"][0][3] == "15"
    markdown = card.to_markdown(built)
    assert "| input | version | hash | bytes |" in markdown and labels[b]["hash"] in markdown
