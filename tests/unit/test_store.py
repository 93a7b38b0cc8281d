"""The content-addressed object store: ids, layout, modes, verification on read, refs."""

from __future__ import annotations

import os
import stat

import blake3
import pytest

from nblift.errors import InvalidInput, NotFound, ObjectCorrupt
from nblift.fsutil import TEMP_PREFIX
from nblift.store import ObjectStore, StoreStats

BAD_IDS = [
    "../x",
    "../../../../etc/passwd",
    "",
    "ab",
    "A" * 64,  # upper case
    "0" * 63,
    "0" * 65,
    "g" * 64,
    "0" * 62 + "/x",
    "0" * 63 + "\n",
    None,
    123,
]


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def flip_one_byte(path, offset: int = 0) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))


@pytest.fixture
def store(tmp_path):
    return ObjectStore(tmp_path / ".nblift")


@pytest.fixture
def permissive_umask():
    """Modes must come from the store, not from the caller's umask."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_put_get_roundtrip(store):
    data = b"hello nblift\x00\xff" * 100
    oid = store.put_bytes(data)
    assert oid == blake3.blake3(data).hexdigest()
    assert store.has(oid)
    assert store.get_bytes(oid) == data
    assert store.verify(oid)
    assert list(store.iter_ids()) == [oid]
    assert store.temp_files() == []


def test_empty_object(store):
    oid = store.put_bytes(b"")
    assert oid == blake3.blake3(b"").hexdigest()
    assert store.get_bytes(oid) == b""


def test_same_bytes_same_id_one_file(store):
    first = store.put_bytes(b"same content")
    second = store.put_bytes(bytearray(b"same content"))
    third = store.put_stream([b"same ", memoryview(b"content")])
    assert first == second == third
    assert list(store.iter_ids()) == [first]
    assert store.stats() == StoreStats(objects=1, bytes=len(b"same content"))
    shard = store.objects_dir / first[:2]
    assert [p.name for p in shard.iterdir()] == [first[2:]]
    assert store.temp_files() == []  # the duplicate stream's temp file was removed


def test_different_bytes_different_ids(store):
    a = store.put_bytes(b"a")
    b = store.put_bytes(b"b")
    assert a != b
    assert sorted(store.iter_ids()) == sorted([a, b])
    assert store.stats() == StoreStats(objects=2, bytes=2)


def test_file_and_folder_modes(store, permissive_umask):
    oid = store.put_bytes(b"secret weights")
    path = store.path_of(oid)
    assert mode(path) == 0o600
    for folder in (store.state_dir, store.objects_dir, store.tmp_dir, path.parent):
        assert mode(folder) == 0o700, folder
    store.set_ref("snapshot", "s1", [oid])
    ref = store.refs_dir / "snapshot" / "s1"
    assert mode(ref) == 0o600
    assert mode(store.refs_dir) == 0o700
    assert mode(ref.parent) == 0o700


def test_streamed_object_mode(store, permissive_umask):
    oid = store.put_stream(iter([b"x" * 1000, b"y" * 1000]))
    assert mode(store.path_of(oid)) == 0o600


def test_sharded_layout(store):
    oid = store.put_bytes(b"layout")
    expected = store.state_dir / "objects" / oid[:2] / oid[2:]
    assert store.path_of(oid) == expected
    assert expected.is_file()
    assert expected.read_bytes() == b"layout"
    assert len(expected.parent.name) == 2
    assert len(expected.name) == 62
    # nothing else lives beside the shard folders but the temp folder
    assert sorted(p.name for p in store.objects_dir.iterdir()) == sorted([oid[:2], "tmp"])


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
def test_invalid_ids_rejected(store, tmp_path, bad):
    for call in (store.get_bytes, store.has, store.path_of, store.verify, store.delete):
        with pytest.raises(InvalidInput):
            call(bad)
    with pytest.raises(InvalidInput):
        store.set_ref("snapshot", "s", [bad])
    assert not (tmp_path / "x").exists()


def test_invalid_id_message_says_what_to_do(store):
    with pytest.raises(InvalidInput) as info:
        store.get_bytes("../x")
    assert "'../x'" in info.value.message
    assert "64 lowercase hex" in info.value.hint


def test_get_missing_object(store):
    oid = blake3.blake3(b"never stored").hexdigest()
    with pytest.raises(NotFound) as info:
        store.get_bytes(oid)
    assert oid in str(info.value)
    assert not store.has(oid)


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_flipped_byte_is_detected(store, where):
    data = bytes(range(256)) * 64
    oid = store.put_bytes(data)
    offset = {"first": 0, "middle": len(data) // 2, "last": len(data) - 1}[where]
    flip_one_byte(store.path_of(oid), offset)
    with pytest.raises(ObjectCorrupt) as info:
        store.get_bytes(oid)
    assert oid in info.value.message
    assert "fsck" in info.value.hint
    assert not store.verify(oid)


def test_truncated_object_is_detected(store):
    oid = store.put_bytes(b"0123456789" * 10)
    path = store.path_of(oid)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ObjectCorrupt, match=oid):
        store.get_bytes(oid)


def test_put_stream_multi_megabyte(store):
    chunk = os.urandom(1 << 20)
    chunks = [chunk, chunk[::-1], b"tail", chunk[:12345]]
    data = b"".join(chunks)
    oid = store.put_stream(iter(chunks))
    assert oid == blake3.blake3(data).hexdigest()
    assert store.get_bytes(oid) == data
    assert store.path_of(oid).stat().st_size == len(data)
    assert store.temp_files() == []


def test_put_file_larger_than_mmap_threshold(store, tmp_path):
    data = os.urandom(9 << 20)  # above the 8 MiB memory-map threshold of hash_file
    source = tmp_path / "weights.bin"
    source.write_bytes(data)
    oid = store.put_file(source)
    assert oid == blake3.blake3(data).hexdigest()
    assert store.verify(oid)
    assert store.get_bytes(oid) == data
    assert store.put_bytes(data) == oid  # dedupes against the streamed copy
    assert list(store.iter_ids()) == [oid]
    flip_one_byte(store.path_of(oid), len(data) - 10)
    assert not store.verify(oid)
    with pytest.raises(ObjectCorrupt, match=oid):
        store.get_bytes(oid)


def test_failed_stream_leaves_no_object_and_no_temp(store):
    def chunks():
        yield b"partial"
        raise RuntimeError("source vanished")

    with pytest.raises(RuntimeError, match="source vanished"):
        store.put_stream(chunks())
    assert list(store.iter_ids()) == []
    assert store.temp_files() == []


def test_iter_ids_ignores_temp_and_foreign_files(store):
    oid = store.put_bytes(b"real")
    store.tmp_dir.mkdir(parents=True, exist_ok=True)
    (store.tmp_dir / f"{TEMP_PREFIX}123-abc").write_bytes(b"half")
    (store.objects_dir / oid[:2] / "not-an-id").write_bytes(b"junk")
    (store.objects_dir / "README").write_bytes(b"junk")
    assert list(store.iter_ids()) == [oid]
    assert [p.name for p in store.temp_files()] == [f"{TEMP_PREFIX}123-abc"]


def test_delete(store):
    oid = store.put_bytes(b"12345")
    assert store.delete(oid) == 5
    assert not store.has(oid)
    assert store.delete(oid) == 0


def test_refs_roundtrip(store):
    a = store.put_bytes(b"a")
    b = store.put_bytes(b"b")
    store.set_ref("snapshot", "s1", [b, a, a])
    assert store.get_ref("snapshot", "s1") == sorted([a, b])
    store.set_ref("bundle", "train-v2.1_x", [a])
    assert list(store.iter_refs()) == [("bundle/train-v2.1_x", [a]), ("snapshot/s1", sorted([a, b]))]
    assert store.reachable() == {a, b}
    store.set_ref("snapshot", "s1", [b])  # replaced, not merged
    assert store.get_ref("snapshot", "s1") == [b]
    store.delete_ref("snapshot", "s1")
    with pytest.raises(NotFound):
        store.get_ref("snapshot", "s1")
    assert store.reachable() == {a}


def test_ref_may_name_an_object_not_yet_stored(store):
    oid = blake3.blake3(b"later").hexdigest()
    store.set_ref("data", "d", [oid])
    assert store.get_ref("data", "d") == [oid]


def test_missing_ref(store):
    with pytest.raises(NotFound, match="snapshot/nope"):
        store.get_ref("snapshot", "nope")


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("snapshot", "a/b"),
        ("snapshot", "../x"),
        ("snapshot", ".."),
        ("snapshot", "."),
        ("snapshot", ".hidden"),
        ("..", "x"),
        ("a/b", "x"),
        ("snapshot", ""),
        ("snapshot", "x" * 129),
        ("snapshot", "a\\b"),
        ("snapshot", "a\x00b"),
        ("snapshot", "/etc/passwd"),
    ],
)
def test_bad_ref_names_rejected(store, tmp_path, kind, name):
    oid = store.put_bytes(b"x")
    with pytest.raises(InvalidInput, match="not a valid ref name"):
        store.set_ref(kind, name, [oid])
    with pytest.raises(InvalidInput):
        store.get_ref(kind, name)
    with pytest.raises(InvalidInput):
        store.delete_ref(kind, name)
    assert list(store.iter_refs()) == []
    assert not (tmp_path / "x").exists()
    assert not (store.state_dir / "x").exists()
