"""A writer SIGKILLed mid-write never leaves half an object under a final name, and readers never see one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import blake3
import pytest

from nblift.collect import collect_garbage
from nblift.fsck import fsck
from nblift.fsutil import TEMP_PREFIX
from nblift.store import ObjectStore

pytestmark = pytest.mark.integration

CHUNK = 1 << 16

# Writes one object and a ref to it, then streams a large object slowly; prints a line once the
# large object's first chunks are on disk.
SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from nblift.store import ObjectStore

    store = ObjectStore(Path(sys.argv[1]))
    earlier = store.put_bytes(b"written before the crash" * 1000)
    store.set_ref("snapshot", "earlier", [earlier])
    print("earlier", earlier, flush=True)

    def chunks():
        for i in range(100_000):
            yield bytes([i % 251]) * CHUNK
            if i == 3:  # chunks 0..3 have been written to the temp file
                print("writing", flush=True)
            time.sleep(0.01)

    store.put_stream(chunks())
    print("finished", flush=True)
    """
).replace("CHUNK", str(CHUNK))

# Stores distinct objects in a loop, printing each id once stored; stops when told or after a bound.
BUSY_WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from nblift.store import ObjectStore

    store = ObjectStore(Path(sys.argv[1]))
    stop = Path(sys.argv[2])
    for i in range(int(sys.argv[3])):
        if stop.exists():
            break
        head = os.urandom(32)
        size = 4096 * (1 + i % 64)
        oid = store.put_stream(head + bytes([i % 256]) * size for _ in range(4))
        print(oid, flush=True)
    print("done", flush=True)
    """
)


def start(code: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def files_under(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_sigkill_mid_write(tmp_path, child_env):
    store = ObjectStore(tmp_path / ".nblift")
    proc = start(SLOW_WRITER, [str(store.state_dir)], child_env)
    try:
        first = proc.stdout.readline().split()
        assert first[0] == "earlier", proc.stderr.read()
        earlier = first[1]
        assert proc.stdout.readline().strip() == "writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # every object under its final name verifies; only the earlier one got there
    ids = list(store.iter_ids())
    assert ids == [earlier]
    assert all(store.verify(oid) for oid in ids)
    assert store.get_bytes(earlier) == b"written before the crash" * 1000

    # the half-written bytes exist only as a temp file under objects/tmp
    temps = store.temp_files()
    assert len(temps) == 1
    temp = temps[0]
    assert temp.parent == store.tmp_dir
    assert temp.name.startswith(f"{TEMP_PREFIX}{proc.pid}-")
    assert temp.stat().st_size >= 4 * CHUNK
    assert set(files_under(store.objects_dir)) == {store.path_of(earlier), temp}

    report = fsck(store)
    assert report.ok
    assert report.corrupt == []
    assert report.missing == []
    assert report.temp_files == 1

    gc = collect_garbage(store, grace_seconds=0)
    assert gc.removed_temp_files == 1
    assert gc.removed_objects == 0
    assert not temp.exists()
    assert store.temp_files() == []
    assert store.get_bytes(earlier) == b"written before the crash" * 1000
    assert fsck(store).ok


@pytest.mark.parametrize("kill_after", [0, 1, 7, 23])
def test_sigkill_at_varied_points_between_objects(tmp_path, child_env, kill_after):
    """Kill a writer right after it reports object N: whatever point of the next write it is in,
    nothing under a final name is partial and every object it reported is intact."""
    store = ObjectStore(tmp_path / ".nblift")
    stop = tmp_path / "stop"
    proc = start(BUSY_WRITER, [str(store.state_dir), str(stop), "100000"], child_env)
    reported = []
    try:
        while len(reported) <= kill_after:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            reported.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    ids = set(store.iter_ids())
    assert set(reported) <= ids
    for oid in ids:
        assert blake3.blake3(store.path_of(oid).read_bytes()).hexdigest() == oid
    report = fsck(store)
    assert report.ok and report.corrupt == []
    collect_garbage(store, grace_seconds=0)
    assert store.temp_files() == []


def test_reader_never_sees_a_partial_object(tmp_path, child_env):
    store = ObjectStore(tmp_path / ".nblift")
    stop = tmp_path / "stop"
    wanted = 150
    proc = start(BUSY_WRITER, [str(store.state_dir), str(stop), "5000"], child_env)
    verified: set[str] = set()
    mismatched: list[str] = []
    try:
        for _ in range(2_000_000):  # bounded; in practice ends once `wanted` objects were checked
            if len(verified) >= wanted or proc.poll() is not None:
                break
            if not store.objects_dir.is_dir():
                continue
            # scan the raw layout, as any reader (another kernel, the server) would
            for shard in os.scandir(store.objects_dir):
                if len(shard.name) != 2 or not shard.is_dir():
                    continue
                for entry in os.scandir(shard.path):
                    oid = shard.name + entry.name
                    if oid in verified:
                        continue
                    with open(entry.path, "rb") as fh:
                        data = fh.read()
                    if blake3.blake3(data).hexdigest() == oid:
                        verified.add(oid)
                    else:
                        mismatched.append(oid)
    finally:
        stop.touch()
        out, err = proc.communicate(timeout=120)
    assert mismatched == []
    assert proc.returncode == 0, err
    written = [line for line in out.split() if line != "done"]
    # the reader ran while the writer was still writing: it checked many objects before the stop
    assert len(verified) >= wanted
    assert verified <= set(written)
    assert set(store.iter_ids()) == set(written)
    assert store.temp_files() == []
    assert fsck(store).ok
