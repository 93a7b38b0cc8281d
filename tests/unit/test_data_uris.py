"""URI inputs without a store: how URIs are checked and tracked, where lakeFS credentials come from, how a
run's inputs read back from MLflow compare, and the manifest of an input home sent."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from nblift.data import lakefs
from nblift.data.manifest import DataEntry, DataManifest
from nblift.data.mlflow_inputs import data_changes, dataset_inputs, run_inputs
from nblift.data.sources import check_uri, is_uri, resolve
from nblift.errors import ConfigError, InvalidInput
from nblift.lineage import data_versions
from nblift.snapshot.context import data_hashes, set_tracked, tracked_paths


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("s3://bucket", "not an S3 object URI"),
        ("s3://bucket/folder/", "not an S3 object URI"),
        ("lakefs://repo/main", "not a lakeFS object URI"),
        ("lakefs://repo/main/prefix/", "not a lakeFS object URI"),
        ("file:///etc/passwd", "is a local path"),
        ("nosuchscheme://x/y", "fsspec knows no filesystem"),
    ],
)
def test_a_uri_that_names_no_object_is_refused_with_how_to_write_it(uri, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        check_uri(uri)
    assert caught.value.hint


def test_uris_are_tracked_beside_paths_and_never_hashed_as_files(tmp_path):
    (tmp_path / "a.csv").write_text("1")
    state = tmp_path / ".nblift"
    set_tracked(tmp_path, state, ["a.csv", "s3://bucket/train.csv", "lakefs://repo/main/x.bin"], [])
    assert tracked_paths(state) == ["a.csv", "lakefs://repo/main/x.bin", "s3://bucket/train.csv"]
    assert [d["path"] for d in data_hashes(tmp_path, tracked_paths(state))] == ["a.csv"]
    set_tracked(tmp_path, state, [], ["s3://bucket/train.csv"])
    assert tracked_paths(state) == ["a.csv", "lakefs://repo/main/x.bin"]
    assert is_uri("gs://b/k") and not is_uri("data/s3:file")


def test_lakefs_credentials_come_from_the_environment_then_lakectl(tmp_path, monkeypatch):
    for names in lakefs._ENV.values():
        for name in names:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKECTL_CONFIG_FILE", str(tmp_path / "none.yaml"))
    with pytest.raises(ConfigError, match="LAKEFS_ENDPOINT, LAKEFS_ACCESS_KEY_ID, LAKEFS_SECRET_ACCESS_KEY"):
        lakefs.LakeFSClient.from_environment()
    config = tmp_path / "lakectl.yaml"
    config.write_text(
        "credentials:\n  access_key_id: AKIA\n  secret_access_key: s3cr3t\n"
        "server:\n  endpoint_url: http://127.0.0.1:8000/api/v1\n"
    )
    monkeypatch.setenv("LAKECTL_CONFIG_FILE", str(config))
    client = lakefs.LakeFSClient.from_environment()
    assert client.api == "http://127.0.0.1:8000/api/v1"
    monkeypatch.setenv("LAKEFS_ENDPOINT", "http://127.0.0.1:9000")
    assert lakefs.LakeFSClient.from_environment().api == "http://127.0.0.1:9000/api/v1"
    # an unreachable server is an input in error, named, not an exception
    monkeypatch.setenv("LAKEFS_ENDPOINT", "http://127.0.0.1:9")
    entry = resolve("lakefs://repo/main/x.bin")
    assert entry.state == "error" and "cannot be reached" in entry.message and "x.bin" in entry.message


def _run(run_id: str, entries: list[DataEntry]) -> SimpleNamespace:
    inputs = dataset_inputs(DataManifest.of(entries).to_json())
    return SimpleNamespace(info=SimpleNamespace(run_id=run_id), inputs=SimpleNamespace(dataset_inputs=inputs))


def test_runs_inputs_compare_by_hash_and_version_and_reach_the_lineage():
    s3 = "s3://bucket/train.csv"
    first = DataEntry(s3, "object", "tracked", "etag:1", 5, version="v1")
    a = _run("a", [first, DataEntry("x", "file", "tracked", "blake3:9", 1)])
    b = _run("b", [DataEntry(s3, "object", "tracked", "etag:1", 5, version="v2")])
    rows = {r["uri"]: r for r in data_changes([a, b])}
    assert rows[s3]["differs"] and rows[s3]["values"]["b"]["version"] == "v2"
    assert rows["x"]["differs"] and rows["x"]["values"]["b"] is None
    assert not data_changes([a, a])[0]["differs"]
    (read,) = [d for d in run_inputs(a) if d["uri"] == s3]
    assert (read["source_type"], read["version"], read["kind"]) == ("s3", "v1", "object")
    assert data_versions({}, a) == run_inputs(a)
    legacy = {"nblift.data": json.dumps([{"path": "iris.csv", "hash": "ab", "size": 3}])}
    assert data_versions(legacy, None)[0] == {
        "uri": "iris.csv",
        "hash": "blake3:ab",
        "version": None,
        "size": 3,
        "kind": "file",
    }


def test_an_entry_sent_with_the_run_keeps_its_object_through_json():
    entry = DataEntry("images", "folder", "tracked", "blake3:1", 4, files=2, stored="ab" * 32)
    back = DataManifest.from_json(DataManifest.of([entry]).to_json()).entries[0]
    assert back == entry
