"""An accelerator build (torch==2.13.0+cpu) found in a local find-links folder needs no framework index."""

from __future__ import annotations

from pathlib import Path

from nblift.environment.inputs import Inputs
from nblift.environment.lock import _local_builds_cover


def _inputs(*lines: str) -> Inputs:
    return Inputs(list(lines), [], [], [], "cpu", "kernel")


def test_a_local_wheel_covers_the_build(tmp_path: Path) -> None:
    (tmp_path / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    assert _local_builds_cover(_inputs("torch==2.13.0+cpu", "six==1.16.0"), [str(tmp_path)])
    assert _local_builds_cover(_inputs("torch==2.13.0+cpu"), [tmp_path.as_uri()])


def test_otherwise_the_framework_index_stays(tmp_path: Path) -> None:
    (tmp_path / "torch-2.12.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    assert not _local_builds_cover(_inputs("torch==2.13.0+cpu"), [str(tmp_path)])
    assert not _local_builds_cover(_inputs("torch==2.13.0+cpu"), ["https://example.invalid/wheels/"])
    assert not _local_builds_cover(_inputs("six==1.16.0"), [str(tmp_path)])
