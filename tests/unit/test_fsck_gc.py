"""`fsck` audits the store; `gc` removes only what nothing keeps alive, and never guesses."""

from __future__ import annotations

import json
import os
import time

import blake3
import pytest

from nblift.cli import main
from nblift.collect import GcReport, collect_garbage
from nblift.errors import NbliftError
from nblift.fsck import FsckReport, fsck, last_report
from nblift.fsutil import TEMP_PREFIX
from nblift.store import ObjectStore

DAY = 24 * 3600


def flip_one_byte(path, offset: int = 0) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x80]))


def age(path, seconds: float) -> None:
    """Make `path` look `seconds` old."""
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def store(tmp_path):
    return ObjectStore(tmp_path / ".nblift")


def test_fsck_clean_store(store):
    ids = [store.put_bytes(f"object {i}".encode()) for i in range(5)]
    store.set_ref("snapshot", "s1", ids[:3])
    report = fsck(store)
    assert report.ok
    assert report.checked == 5
    assert report.corrupt == []
    assert report.missing == []
    assert report.unreadable_refs == []
    assert report.temp_files == 0


def test_fsck_of_a_store_never_written(store, tmp_path):
    report = fsck(store)
    assert report.ok
    assert report.checked == 0
    assert list(tmp_path.iterdir()) == []  # a folder without nblift state stays untouched


def test_fsck_finds_corrupt_object(store):
    good = store.put_bytes(b"good object")
    bad = store.put_bytes(b"object that will rot")
    flip_one_byte(store.path_of(bad), 3)
    report = fsck(store)
    assert not report.ok
    assert report.corrupt == [bad]
    assert report.checked == 2
    assert good not in report.corrupt


def test_fsck_cli_exits_1_and_names_corrupt_object(store, tmp_path, capsys):
    store.put_bytes(b"fine")
    bad = store.put_bytes(b"object that will rot")
    flip_one_byte(store.path_of(bad))
    assert main(["-C", str(tmp_path), "fsck"]) == 1
    out = capsys.readouterr().out
    assert bad in out
    assert "corrupt" in out


def test_fsck_cli_exits_0_when_clean(store, tmp_path, capsys):
    store.put_bytes(b"fine")
    assert main(["-C", str(tmp_path), "fsck"]) == 0
    assert "ok: 1 objects verified" in capsys.readouterr().out


def test_fsck_cli_json(store, tmp_path, capsys):
    bad = store.put_bytes(b"object that will rot")
    flip_one_byte(store.path_of(bad))
    assert main(["-C", str(tmp_path), "fsck", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert data["corrupt"] == [bad]


def test_fsck_finds_object_missing_from_a_ref(store):
    present = store.put_bytes(b"here")
    absent = blake3.blake3(b"never written").hexdigest()
    store.set_ref("bundle", "b1", [present, absent])
    report = fsck(store)
    assert not report.ok
    assert report.missing == [{"object": absent, "ref": "bundle/b1"}]
    assert report.corrupt == []


def test_fsck_finds_object_deleted_after_ref(store):
    oid = store.put_bytes(b"here for now")
    store.set_ref("snapshot", "s", [oid])
    store.path_of(oid).unlink()
    assert fsck(store).missing == [{"object": oid, "ref": "snapshot/s"}]


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"objects": "abc"}', b'{"objects": ["../x"]}', b'{"other": []}', b"[]", b"\xff\xfe"],
)
def test_unreadable_ref_listed_and_gc_refuses(store, content):
    kept = store.put_bytes(b"kept by the good ref")
    orphan = store.put_bytes(b"referenced only by the broken ref, perhaps")
    store.set_ref("snapshot", "good", [kept])
    broken = store.refs_dir / "snapshot" / "broken"
    broken.write_bytes(content)
    for oid in (kept, orphan):
        age(store.path_of(oid), DAY)
    stale = store.tmp_dir / f"{TEMP_PREFIX}1-stale"
    stale.write_bytes(b"half")
    age(stale, DAY)

    report = fsck(store)
    assert report.unreadable_refs == ["snapshot/broken"]
    assert not report.ok

    with pytest.raises(NbliftError) as info:
        collect_garbage(store, grace_seconds=0)
    assert "snapshot/broken" in info.value.message
    assert info.value.hint
    # nothing was deleted: not the orphan, not the temp file, not the ref
    assert store.has(orphan) and store.has(kept)
    assert stale.exists()
    assert broken.read_bytes() == content


def test_gc_cli_refuses_with_exit_2(store, tmp_path, capsys):
    oid = store.put_bytes(b"orphan")
    (store.refs_dir / "snapshot").mkdir(parents=True)
    (store.refs_dir / "snapshot" / "broken").write_bytes(b"{")
    assert main(["-C", str(tmp_path), "gc", "--grace", "0"]) == 2
    err = capsys.readouterr().err
    assert "snapshot/broken" in err
    assert "what to do" in err
    assert store.has(oid)


def test_gc_removes_old_unreferenced_and_keeps_the_rest(store):
    referenced = store.put_bytes(b"referenced")
    old_orphan = store.put_bytes(b"old orphan!")
    young_orphan = store.put_bytes(b"young orphan")
    store.set_ref("snapshot", "s", [referenced])
    age(store.path_of(referenced), 10 * DAY)
    age(store.path_of(old_orphan), 2 * DAY)
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    stale_temp = store.tmp_dir / f"{TEMP_PREFIX}999-dead"
    stale_temp.write_bytes(b"x" * 100)
    age(stale_temp, 2 * DAY)
    live_temp = store.tmp_dir / f"{TEMP_PREFIX}1000-writing"
    live_temp.write_bytes(b"y" * 10)

    report = collect_garbage(store, grace_seconds=DAY)

    assert report == GcReport(
        removed_objects=1, removed_temp_files=1, freed_bytes=len(b"old orphan!") + 100, kept_recent=1
    )
    assert not store.has(old_orphan)
    assert store.get_bytes(referenced) == b"referenced"
    assert store.get_bytes(young_orphan) == b"young orphan"
    assert not stale_temp.exists()
    assert live_temp.exists()


def test_gc_large_grace_keeps_everything(store):
    ids = [store.put_bytes(f"orphan {i}".encode()) for i in range(3)]
    report = collect_garbage(store, grace_seconds=100 * 365 * DAY)
    assert report.removed_objects == 0
    assert report.kept_recent == 3
    assert all(store.has(oid) for oid in ids)


def test_gc_grace_zero_removes_every_orphan_and_temp(store):
    keep = store.put_bytes(b"keep")
    drop = [store.put_bytes(f"drop {i}".encode()) for i in range(4)]
    store.set_ref("data", "d1", [keep])
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    (store.tmp_dir / f"{TEMP_PREFIX}1-a").write_bytes(b"a")
    report = collect_garbage(store, grace_seconds=0)
    assert report.removed_objects == 4
    assert report.removed_temp_files == 1
    assert list(store.iter_ids()) == [keep]
    assert store.temp_files() == []
    assert not any(store.has(oid) for oid in drop)
    assert fsck(store).ok


def test_gc_keeps_objects_of_every_ref(store):
    a = store.put_bytes(b"a")
    b = store.put_bytes(b"b")
    store.set_ref("snapshot", "s", [a])
    store.set_ref("bundle", "b", [b])
    collect_garbage(store, grace_seconds=0)
    assert store.has(a) and store.has(b)
    store.delete_ref("bundle", "b")
    collect_garbage(store, grace_seconds=0)
    assert store.has(a) and not store.has(b)


def test_last_report(store, tmp_path):
    store.put_bytes(b"fine")
    assert last_report(store.state_dir) is None
    first = fsck(store)
    assert last_report(store.state_dir) == first
    bad = store.put_bytes(b"rots")
    flip_one_byte(store.path_of(bad))
    second = fsck(store)
    remembered = last_report(store.state_dir)
    assert remembered == second
    assert remembered.corrupt == [bad]
    assert not remembered.ok
    assert isinstance(remembered, FsckReport)


def test_last_report_ignores_garbage(store):
    store.state_dir.mkdir(parents=True)
    (store.state_dir / "fsck.json").write_bytes(b"not json")
    assert last_report(store.state_dir) is None


def test_status_shows_last_fsck(store, tmp_path, capsys):
    bad = store.put_bytes(b"rots")
    flip_one_byte(store.path_of(bad))
    fsck(store)
    assert main(["-C", str(tmp_path), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["fsck"]["corrupt"] == [bad]
    assert status["fsck"]["ok"] is False
    assert status["store"] == {"objects": 1, "bytes": 4}
