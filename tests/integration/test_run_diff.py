"""`nblift diff RUN_A RUN_B`: two runs whose parameter, final metric and one input differ are compared with
the run comparison (MLflow's records): the differing parameter, metric and input are listed, what is the same
is not; nblift run ids and MLflow run ids both name runs; a snapshot and a run cannot be compared."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from run_helpers import wait_done, wait_mlflow_closed, write_notebook

from nblift.cli import main
from nblift.errors import InvalidInput, NotFound
from nblift.project import Project
from nblift.runs import service
from nblift.snapshot.context import set_tracked
from nblift.snapshot.diff import RunDiff, diff_any
from nblift.snapshot.render import diff_html, diff_json, diff_text

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TRAIN = "import nblift\nnblift.log(step=0, loss=1.0 / lr)\nprint(open('labels.csv').read())"


def write_old(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    then = time.time_ns() - 60 * 10**9
    os.utime(path, ns=(then, then))


def test_two_runs_show_what_differs(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    write_old(tmp_path / "labels.csv", b"id,label\n1,cat\n")
    write_old(tmp_path / "vocab.txt", b"cat\ndog\n")
    nb = write_notebook(tmp_path / "train.ipynb", TRAIN, parameters="lr = 1.0\nepochs = 3")
    project = Project.discover(tmp_path)
    set_tracked(project.root, project.ensure_state_dir(), ["vocab.txt"], [])

    first = service.launch(project, nb, {"lr": 1.0, "epochs": 3})
    assert wait_done(project, first.id).state == "SUCCEEDED"
    write_old(tmp_path / "labels.csv", b"id,label\n1,dog\n")
    second = service.launch(project, nb, {"lr": 4.0, "epochs": 3})
    assert wait_done(project, second.id).state == "SUCCEEDED"
    a = wait_mlflow_closed(project, first.id).mlflow["run_id"]
    b = wait_mlflow_closed(project, second.id).mlflow["run_id"]

    by_nblift_id = diff_any(project, first.id, second.id)
    assert isinstance(by_nblift_id, RunDiff) and (by_nblift_id.a, by_nblift_id.b) == (a, b)
    assert by_nblift_id.labels == (first.id, second.id)
    d = diff_any(project, a, b)
    assert [p["key"] for p in d.params] == ["lr"]  # epochs is the same in both
    assert (float(d.params[0]["a"]), float(d.params[0]["b"])) == (1.0, 4.0)
    assert [(m["key"], m["a"], m["b"]) for m in d.metrics] == [("loss", 1.0, 0.25)]
    assert [x["uri"] for x in d.data] == ["labels.csv"]  # vocab.txt did not change
    assert d.data[0]["a"]["hash"] != d.data[0]["b"]["hash"] and d.data[0]["a"]["size"] == 15
    assert d.unchanged >= 2  # epochs and vocab.txt

    text = diff_text(d)
    assert "param lr: 1.0 -> 4.0" in text and "metric loss: 1 -> 0.25" in text
    assert "data labels.csv:" in text and "vocab.txt" not in text and "epochs" not in text
    html = diff_html(d)
    assert "<table>" in html and "labels.csv" in html and "0.25" in html
    rendered = diff_json(d)
    assert rendered["compared"] == "runs" and rendered["lines"] == text.splitlines()

    # the CLI: the same comparison by nblift run ids, as text and as JSON
    assert main(["-C", str(tmp_path), "diff", first.id, second.id]) == 0
    out = capsys.readouterr().out
    assert f"run {first.id} -> run {second.id}" in out and "param lr: 1.0 -> 4.0" in out
    assert main(["-C", str(tmp_path), "diff", first.id, second.id, "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert reported["compared"] == "runs" and [x["uri"] for x in reported["data"]] == ["labels.csv"]

    with pytest.raises(NotFound, match="neither a snapshot nor a run"):
        diff_any(project, first.id, "abcdef")
    with pytest.raises(InvalidInput, match="different runs"):
        diff_any(project, a, first.id)
