"""`nblift data` and `%lift data`: the inputs with their state, through both front doors."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from nblift.cli import main


def write_old(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time_ns() - 60 * 10**9
    os.utime(path, ns=(then, then))


@pytest.fixture
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nblift")
    yield ip
    ip.run_line_magic("unload_ext", "nblift")


def test_no_inputs_says_how_to_add_some(tmp_path, capsys):
    assert main(["-C", str(tmp_path), "data"]) == 0
    assert "nblift track PATH" in capsys.readouterr().out


def test_tracked_files_and_folders_are_listed_and_a_missing_one_fails(tmp_path, capsys):
    write_old(tmp_path / "data" / "a.csv", b"a\n1\n")
    write_old(tmp_path / "data" / "deep" / "b.csv", b"b\n2\n")
    write_old(tmp_path / "extra.parquet", b"PAR1")
    assert main(["-C", str(tmp_path), "track", "data", "extra.parquet"]) == 0
    capsys.readouterr()
    assert main(["-C", str(tmp_path), "--json", "data"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_uri = {i["uri"]: i for i in report["inputs"]}
    assert by_uri["data"]["kind"] == "folder"
    assert by_uri["data"]["files"] == 2
    assert by_uri["data"]["size"] == 8
    assert by_uri["extra.parquet"]["kind"] == "file"
    assert {i["status"] for i in report["inputs"]} == {"new"}
    assert report["baseline"] is None

    (tmp_path / "extra.parquet").unlink()
    assert main(["-C", str(tmp_path), "data"]) == 1
    out = capsys.readouterr().out
    assert "missing" in next(x for x in out.splitlines() if x.startswith("extra.parquet"))


def test_a_notebook_adds_the_files_it_reads(tmp_path, capsys):
    write_old(tmp_path / "inputs" / "train.csv", b"x,y\n")
    write_old(tmp_path / "inputs" / "shards" / "0.npy", b"\x93NUMPY")
    notebook = tmp_path / "train.ipynb"
    cells = [
        {"cell_type": "code", "source": "import pandas as pd\ndf = pd.read_csv('inputs/train.csv')\n"},
        {"cell_type": "code", "source": "import numpy as np\nshards = Path('inputs/shards')\n"},
        {"cell_type": "code", "source": "open('not-there.txt')\n"},
    ]
    notebook.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    assert main(["-C", str(tmp_path), "--json", "data", str(notebook)]) == 0
    inputs = {i["uri"]: i for i in json.loads(capsys.readouterr().out)["inputs"]}
    assert set(inputs) == {"inputs/train.csv", "inputs/shards"}
    assert inputs["inputs/train.csv"]["source"] == "reads"
    assert inputs["inputs/shards"]["kind"] == "folder"


def test_a_notebook_that_is_not_there_is_a_clear_error(tmp_path, capsys):
    assert main(["-C", str(tmp_path), "data", str(tmp_path / "nope.ipynb")]) == 2
    err = capsys.readouterr().err
    assert "no notebook at" in err
    assert "what to do" in err


def test_the_magic_renders_an_escaped_table(shell, tmp_path):
    write_old(tmp_path / "<b>odd</b>.csv", b"1")
    assert main(["-C", str(tmp_path), "track", "<b>odd</b>.csv"]) == 0
    result = shell.run_line_magic("lift", f"-C {shlex.quote(str(tmp_path))} data")
    assert "&lt;b&gt;odd&lt;/b&gt;.csv" in result._repr_html_()
    assert "<b>odd" not in result._repr_html_()
    assert "<b>odd</b>.csv" in repr(result)
    assert result.data["inputs"][0]["status"] == "new"


def test_the_magic_reports_bad_input_without_a_traceback(shell, tmp_path):
    with pytest.raises(UsageError, match="no notebook at"):
        shell.run_line_magic("lift", f"-C {shlex.quote(str(tmp_path))} data missing.ipynb")


def test_data_imports_no_heavy_library(child_env, tmp_path):
    write_old(tmp_path / "a.csv", b"1")
    code = (
        "import json, sys\n"
        "from nblift.cli import main\n"
        f"main(['-C', {str(tmp_path)!r}, 'track', 'a.csv'])\n"
        f"main(['-C', {str(tmp_path)!r}, 'data'])\n"
        "heavy = ('mlflow', 'yaml', 'dvc', 'pandas', 'papermill', 'ray', 'jupyter_server')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_run_specification_keeps_its_data_and_older_ones_have_none():
    from nblift.runs.model import RunSpec, SpecError

    manifest = {"format": "nblift.data/1", "created": 1.0, "entries": []}
    spec = RunSpec(id="abcdef012345", notebook="a.ipynb", backend="local", bundle="0" * 64, data=manifest)
    assert RunSpec.from_json(json.loads(spec.dumps())).data == manifest
    older = {k: v for k, v in spec.to_json().items() if k != "data"}
    assert RunSpec.from_json(older).data is None
    with pytest.raises(SpecError, match="'data'"):
        RunSpec.from_json({**spec.to_json(), "data": "not an object"})


def test_each_input_is_compared_with_the_baseline():
    from nblift.data.manifest import DataEntry, DataManifest
    from nblift.data.report import compare

    def entry(uri, digest, state="ok", source="tracked", kind="file"):
        return DataEntry(uri, kind, source, digest, 1, state=state, record="d.dvc" if kind == "dvc" else None)

    before = DataManifest.of(
        [
            entry("same", "blake3:1"),
            entry("edited", "blake3:2"),
            entry("back", None, "missing"),
            entry("gone", "x"),
        ]
    )
    now = DataManifest.of(
        [
            entry("same", "blake3:1"),
            entry("edited", "blake3:3"),
            entry("back", "blake3:4"),
            entry("fresh", "blake3:5"),
            entry("lost", None, "missing"),
            entry("broken", None, "error"),
            entry("dvc", "md5:6", source="dvc", kind="dvc"),
            entry("dvc-edited", "md5:7", "modified", source="dvc", kind="dvc"),
        ]
    )
    report = compare(now, ("snapshot abc", before))
    status = {i.entry.uri: i.status for i in report.inputs}
    assert status == {
        "same": "unchanged",
        "edited": "changed",
        "back": "changed",
        "fresh": "new",
        "lost": "missing",
        "broken": "error",
        "dvc": "unchanged",
        "dvc-edited": "changed",
    }
    assert report.dropped == ("gone",)
    assert report.failed
    assert not compare(DataManifest.of([entry("same", "blake3:1")]), None).failed
