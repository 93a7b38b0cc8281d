"""Background snapshots fork the kernel: forced races with other threads of the kernel, many times over.

A child forked while another thread is half-way through importing a module inherits a module that nobody
will ever finish initializing (the bug: "partially initialized module 'polars' has no attribute 'Series'").
Each test keeps another thread busy (importing slow modules one after another, or holding a lock inside a
library) while the kernel takes background snapshots in a loop; every snapshot must land, or be written in
the foreground and say why.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kernel_helpers import Kernel

pytestmark = pytest.mark.integration

SLOW_MODULES = 12
SNAPSHOTS = 25
LOCK_SNAPSHOTS = 15

# A value whose pickling reads an attribute that a slow module defines only at the END of its import:
# in a child forked mid-import it would raise AttributeError, as polars did.
SETUP = f"""
%load_ext nblift
import sys, threading, time
from nblift.snapshot.verbs import snapshotter
snap = snapshotter(get_ipython())
import slow_0

class NeedsSlow:
    def __init__(self, n):
        self.n = n
    def __reduce__(self):
        for name in [m for m in sys.modules if m.startswith("slow_")]:
            getattr(sys.modules[name], "READY")  # absent while that module is half-imported
        return (NeedsSlow, (self.n,))

value = NeedsSlow(1)
data = {{"rows": list(range(1000))}}

def import_all():
    for i in range(1, {SLOW_MODULES}):
        __import__(f"slow_{{i}}")
"""

LOOP = """
results = []
for i in range({count}):
    data["rows"].append(i)
    r = snap.snapshot(f"race {{i}}", background=True)
    if r.state == "saving":
        r = snap.collect(wait=True)
    results.append((r.id, r.state, list(r.warnings)))
    time.sleep(0.03)
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("forkproj")
    for i in range(SLOW_MODULES):
        (folder / f"slow_{i}.py").write_text("import time\ntime.sleep(0.15)\nREADY = True\n")
    return folder


@pytest.fixture(scope="module")
def kernel(project: Path, tmp_path_factory: pytest.TempPathFactory):
    keys = tmp_path_factory.mktemp("keys")
    k = Kernel(project, {"NBLIFT_SECRET_FILE": str(keys / "mine"), "NBLIFT_SNAPSHOT_VERIFY": "true"})
    k.run(SETUP)
    yield k
    k.shutdown()


def _check(kernel: Kernel, count: int) -> list[str]:
    results = kernel.value("results")
    assert len(results) == count
    for _sid, state, warnings in results:
        assert state == "saved"
        assert not [w for w in warnings if w.startswith("verify:")], warnings
    listed = kernel.value(
        "[s['id'] for s in get_ipython().run_line_magic('lift', '--json snapshots').data['snapshots']]"
    )
    assert {r[0] for r in results} <= set(listed)
    return [w for r in results for w in r[2] if w.startswith("written in the foreground")]


def test_snapshots_while_another_thread_imports_modules(kernel: Kernel) -> None:
    kernel.run("t = threading.Thread(target=import_all, name='importer'); t.start()")
    kernel.run(LOOP.format(count=SNAPSHOTS))
    kernel.run("t.join()")
    waited = _check(kernel, SNAPSHOTS)
    # Some snapshots met an import in progress and said so (or waited it out); none failed.
    assert all("importing" in w or "inside" in w for w in waited), waited
    # The last snapshot holds the last state, and a restore gives it back.
    kernel.run("expected = list(data['rows']); last = results[-1][0]")
    kernel.run("data = None")
    kernel.run("get_ipython().run_line_magic('lift', f'restore {last} --only data')")
    assert kernel.value("data['rows'] == expected") is True


def test_snapshots_while_a_user_thread_holds_a_lock_in_a_library(kernel: Kernel) -> None:
    kernel.run(
        """
import json
lock = threading.Lock()
stop = threading.Event()
payload = [{"k": list(range(50))} for _ in range(200)]
def busy():
    while not stop.is_set():
        with lock:  # holds a lock of its own, now inside json, now sleeping in its own code
            json.dumps(payload)
            time.sleep(0.002)
worker = threading.Thread(target=busy, name='busy-json'); worker.start()
"""
    )
    try:
        kernel.run(LOOP.format(count=LOCK_SNAPSHOTS), timeout=300)
    finally:
        kernel.run("stop.set(); worker.join()")
    waited = _check(kernel, LOCK_SNAPSHOTS)
    assert all("busy-json" in w or "importing" in w for w in waited), waited
    # the lock itself is never stored (it belongs to this process) and says so
    kernel.run("r = snap.snapshot('after', background=False)")
    assert "lock" in kernel.value("r.unstorable")
