"""A run records its data manifest in its specification and as MLflow dataset inputs; a run whose input is
missing does not start; `nblift data` compares with the last run."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from run_helpers import mlflow_run, wait_done, wait_mlflow_closed, write_notebook

from nblift.cli import main
from nblift.data.manifest import DataInputError
from nblift.project import Project
from nblift.runs import service
from nblift.runs.records import RunRecord, iter_records
from nblift.snapshot.context import set_tracked

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def write_old(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time_ns() - 60 * 10**9
    os.utime(path, ns=(then, then))


def test_a_run_records_its_inputs_and_mlflow_shows_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for i in range(5):
        write_old(tmp_path / "images" / f"{i}.bin", bytes([i]) * 10)
    write_old(tmp_path / "labels.csv", b"id,label\n1,cat\n")
    nb = write_notebook(tmp_path / "train.ipynb", "print(len(open('labels.csv').read()))")
    project = Project.discover(tmp_path)
    set_tracked(project.root, project.ensure_state_dir(), ["images"], [])

    info = service.launch(project, nb)
    spec = RunRecord.open(project.state_dir, info.id).spec
    entries = {e["uri"]: e for e in spec.data["entries"]}
    assert set(entries) == {"images", "labels.csv"}
    assert entries["images"]["source"] == "tracked"
    assert entries["images"]["files"] == 5
    assert entries["labels.csv"]["source"] == "reads"

    assert wait_done(project, info.id).state == "SUCCEEDED"
    run = mlflow_run(project, wait_mlflow_closed(project, info.id))
    datasets = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(datasets) == {"images", "labels.csv"}
    images = datasets["images"].dataset
    assert images.digest == entries["images"]["hash"].removeprefix("blake3:")[:32]
    assert json.loads(images.source)["hash"] == entries["images"]["hash"]
    assert json.loads(images.profile)["files"] == 5
    assert {t.key: t.value for t in datasets["images"].tags}["mlflow.data.context"] == "input"

    write_old(tmp_path / "labels.csv", b"id,label\n1,dog\n")
    assert main(["-C", str(tmp_path), "--json", "data", str(nb)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["baseline"] == f"run {info.id}"
    status = {i["uri"]: i["status"] for i in report["inputs"]}
    assert status == {"images": "unchanged", "labels.csv": "changed"}


def test_a_run_whose_input_is_missing_does_not_start(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    write_old(tmp_path / "features.parquet", b"PAR1")
    nb = write_notebook(tmp_path / "train.ipynb", "print(1)")
    project = Project.discover(tmp_path)
    set_tracked(project.root, project.ensure_state_dir(), ["features.parquet"], [])
    (tmp_path / "features.parquet").unlink()
    with pytest.raises(DataInputError, match=r"features\.parquet: not found"):
        service.launch(project, nb)
    assert list(iter_records(project.state_dir)) == []
