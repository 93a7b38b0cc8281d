"""Snapshots record the data manifest (in the foreground and from a forked background child), and `%lift data`
in a real kernel compares the inputs with the last snapshot."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from kernel_helpers import Kernel

from nblift.cli import main

pytestmark = pytest.mark.integration


def write_old(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time_ns() - 60 * 10**9
    os.utime(path, ns=(then, then))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    for i in range(20):
        write_old(root / "images" / f"{i:02d}.bin", bytes([i]) * 100)
    write_old(root / "labels.csv", b"id,label\n1,cat\n")
    return root


@pytest.fixture
def kernel(project: Path, tmp_path: Path):
    k = Kernel(project, {"NBLIFT_SECRET_FILE": str(tmp_path / "keys" / "mine")})
    k.run("%load_ext nblift")
    yield k
    k.shutdown()


def manifest_of(project: Path, sid: str) -> dict:
    return json.loads((project / ".nblift" / "snapshots" / f"{sid}.json").read_text())


def data_report(kernel: Kernel) -> dict[str, dict]:
    report = kernel.value("get_ipython().run_line_magic('lift', '--json data').data")
    return {i["uri"]: i for i in report["inputs"]} | {"": {"baseline": report["baseline"]}}


def test_snapshots_record_the_data_manifest_and_data_compares_with_it(kernel: Kernel, project: Path) -> None:
    kernel.run("%lift track images labels.csv")
    before = data_report(kernel)
    assert before["images"]["status"] == "new"
    assert before["images"]["files"] == 20

    kernel.run("x = 1\n_r = get_ipython().run_line_magic('lift', '--json snapshot --wait -m one')")
    sid = kernel.value("_r.data['id']")
    recorded = manifest_of(project, sid)["data_manifest"]
    assert recorded["format"] == "nblift.data/1"
    by_uri = {e["uri"]: e for e in recorded["entries"]}
    assert by_uri["images"]["kind"] == "folder"
    assert by_uri["images"]["hash"] == before["images"]["hash"]
    assert by_uri["labels.csv"]["hash"].startswith("blake3:")

    after = data_report(kernel)
    assert after[""]["baseline"] == f"snapshot {sid}"
    assert after["images"]["status"] == after["labels.csv"]["status"] == "unchanged"

    write_old(project / "images" / "07.bin", b"changed")
    (project / "labels.csv").unlink()
    later = data_report(kernel)
    assert later["images"]["status"] == "changed"
    assert later["images"]["note"] == f"since snapshot {sid}"
    assert later["labels.csv"]["status"] == "missing"
    html = kernel.value("get_ipython().run_line_magic('lift', 'data')._repr_html_()")
    assert "<table>" in html
    assert "changed" in html

    kernel.run("_r = get_ipython().run_line_magic('lift', '--json snapshot --wait -m two')")
    second = kernel.value("_r.data['id']")
    diff = kernel.value(f"get_ipython().run_line_magic('lift', '--json diff {sid} {second}').data")
    assert {d["uri"] for d in diff["data"]} == {"images", "labels.csv"}
    missing = next(d for d in diff["data"] if d["uri"] == "labels.csv")
    assert missing["a"] == by_uri["labels.csv"]["hash"]
    assert missing["b"] is None
    assert any(line.startswith("data images: blake3:") for line in diff["lines"])


def test_a_background_snapshot_records_the_data_manifest(kernel: Kernel, project: Path) -> None:
    kernel.run("%lift track images")
    kernel.run("_r = get_ipython().run_line_magic('lift', '--json snapshot -m bg')")
    first = kernel.value("_r.data")
    assert first["state"] == "saving"
    kernel.run(
        "from nblift.snapshot.verbs import snapshotter; _done = snapshotter(get_ipython()).collect(wait=True)"
    )
    warnings = kernel.value("_done.warnings")
    assert not [w for w in warnings if "data manifest" in w or "imports" in w], warnings
    manifest = manifest_of(project, first["id"])
    assert [e["uri"] for e in manifest["data_manifest"]["entries"]] == ["images"]


def test_a_snapshot_made_before_data_manifests_is_still_a_baseline(project: Path, capsys) -> None:
    """Old snapshots have only `data` (tracked files and their BLAKE3): `nblift data` compares with that."""
    assert main(["-C", str(project), "track", "labels.csv"]) == 0
    capsys.readouterr()
    assert main(["-C", str(project), "--json", "track"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    folder = project / ".nblift" / "snapshots"
    folder.mkdir(parents=True)
    old = {"format": 1, "id": "0123456789ab", "created": time.time(), "variables": {}, "data": files}
    (folder / "0123456789ab.json").write_text(json.dumps(old))
    assert main(["-C", str(project), "--json", "data"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["baseline"] == "snapshot 0123456789ab"
    assert report["inputs"][0]["status"] == "unchanged"
