"""`%lift autosnapshot on` in a real kernel: a burst of cells (Run All) takes one automatic snapshot once the
kernel goes idle, holding the values of the last cell; a kernel busy longer than the maximum interval still
gets one after a cell; nothing is taken while a cell runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kernel_helpers import Kernel

from nblift.snapshot.manifest import list_manifests

pytestmark = pytest.mark.integration


def _autos(project: Path) -> list[dict]:
    return [m for m in list_manifests(project / ".nblift") if m.get("auto")]


def _until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def _kernel(tmp_path: Path, delay_ms: int, max_interval: int) -> tuple[Kernel, Path]:
    project = tmp_path / "proj"
    project.mkdir()
    env = {
        "NBLIFT_AUTOSNAPSHOT_DELAY_MS": str(delay_ms),
        "NBLIFT_AUTOSNAPSHOT_MAX_INTERVAL": str(max_interval),
    }
    kernel = Kernel(project, env)
    kernel.run("%load_ext nblift")
    kernel.run("%lift autosnapshot on")
    return kernel, project


def test_a_burst_of_cells_takes_one_snapshot_when_the_kernel_goes_idle(tmp_path):
    kernel, project = _kernel(tmp_path, delay_ms=1500, max_interval=3600)
    try:
        kernel.run("import numpy as np\nstate = {'step': 0}\narr = np.zeros(4)")
        for step in range(1, 8):  # back to back, as Run All sends them
            kernel.run(f"state['step'] = {step}\narr[0] = {step}")
        assert _autos(project) == []  # never while cells keep coming
        auto = _until(lambda: _autos(project))
        # cells: %load_ext 1, autosnapshot on 2, setup 3, the seven steps 4 to 10
        assert len(auto) == 1 and auto[0]["message"] == "after [10]"
        time.sleep(2.0)
        assert len(_autos(project)) == 1  # idle: nothing new to take twice
    finally:
        kernel.shutdown()
    fresh = Kernel(project)
    try:
        fresh.run(f"%load_ext nblift\n%lift restore {auto[0]['id']}")
        assert fresh.value("[state['step'], float(arr[0])]") == [7, 7.0]
    finally:
        fresh.shutdown()


def test_a_kernel_busy_longer_than_the_interval_still_gets_snapshots(tmp_path):
    kernel, project = _kernel(tmp_path, delay_ms=60_000, max_interval=0)
    try:
        for step in range(3):
            kernel.run(f"x = {step}")
            _until(lambda s=step: len(_autos(project)) >= s + 1)  # one after each cell, no idle needed
            time.sleep(0.5)  # its writer has exited: the next cell takes it in and may take another
        assert sorted(m["message"] for m in _autos(project)) == ["after [3]", "after [4]", "after [5]"]
    finally:
        kernel.shutdown()


def test_nothing_is_taken_while_a_cell_awaits(tmp_path):
    kernel, project = _kernel(tmp_path, delay_ms=200, max_interval=3600)
    try:
        kernel.run("y = 1")  # cell 3: its snapshot would come 0.2 s later, but cell 4 starts first
        # cell 4 awaits at top level: the kernel's event loop runs past the delay while the cell is not done
        kernel.run("import asyncio\nawait asyncio.sleep(1.5)\ny = 2")
        _until(lambda: _autos(project))
        time.sleep(0.5)
        assert [m["message"] for m in _autos(project)] == ["after [4]"]
    finally:
        kernel.shutdown()
