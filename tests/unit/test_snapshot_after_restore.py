"""A kernel that restored a snapshot snapshots again without re-encoding what it restored, and never misses a
change made since: the next snapshot reuses a stored encoding only when the value's content fingerprint still
equals the one it was snapshotted with (moved sessions snapshot again on the host and at home)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from nblift.project import Project
from nblift.snapshot import core
from nblift.snapshot import manifest as mf


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBLIFT_SECRET_FILE", str(tmp_path / "key" / "secret"))
    monkeypatch.setenv("NBLIFT_SNAPSHOT_MLFLOW", "false")
    ip = InteractiveShell.instance()
    ip.reset(new_session=False)  # what other tests left in the shared shell
    yield ip
    ip.reset(new_session=False)


def encoded_names(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The type of every value the snapshot encodes from now on (a fingerprint match encodes nothing)."""
    seen: list[str] = []
    real = core.encode_value

    def counting(value: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(type(value).__name__)
        return real(value, *args, **kwargs)

    monkeypatch.setattr(core, "encode_value", counting)
    return seen


def test_a_restored_kernel_reuses_what_it_restored_and_sees_every_change(
    shell: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project.discover(tmp_path)
    shell.user_ns.update(
        arr=np.arange(200_000, dtype=float),
        df=pd.DataFrame({"i": np.arange(1000), "s": [f"x{k}" for k in range(1000)]}),
        n=3,
    )
    first = core.Snapshotter(shell, project).snapshot("at home")
    stored = mf.load(project.state_dir, first.id)["variables"]
    assert stored["arr"]["fingerprint"] and stored["df"]["fingerprint"]

    for name in ("arr", "df", "n"):
        del shell.user_ns[name]
    moved = core.Snapshotter(shell, project)  # a fresh kernel's snapshotter, as on the host
    assert {"arr", "df", "n"} <= set(moved.restore(first.id).restored)

    encoded = encoded_names(monkeypatch)
    again = moved.snapshot("unchanged since the restore")
    assert "ndarray" not in encoded and "DataFrame" not in encoded
    assert not {"arr", "df", "n"} & {*again.changed, *again.added}
    manifest = mf.load(project.state_dir, again.id)
    assert manifest["variables"]["arr"]["encoding"] == stored["arr"]["encoding"]
    assert manifest["variables"]["df"]["encoding"] == stored["df"]["encoding"]

    # changes made in place after the restore (no name rebound) are found and stored
    shell.user_ns["arr"][7] = -1.0
    shell.user_ns["df"].loc[3, "s"] = "changed"
    shell.user_ns["later"] = 1
    encoded.clear()
    changed = moved.snapshot("changed in place")
    assert {"ndarray", "DataFrame"} <= set(encoded)
    assert {"arr", "df"} <= set(changed.changed) and "later" in changed.added

    fresh = core.Snapshotter(shell, project)
    for name in ("arr", "df", "later"):
        del shell.user_ns[name]
    fresh.restore(changed.id)
    assert shell.user_ns["arr"][7] == -1.0 and shell.user_ns["df"].loc[3, "s"] == "changed"
    assert shell.user_ns["later"] == 1


def test_a_partial_restore_leaves_the_other_names_to_be_examined(
    shell: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = Project.discover(tmp_path)
    shell.user_ns.update(arr=np.ones(1000), df=pd.DataFrame({"a": [1, 2]}))
    first = core.Snapshotter(shell, project).snapshot("two values")
    shell.user_ns["df"].loc[0, "a"] = 5  # changed in this kernel, and not restored below
    snap = core.Snapshotter(shell, project)
    snap.restore(first.id, only=["arr"])
    encoded = encoded_names(monkeypatch)
    after = snap.snapshot("after a partial restore")
    assert "DataFrame" in encoded and "ndarray" not in encoded
    assert (
        mf.load(project.state_dir, after.id)["variables"]["df"]["encoding"]
        != (mf.load(project.state_dir, first.id)["variables"]["df"]["encoding"])
    )


def test_a_snapshot_tells_each_object_it_adds_once_written(shell: Any, tmp_path: Path) -> None:
    """What a move streams to the host while the snapshot goes on: every new object, once it is published."""
    from nblift.store import ObjectStore

    project = Project.discover(tmp_path)
    store = ObjectStore(project.ensure_state_dir())
    shell.user_ns.update(arr=np.arange(50_000, dtype=float))
    told: list[str] = []
    snap = core.Snapshotter(shell, project)
    first = snap.snapshot("one", on_object=told.append)
    arr_objects = mf.load(project.state_dir, first.id)["encodings"]
    array_oid = next(
        enc["objects"][0]
        for enc in arr_objects.values()
        if enc["kind"] == "numpy" and enc["meta"]["shape"] == [50_000]
    )
    assert array_oid in told and all(store.has(oid) for oid in told)
    assert len(told) == len(set(told))
    told.clear()
    snap.snapshot("unchanged", on_object=told.append)
    assert array_oid not in told  # already in the store: nothing new to send
