"""Local data hashing: BLAKE3 of files and folders through the persistent (device, inode, mtime, size)
cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nblift.data import hashcache, local
from nblift.data.hashcache import HashCache
from nblift.data.local import STATS, hash_path, read_digest
from nblift.data.manifest import DataEntry, DataManifest


def backdate(path: Path, seconds: float = 60.0) -> None:
    """Give `path` an mtime well before now (outside the racy window), as a file written a while ago has."""
    then = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(then, then))


def make_folder(root: Path, n: int) -> Path:
    folder = root / "images"
    for i in range(n):
        sub = folder / f"part{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"{i:04d}.bin"
        path.write_bytes(f"sample {i}\n".encode() * (1 + i % 7))
        backdate(path)
    return folder


@pytest.fixture(autouse=True)
def _fresh_stats():
    STATS.reset()
    yield
    STATS.reset()


def test_a_folder_of_1000_files_changed_in_one_file_rehashes_one(tmp_path):
    state = tmp_path / ".nblift"
    folder = make_folder(tmp_path, 1000)
    first = HashCache(state)
    before = hash_path(folder, first)
    first.save()
    assert (before.kind, before.files) == ("folder", 1000)
    assert STATS.files == 1000

    STATS.reset()
    again = hash_path(folder, HashCache(state))  # a new cache object: read from disk, not from memory
    assert again == before
    assert STATS.files == 0

    changed = folder / "part3" / "0503.bin"
    changed.write_bytes(b"a different sample\n")
    backdate(changed, 30)
    STATS.reset()
    cache = HashCache(state)
    after = hash_path(folder, cache)
    cache.save()
    assert STATS.files == 1
    assert after.hash != before.hash
    assert after.files == 1000

    STATS.reset()
    assert hash_path(folder, HashCache(state)) == after
    assert STATS.files == 0


def test_the_cache_survives_a_new_process(tmp_path, child_env):
    state = tmp_path / ".nblift"
    folder = make_folder(tmp_path, 50)
    cache = HashCache(state)
    digest = hash_path(folder, cache)
    cache.save()
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from nblift.data.hashcache import HashCache\n"
        "from nblift.data.local import STATS, hash_path\n"
        "d = hash_path(Path(sys.argv[1]), HashCache(Path(sys.argv[2])))\n"
        "print(json.dumps({'hash': d.hash, 'reads': STATS.files}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(state)],
        capture_output=True,
        text=True,
        env=child_env,
        check=True,
    )
    assert json.loads(out.stdout) == {"hash": digest.hash, "reads": 0}


def test_a_file_modified_within_the_timestamp_granularity_is_not_trusted_later(tmp_path):
    """Racy git: a file changed again in the same timestamp tick as it was hashed keeps its (device, inode,
    mtime, size). Its digest is therefore never cached while its mtime is within the racy window."""
    state = tmp_path / ".nblift"
    path = tmp_path / "labels.csv"
    path.write_bytes(b"id,label\n1,cat\n")
    cache = HashCache(state)
    first = hash_path(path, cache)
    cache.save()
    mtime = path.stat().st_mtime_ns
    path.write_bytes(b"id,label\n1,dog\n")  # same size
    os.utime(path, ns=(mtime, mtime))  # and the same mtime, as on a filesystem with a coarse clock
    assert path.stat().st_mtime_ns == mtime

    STATS.reset()
    second = hash_path(path, HashCache(state))
    assert STATS.files == 1
    assert second.hash != first.hash
    assert second.hash == f"blake3:{read_digest(path, 'blake3', path.stat().st_size)}"


def test_an_old_file_is_trusted_and_a_future_mtime_is_not(tmp_path):
    state = tmp_path / ".nblift"
    old, future = tmp_path / "old.bin", tmp_path / "future.bin"
    old.write_bytes(b"old")
    backdate(old)
    future.write_bytes(b"future")
    later = time.time_ns() + 3600 * 10**9
    os.utime(future, ns=(later, later))
    cache = HashCache(state)
    hash_path(old, cache)
    hash_path(future, cache)
    cache.save()
    STATS.reset()
    fresh = HashCache(state)
    hash_path(old, fresh)
    assert STATS.files == 0
    hash_path(future, fresh)
    assert STATS.files == 1


def test_a_one_pass_cache_reads_a_racy_file_once_and_saves_nothing(tmp_path):
    state = tmp_path / ".nblift"
    path = tmp_path / "fresh.csv"
    path.write_bytes(b"just written")
    cache = HashCache(state, one_pass=True)
    assert hash_path(path, cache) == hash_path(path, cache)
    assert STATS.files == 1
    assert not cache.dirty
    cache.save()
    assert not (state / "data" / hashcache.CACHE_FILE).exists()


def test_a_damaged_cache_file_is_an_empty_cache(tmp_path):
    state = tmp_path / ".nblift"
    path = tmp_path / "x.bin"
    path.write_bytes(b"x")
    backdate(path)
    (state / "data").mkdir(parents=True)
    (state / "data" / hashcache.CACHE_FILE).write_text("{not json")
    cache = HashCache(state)
    digest = hash_path(path, cache)
    cache.save()
    saved = json.loads((state / "data" / hashcache.CACHE_FILE).read_text())
    assert saved["format"] == hashcache.FORMAT
    assert digest.hash.removeprefix("blake3:") in json.dumps(saved)


def test_saving_merges_what_another_process_saved(tmp_path):
    state = tmp_path / ".nblift"
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    for path in (a, b):
        path.write_bytes(path.name.encode())
        backdate(path)
    one, two = HashCache(state), HashCache(state)
    hash_path(a, one)
    hash_path(b, two)
    one.save()
    two.save()
    STATS.reset()
    fresh = HashCache(state)
    hash_path(a, fresh)
    hash_path(b, fresh)
    assert STATS.files == 0


def test_tree_hash_covers_names_content_and_layout(tmp_path):
    cache = HashCache(None)
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "a.txt").write_text("a")
        (folder / "b.txt").write_text("b")
    assert hash_path(one, cache).hash == hash_path(two, cache).hash
    (two / "sub" / "a.txt").rename(two / "sub" / "c.txt")
    assert hash_path(one, cache).hash != hash_path(two, cache).hash
    (two / "sub" / "c.txt").rename(two / "a.txt")
    assert hash_path(one, cache).hash != hash_path(two, cache).hash
    empty = tmp_path / "empty"
    empty.mkdir()
    assert hash_path(empty, cache).files == 0
    (one / "__pycache__").mkdir()
    (one / "__pycache__" / "x.pyc").write_bytes(b"skip")
    assert hash_path(one, cache).files == 2


def test_a_symlinked_folder_loop_is_entered_once(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "loop").symlink_to(folder)
    assert hash_path(folder, HashCache(None)).files == 1


def test_large_files_are_memory_mapped_and_hashed_like_small_ones(tmp_path):
    import blake3

    path = tmp_path / "big.bin"
    data = os.urandom(1 << 16) * ((local.store._MMAP_MIN >> 16) + 1)
    path.write_bytes(data)
    assert hash_path(path, HashCache(None)).hash == f"blake3:{blake3.blake3(data).hexdigest()}"


def test_dos2unix_md5_is_dvc_2s(tmp_path):
    from dvc_data.hashfile.hash import file_md5  # a test dependency (dvc brings it)

    text, binary = tmp_path / "t.csv", tmp_path / "b.bin"
    text.write_bytes(b"a,b\r\n1,2\r\n" * 1000)
    binary.write_bytes(b"\x00\x01\r\n" * 1000)
    for path in (text, binary):
        for name in ("md5", "md5-dos2unix"):
            assert read_digest(path, name, path.stat().st_size) == file_md5(str(path), name=name)


def test_manifest_json_round_trip():
    manifest = DataManifest.of(
        [
            DataEntry("data/b.csv", "file", "tracked", "blake3:" + "0" * 64, 12),
            DataEntry(
                "data/a",
                "dvc",
                "dvc",
                "md5:" + "1" * 32 + ".dir",
                40,
                files=3,
                version="md5:x",
                record="a.dvc",
            ),
        ]
    )
    again = DataManifest.from_json(json.loads(json.dumps(manifest.to_json())))
    assert again == manifest
    assert [e.uri for e in again.entries] == ["data/a", "data/b.csv"]
    extra = manifest.to_json()
    extra["entries"][0]["added_later"] = True  # a field a newer nblift writes is ignored
    assert DataManifest.from_json(extra) == manifest
