"""URI inputs: an S3 object on a moto server (versioned and unversioned buckets) and a lakeFS object on a
loopback stand-in that answers with the responses of lakeFS's published API description. The manifest
records the S3 version id / the lakeFS commit (never the branch); a run reads exactly that version even
after the object was overwritten or the branch moved; an input that cannot be resolved stops the launch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lakefs_standin import LakeFSStandin
from ray_cluster import s3_bucket
from run_helpers import wait_done, write_notebook

from nblift.cli import main
from nblift.data import fetched
from nblift.data.inputs import gather
from nblift.data.manifest import DataInputError
from nblift.data.sources import fetch, resolve
from nblift.errors import InvalidInput
from nblift.project import Project
from nblift.runs import service
from nblift.runs.records import RunRecord, iter_records
from nblift.snapshot.context import set_tracked, tracked_paths

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
VERSIONED, PLAIN = "nblift-data", "nblift-plain"
READ = "import nblift.data\nprint(open(nblift.data.input_path({uri!r})).read())"


@pytest.fixture(scope="module")
def s3():
    import boto3

    with s3_bucket(VERSIONED, set_endpoint=True):
        client = boto3.client("s3")
        client.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
        client.create_bucket(Bucket=PLAIN)
        yield client


@pytest.fixture
def lakefs(monkeypatch):
    standin = LakeFSStandin().start()
    monkeypatch.setenv("LAKEFS_ENDPOINT", standin.endpoint)
    monkeypatch.setenv("LAKEFS_ACCESS_KEY_ID", standin.key)
    monkeypatch.setenv("LAKEFS_SECRET_ACCESS_KEY", standin.secret)
    yield standin
    standin.stop()


def output_of(project: Project, run_id: str) -> str:
    import nbformat

    executed = service.fetch(project, run_id)
    cell = nbformat.read(executed, as_version=4).cells[-1]
    return "".join(o.get("text", "") for o in cell.outputs)


def test_an_s3_input_records_its_version_and_a_run_reads_that_version(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    uri = f"s3://{VERSIONED}/sets/train.csv"
    first = s3.put_object(Bucket=VERSIONED, Key="sets/train.csv", Body=b"a,b\n1,2\n")["VersionId"]
    nb = write_notebook(tmp_path / "train.ipynb", READ.format(uri=uri))
    project = Project.discover(tmp_path)
    assert main(["-C", str(tmp_path), "track", uri]) == 0
    assert uri in tracked_paths(project.state_dir)

    info = service.launch(project, nb)
    s3.put_object(Bucket=VERSIONED, Key="sets/train.csv", Body=b"a,b\n9,9\n")  # overwritten after launch
    entry = {e["uri"]: e for e in RunRecord.open(project.state_dir, info.id).spec.data["entries"]}[uri]
    assert (entry["kind"], entry["version"], entry["size"]) == ("object", first, 8)
    assert entry["record"] == f"{uri}?versionId={first}"
    assert wait_done(project, info.id).state == "SUCCEEDED"
    assert output_of(project, info.id).strip() == "a,b\n1,2"

    # deterministic: the runner's fetch after the overwrite gets the recorded version, and the next
    # manifest sees the new version as a change
    spec = RunRecord.open(project.state_dir, info.id).spec
    index = fetched.fetch_for_run(spec.data, tmp_path / "rundir").index
    assert Path(index[uri]).read_bytes() == b"a,b\n1,2\n"
    now = gather(project).by_uri()[uri]
    assert now.version != first and now.hash != entry["hash"]


def test_an_unversioned_s3_input_records_its_etag_and_refuses_a_changed_object(s3, tmp_path):
    uri = f"s3://{PLAIN}/labels.json"
    etag = s3.put_object(Bucket=PLAIN, Key="labels.json", Body=b"[1, 2]")["ETag"].strip('"')
    entry = resolve(uri)
    assert (entry.state, entry.version, entry.hash) == ("ok", None, f"etag:{etag}")
    fetch(entry, tmp_path / "ok.json")
    assert (tmp_path / "ok.json").read_bytes() == b"[1, 2]"
    s3.put_object(Bucket=PLAIN, Key="labels.json", Body=b"[3, 4]")
    with pytest.raises(Exception, match=r"labels\.json: the object changed since its version was recorded"):
        fetch(entry, tmp_path / "changed.json")
    assert not (tmp_path / "changed.json").exists()


def test_a_missing_s3_input_stops_the_launch_naming_it(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    nb = write_notebook(tmp_path / "train.ipynb", "print(1)")
    project = Project.discover(tmp_path)
    set_tracked(project.root, project.ensure_state_dir(), [f"s3://{VERSIONED}/nope.csv"], [])
    with pytest.raises(DataInputError, match=rf"s3://{VERSIONED}/nope\.csv: .*not found"):
        service.launch(project, nb)
    assert list(iter_records(project.state_dir)) == []
    with pytest.raises(InvalidInput, match="not an S3 object URI"):
        set_tracked(project.root, project.state_dir, [f"s3://{VERSIONED}/"], [])


def test_a_lakefs_branch_is_recorded_as_its_commit_and_a_run_reads_that_commit(lakefs, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    repo = lakefs.repository("images")
    repo.put("main", "train/labels.csv", b"id,label\n1,cat\n")
    first = repo.commit("main", "first labels")
    uri = "lakefs://images/main/train/labels.csv"
    nb = write_notebook(tmp_path / "train.ipynb", READ.format(uri=uri))
    project = Project.discover(tmp_path)
    set_tracked(project.root, project.ensure_state_dir(), [uri], [])

    info = service.launch(project, nb)
    repo.put("main", "train/labels.csv", b"id,label\n1,dog\n")
    second = repo.commit("main", "relabelled")  # the branch moves after launch
    entry = {e["uri"]: e for e in RunRecord.open(project.state_dir, info.id).spec.data["entries"]}[uri]
    assert entry["version"] == first and entry["record"] == f"lakefs://images/{first}/train/labels.csv"
    assert entry["size"] == 15 and entry["hash"].startswith("etag:")
    assert wait_done(project, info.id).state == "SUCCEEDED"
    assert output_of(project, info.id).strip() == "id,label\n1,cat"
    # what was fetched was read at the commit, never at the branch
    reads = [c for c in lakefs.calls if c.startswith("getObject")]
    assert reads and all(f"/refs/{first}/" in c for c in reads)

    assert main(["-C", str(tmp_path), "--json", "data"]) == 0
    assert gather(project).by_uri()[uri].version == second


def test_an_unresolvable_lakefs_ref_stops_the_launch_naming_the_input(lakefs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    repo = lakefs.repository("images")
    repo.put("main", "a.bin", b"x")
    repo.commit("main", "one")
    nb = write_notebook(tmp_path / "train.ipynb", "print(1)")
    project = Project.discover(tmp_path)
    uri = "lakefs://images/experiment-7/a.bin"
    set_tracked(project.root, project.ensure_state_dir(), [uri], [])
    with pytest.raises(DataInputError, match=r"lakefs://images/experiment-7/a\.bin: .*'experiment-7'.*404"):
        service.launch(project, nb)
    assert list(iter_records(project.state_dir)) == []

    assert main(["-C", str(tmp_path), "--json", "data"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [(i["uri"], i["status"]) for i in report["inputs"]] == [(uri, "error")]

    monkeypatch.setenv("LAKEFS_SECRET_ACCESS_KEY", "wrong")
    bad = resolve("lakefs://images/main/a.bin")
    assert bad.state == "error" and "401" in bad.message and "LAKEFS_SECRET_ACCESS_KEY" in bad.message
