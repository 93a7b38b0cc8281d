"""Data sent to a remote run (the loopback sshd of the ssh backend tests): a tracked folder the bundle does
not carry and an S3 input (moto, versioned) reach the host through the content-addressed store, the S3
object at its recorded version fetched once at home; the second run of the same data sends 0 bytes; the
inputs written into the run's working folder are not taken for artifacts. With `--data-from-source` home
fetches nothing: the target gets the URI input from its source."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest
from ray_cluster import s3_bucket
from run_helpers import wait_done, wait_for_event, write_notebook
from test_ssh_backend import project_for, remote_root, sshd  # noqa: F401 - fixtures: the loopback sshd

from nblift.data import sending
from nblift.runs import service
from nblift.runs.records import RunRecord, record_dir
from nblift.snapshot.context import set_tracked
from nblift.store import ObjectStore

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
BUCKET = "nblift-remote-data"
URI = f"s3://{BUCKET}/train/labels.csv"
# the folder's name is built at run time, so the bundle does not carry it: only the data manifest does
READ = (
    "import nblift.data, os\n"
    "folder = 'ima' + 'ges'\n"
    "print(sorted(os.listdir(folder)), os.path.getsize(os.path.join(folder, 'big.bin')))\n"
    f"print(open(nblift.data.input_path({URI!r})).read())"
)


@pytest.fixture(scope="module")
def s3():
    import boto3

    with s3_bucket(BUCKET, set_endpoint=True):
        client = boto3.client("s3")
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def write_old(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time_ns() - 60 * 10**9
    os.utime(path, ns=(then, then))


def test_inputs_go_through_the_store_once(sshd, remote_root, s3, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    big = os.urandom(1 << 20)
    write_old(tmp_path / "images" / "big.bin", big)
    write_old(tmp_path / "images" / "small.txt", b"cat")
    s3.put_object(Bucket=BUCKET, Key="train/labels.csv", Body=b"id,label\n1,cat\n")
    project = project_for(tmp_path, sshd, remote_root)
    set_tracked(project.root, project.ensure_state_dir(), ["images", URI], [])
    notebook = write_notebook(tmp_path / "train.ipynb", READ)

    first = service.launch(project, notebook, backend="ssh:box")
    done = wait_done(project, first.id, timeout=400)
    assert done.state == "SUCCEEDED", (done.error, record_dir(project.state_dir, first.id) / "runner.log")
    sent = wait_for_event(project, first.id, "bundle.sent", timeout=10)
    assert sent["bytes"] >= len(big) + 3 + 15  # the folder's files and the S3 object went with the bundle
    executed = service.fetch(project, first.id)
    text = executed.read_text()
    assert f"['big.bin', 'small.txt'] {len(big)}" in text and "id,label\\n" in text and "1,cat" in text
    assert not (executed.parent / "artifacts" / "images").exists()  # inputs are not outputs

    # the host holds every object now: the same data again sends nothing, and home does not fetch S3 again
    store = ObjectStore(project.state_dir)
    fetched_index = json.loads((project.state_dir / "data" / sending.FETCHED_FILE).read_text())
    assert len(fetched_index) == 1
    again = service.launch(project, notebook, backend="ssh:box")
    sent = wait_for_event(project, again.id, "bundle.sent", timeout=60)
    assert sent["objects"] == 0 and sent["bytes"] == 0
    assert wait_done(project, again.id, timeout=300).state == "SUCCEEDED"
    assert json.loads((project.state_dir / "data" / sending.FETCHED_FILE).read_text()) == fetched_index

    # --data-from-source: the URI input is left to the target (nothing fetched or stored at home for it)
    spec = RunRecord.open(project.state_dir, again.id).spec
    staged = sending.stage(
        dataclasses.replace(spec, data_from_source=True),
        project.root,
        project.state_dir,
        store,
        [],
    )
    entries = {e["uri"]: e for e in staged.spec.data["entries"]}
    assert staged.from_source == [URI] and entries[URI]["stored"] is None
    assert entries["images"]["stored"] in staged.objects
    listing = sending.folder_listing(store, entries["images"]["stored"])
    assert listing is not None and set(listing) == {"big.bin", "small.txt"}
