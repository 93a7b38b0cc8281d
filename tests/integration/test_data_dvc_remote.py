"""DVC inputs of a remote run come from the project's DVC remote: a project made by the real `dvc` command
(`dvc init`, `dvc remote add -d` a local folder, `dvc add`, `dvc push`) runs on the loopback SSH host; the
host checks the recorded version out of the DVC remote with DVC's own data library (its md5 checked), so
nblift's store sends none of the data's bytes, and the `bundle.sent` event says so. Where the host cannot get
the version from the remote (an object was never pushed), the probe says why and the input goes through
nblift's store as before."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_helpers import wait_done, wait_for_event, write_notebook
from test_ssh_backend import project_for, remote_root, sshd  # noqa: F401 - fixtures: the loopback sshd

from nblift.data import dvc_remote
from nblift.data.sending import stage
from nblift.runs import service
from nblift.runs.model import SPEC_FILE
from nblift.runs.records import RunRecord, record_dir
from nblift.store import ObjectStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DVC = Path(sys.executable).parent / "dvc"
BIG = 1 << 20
# the folder's name is built at run time, so the bundle does not carry it: only the data manifest names it
READ = (
    "import hashlib, os\n"
    "folder = 'ima' + 'ges'\n"
    "for name in sorted(os.listdir(folder)):\n"
    "    data = open(os.path.join(folder, name), 'rb').read()\n"
    "    print(name, len(data), hashlib.md5(data).hexdigest())"
)


def dvc(cwd: Path, *args: str) -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_SITE_CACHE_DIR": str(cwd.parent / "dvc-site")}
    subprocess.run([str(DVC), *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=120)


def make_project(root: Path, remote: Path) -> dict[str, str]:
    """A DVC project whose folder `images` is added and pushed to the local DVC remote `remote`; returns
    the md5 of each of its files."""
    if not DVC.exists():
        pytest.fail("dvc is not installed: run ./dev test (it installs the test extra, dvc included)")
    files = {"big.bin": os.urandom(BIG), "small.txt": b"cat\n"}
    (root / "images").mkdir(parents=True)
    for name, data in files.items():
        (root / "images" / name).write_bytes(data)
    dvc(root, "init", "--no-scm", "-q")
    dvc(root, "remote", "add", "-d", "store", str(remote))
    dvc(root, "add", "-q", "images")
    dvc(root, "push", "-q")
    then = time.time_ns() - 60 * 10**9  # outside the racy window of the hash cache
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, ns=(then, then))
    return {name: hashlib.md5(data).hexdigest() for name, data in files.items()}


def test_a_remote_run_gets_dvc_data_from_the_dvc_remote(sshd, remote_root, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    root = tmp_path / "project"
    md5s = make_project(root, tmp_path / "dvc-remote")
    project = project_for(root, sshd, remote_root)
    recorded = dvc_remote.configured_remote(root)
    assert recorded is not None and recorded.url == str((tmp_path / "dvc-remote").resolve())
    notebook = write_notebook(root / "train.ipynb", READ)

    run = service.launch(project, notebook, backend="ssh:box")
    done = wait_done(project, run.id, timeout=240)
    assert done.state == "SUCCEEDED", (done.error, record_dir(project.state_dir, run.id) / "runner.log")
    sent = wait_for_event(project, run.id, "bundle.sent", timeout=10)
    assert sent["data_from_dvc"] == ["images"] and sent["data_note"] == ""
    assert sent["bytes"] < BIG  # the bundle went; none of the data's bytes went through nblift's store
    text = service.fetch(project, run.id).read_text()
    for name, md5 in md5s.items():  # the recorded version, byte for byte
        assert f"{name} {BIG if name == 'big.bin' else 4} {md5}" in text

    entry = next(e for e in RunRecord.open(project.state_dir, run.id).spec.data["entries"])
    assert entry["uri"] == "images" and entry["kind"] == "dvc" and entry["version"].endswith(".dir")
    # the host's copy of the spec names the remote and no store object: the host fetched the bytes itself
    host_spec = json.loads((remote_root / "runs" / run.id / SPEC_FILE).read_text())
    host_entry = next(e for e in host_spec["data"]["entries"] if e["uri"] == "images")
    assert host_entry["remote"] == f"{recorded.url}/files/md5" and host_entry["stored"] is None


def test_without_the_version_in_the_remote_the_input_goes_through_the_store(tmp_path):
    root = tmp_path / "project"
    make_project(root, tmp_path / "dvc-remote")
    (root / "images" / "small.txt").unlink()
    (root / "images" / "small.txt").write_text("dog\n")
    dvc(root, "add", "-q", "images")  # a new version, not pushed
    then = time.time_ns() - 60 * 10**9
    for path in (root / "images").rglob("*"):
        os.utime(path, ns=(then, then))
    from nblift.data.inputs import gather
    from nblift.project import Project
    from nblift.runs.model import RunSpec

    data = gather(Project.discover(root)).to_json()
    plan = dvc_remote.plan(root, data, [])
    assert set(plan.wanted) == {"images"} and plan.note == ""
    assert dvc_remote.packages(plan)[0].startswith("dvc-data==")
    # the probe the host runs, run here with this Python: the new version's listing is not in the remote
    ask = {"objects": sorted(set(plan.wanted.values())), "uv": "uv", "python": sys.executable}
    done = subprocess.run(
        [sys.executable, "-c", dvc_remote.PROBE],
        input=json.dumps({**ask, "offline": False, "packages": []}),
        capture_output=True,
        text=True,
        check=False,
    )
    reason = dvc_remote.answer(done.stdout, done.stderr, done.returncode)
    assert reason.startswith("the DVC remote has no ") and reason.endswith(".dir")
    dvc(root, "push", "-q")
    done = subprocess.run(
        [sys.executable, "-c", dvc_remote.PROBE],
        input=json.dumps({**ask, "offline": False, "packages": []}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert dvc_remote.answer(done.stdout, done.stderr, done.returncode) == ""

    # a plan the host refused: the folder goes through nblift's store, and the event says why
    refused = dvc_remote.Plan(plan.remote, {}, f"{reason}: DVC inputs sent from home")
    state = root / ".nblift"
    state.mkdir(exist_ok=True)
    spec = RunSpec(id="0123456789ab", notebook="train.ipynb", backend="ssh:box", bundle="0" * 64, data=data)
    staged = stage(spec, root, state, ObjectStore(state), [], refused)
    entry = next(e for e in staged.spec.data["entries"] if e["uri"] == "images")
    assert entry["stored"] in staged.objects and entry["remote"] is None
    assert staged.event_fields() == {"data_from_dvc": [], "data_note": refused.note}
    assert staged.packages == []

    # without a DVC remote in the project's config, nothing is asked of the host
    shutil.copy(root / ".dvc" / "config", tmp_path / "config")
    (root / ".dvc" / "config").write_text("[core]\n    no_scm = True\n")
    none = dvc_remote.plan(root, data, [])
    assert none.wanted == {} and "no DVC remote" in none.note


def test_the_default_remote_is_read_as_dvc_reads_it(tmp_path):
    (tmp_path / ".dvc").mkdir()
    config = tmp_path / ".dvc" / "config"
    config.write_text("[core]\n    no_scm = True\n")
    assert dvc_remote.configured_remote(tmp_path) is None
    config.write_text(
        "[core]\n    remote = local\n['remote \"local\"']\n    url = ../../store\n"
        "['remote \"cloud\"']\n    url = s3://bucket/dvc\n"
    )
    local = dvc_remote.configured_remote(tmp_path)
    assert local == dvc_remote.Remote("local", str((tmp_path / ".." / "store").resolve()))
    assert local.objects("md5") == f"{local.url}/files/md5" and local.objects("md5-dos2unix") == local.url
    # config.local overrides config (DVC's order), and a URL with a scheme is kept as written
    (tmp_path / ".dvc" / "config.local").write_text("[core]\n    remote = cloud\n")
    cloud = dvc_remote.configured_remote(tmp_path)
    assert cloud == dvc_remote.Remote("cloud", "s3://bucket/dvc") and cloud.scheme == "s3"
    plan = dvc_remote.Plan(cloud, {"data": ("s3://bucket/dvc/files/md5", "0" * 32)}, "")
    assert [p.split("==")[0] for p in dvc_remote.packages(plan)] == ["dvc-data", "s3fs"]
