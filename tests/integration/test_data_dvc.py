"""DVC-tracked data, in projects made by the real `dvc` command: nblift reads the hashes DVC recorded, tells
whether the workspace still matches them, and names an input whose recorded version is nowhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from nblift.cli import main
from nblift.data.dvc import check_out, read_record
from nblift.data.hashcache import HashCache
from nblift.data.inputs import gather
from nblift.data.local import STATS, list_files
from nblift.data.manifest import DataInputError
from nblift.project import Project

pytestmark = pytest.mark.integration

DVC = Path(sys.executable).parent / "dvc"


def dvc(cwd: Path, *args: str) -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(cwd.parent / "dvc-site")}
    subprocess.run([str(DVC), *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A DVC project (no git): a folder of 30 files and a single file, each `dvc add`ed; made once."""
    if not DVC.exists():
        pytest.fail("dvc is not installed: run ./dev test (it installs the test extra, dvc included)")
    root = tmp_path_factory.mktemp("dvc") / "project"
    root.mkdir()
    (root / "data" / "sub").mkdir(parents=True)
    for i in range(30):
        (root / "data" / ("sub" if i % 3 else "") / f"row{i:02d}.csv").write_text(f"id,value\n{i},{i * i}\n")
    (root / "model.bin").write_bytes(bytes(range(256)) * 64)
    dvc(root, "init", "--no-scm", "-q")
    dvc(root, "add", "-q", "data")
    dvc(root, "add", "-q", "model.bin")
    return root


@pytest.fixture
def project(template, tmp_path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(template, root, symlinks=True)
    then = time.time_ns() - 60 * 10**9  # written a minute ago: outside the racy window of the hash cache
    for path in [*root.rglob("*")]:
        if path.is_file():
            os.utime(path, ns=(then, then))
    STATS.reset()
    return root


def recorded(root: Path, record: str) -> dict:
    return yaml.safe_load((root / record).read_text())["outs"][0]


def test_the_hashes_dvc_recorded_are_read_without_hashing(project):
    manifest = gather(Project.discover(project), verify=False)
    assert STATS.files == 0
    by_uri = manifest.by_uri()
    assert set(by_uri) == {"data", "model.bin"}
    data, model = by_uri["data"], by_uri["model.bin"]
    assert data.hash == data.version == f"md5:{recorded(project, 'data.dvc')['md5']}"
    assert data.hash.endswith(".dir")
    assert (data.kind, data.files, data.record, data.state) == ("dvc", 30, "data.dvc", "ok")
    assert model.hash == f"md5:{recorded(project, 'model.bin.dvc')['md5']}"
    assert model.size == 256 * 64


def test_the_workspace_is_checked_with_dvcs_md5_once(project):
    nb = Project.discover(project)
    first = gather(nb)
    assert all(e.state == "ok" for e in first.entries)
    # the folder's hash computed from the workspace is DVC's own: it matches what `dvc add` recorded
    assert first.by_uri()["data"].hash == f"md5:{recorded(project, 'data.dvc')['md5']}"
    assert STATS.files == 31
    STATS.reset()
    assert gather(nb).entries == first.entries
    assert STATS.files == 0  # the persistent cache answered


def test_a_modified_file_shows_changed(project, capsys):
    (project / "data" / "sub" / "row01.csv").write_text("id,value\n1,999\n")
    assert main(["-C", str(project), "data"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("data "))
    assert "changed" in line
    assert "row01.csv" in line
    assert main(["-C", str(project), "data", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    data = next(i for i in report["inputs"] if i["uri"] == "data")
    assert data["status"] == "changed"
    assert data["version"] == f"md5:{recorded(project, 'data.dvc')['md5']}"
    assert data["hash"] != data["version"]
    model = next(i for i in report["inputs"] if i["uri"] == "model.bin")
    assert model["status"] == "unchanged"


def test_a_dvc_file_naming_a_missing_cache_entry_is_a_clear_error(project, capsys):
    md5 = recorded(project, "model.bin.dvc")["md5"]
    cached = project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    assert cached.is_file()
    cached.unlink()
    (project / "model.bin").unlink()
    (out,) = read_record(project / "model.bin.dvc", project)
    with pytest.raises(DataInputError) as info:
        check_out(out, project, project / ".dvc" / "cache", HashCache(None))
    message = str(info.value)
    assert "model.bin" in message
    assert "model.bin.dvc" in message
    assert md5 in message
    assert "dvc pull model.bin.dvc" in message

    assert main(["-C", str(project), "data"]) == 1  # listed as an error, and the command fails
    out = capsys.readouterr().out
    assert "error" in next(x for x in out.splitlines() if x.startswith("model.bin "))
    manifest = gather(Project.discover(project))
    with pytest.raises(DataInputError, match=r"model\.bin"):
        manifest.require_usable()


def test_a_folder_whose_listing_is_not_in_the_cache_and_differs_is_an_error(project):
    md5 = recorded(project, "data.dvc")["md5"]
    (project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    entry = gather(Project.discover(project)).by_uri()["data"]
    assert entry.state == "ok"  # the workspace still holds the recorded version: nothing is lost
    (project / "data" / "row00.csv").unlink()
    entry = gather(Project.discover(project)).by_uri()["data"]
    assert entry.state == "error"
    assert ".dir" in entry.message


def test_a_missing_output_that_dvc_can_restore_is_missing(project, capsys):
    shutil.rmtree(project / "data")
    assert main(["-C", str(project), "data"]) == 1
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("data "))
    assert "missing" in line
    assert "dvc checkout data.dvc" in line
    gather(Project.discover(project)).require_usable()  # its version is in the DVC cache: a run may start


def test_dvc_lock_outputs_are_inputs(project):
    dvc(
        project,
        "stage",
        "add",
        "-q",
        "-n",
        "prep",
        "-d",
        "data",
        "-o",
        "prepared.txt",
        "ls data > prepared.txt",
    )
    dvc(project, "repro", "-q")
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    entry = gather(Project.discover(project)).by_uri()["prepared.txt"]
    assert entry.record == "dvc.lock:prep"
    assert entry.version == f"md5:{lock['stages']['prep']['outs'][0]['md5']}"
    assert entry.state == "ok"


def test_a_dvc_2_record_is_checked_with_dos2unix_md5(project):
    from dvc_data.hashfile.hash import file_md5  # a test dependency (dvc brings it)

    text = project / "notes.txt"
    text.write_bytes(b"line one\r\nline two\r\n")
    legacy = {"outs": [{"md5": file_md5(str(text), name="md5-dos2unix"), "size": 20, "path": "notes.txt"}]}
    (project / "notes.txt.dvc").write_text(yaml.safe_dump(legacy))
    entry = gather(Project.discover(project)).by_uri()["notes.txt"]
    assert entry.state == "ok"
    assert entry.hash == f"md5:{legacy['outs'][0]['md5']}"


def test_a_tracked_path_inside_dvc_data_is_covered_by_it(project):
    assert main(["-C", str(project), "track", "data/row00.csv"]) == 0
    manifest = gather(Project.discover(project))
    assert "data/row00.csv" not in manifest.by_uri()
    assert manifest.by_uri()["data"].state == "ok"


def test_an_unreadable_record_names_itself(project):
    (project / "broken.dvc").write_text("outs: [\n")
    entry = gather(Project.discover(project)).by_uri()["broken.dvc"]
    assert entry.state == "error"
    assert "broken.dvc" in entry.message


def test_dvc_folder_listing_matches_dvcs(project):
    """The files nblift lists in a DVC-tracked folder are the ones DVC recorded."""
    md5 = recorded(project, "data.dvc")["md5"]
    listing = json.loads((project / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).read_text())
    assert [e["relpath"] for e in listing] == [rel for rel, _ in list_files(project / "data")]
