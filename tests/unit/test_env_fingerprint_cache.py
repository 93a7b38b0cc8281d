"""The environment fingerprint a snapshot records is computed once per environment state: kept in the process
and on disk under a digest of what `importlib.metadata` reads, and computed again whenever a package is
installed, removed or upgraded (never a stale package list)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nblift.snapshot import context


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of installed packages on sys.path, an empty user cache, and no fingerprint kept yet."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(context, "_env_cache", None)
    monkeypatch.setattr(context, "_scans", {})
    return folder


def install(site: Path, name: str, version: str) -> Path:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return info


def new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a fresh interpreter has: nothing kept in memory (the disk cache stays)."""
    monkeypatch.setattr(context, "_env_cache", None)
    monkeypatch.setattr(context, "_scans", {})


def test_installing_upgrading_and_removing_a_package_are_seen(site: Path) -> None:
    assert "demo_pkg" not in context.environment_fingerprint()["packages"]
    first = install(site, "demo_pkg", "1.0")
    assert context.environment_fingerprint()["packages"]["demo_pkg"] == "1.0"
    shutil.rmtree(first)  # an upgrade replaces the .dist-info
    install(site, "demo_pkg", "2.0")
    assert context.environment_fingerprint()["packages"]["demo_pkg"] == "2.0"
    shutil.rmtree(site / "demo_pkg-2.0.dist-info")
    assert "demo_pkg" not in context.environment_fingerprint()["packages"]


def test_other_files_in_a_sys_path_folder_keep_the_fingerprint(site: Path) -> None:
    install(site, "demo_pkg", "1.0")
    before = context.site_stamps()
    (site / "Untitled.ipynb").write_text("{}")  # the notebook's folder is on sys.path in a kernel
    (site / "helpers.py").write_text("x = 1\n")
    assert context.site_stamps() == before


def test_a_fresh_process_reads_the_fingerprint_from_disk(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(site, "demo_pkg", "1.0")
    computed = context.environment_fingerprint()
    new_process(monkeypatch)

    def no_reading() -> None:
        raise AssertionError("the package metadata was read again")

    with monkeypatch.context() as patched:
        patched.setattr(context.metadata, "distributions", no_reading)
        assert context.environment_fingerprint() == computed

    # the same package rewritten in place (same folder, another version): a fresh process reads it again
    (site / "demo_pkg-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: demo_pkg\nVersion: 1.0.post1\n"
    )
    new_process(monkeypatch)
    assert context.environment_fingerprint()["packages"]["demo_pkg"] == "1.0.post1"


def test_a_damaged_or_foreign_cache_file_is_computed_again(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(site, "demo_pkg", "1.0")
    context.environment_fingerprint()
    kept = context._disk_file()
    for damaged in ("not json", '{"stamps": "other", "environment": {"packages": {}}}', "[1, 2]"):
        kept.write_text(damaged)
        new_process(monkeypatch)
        assert context.environment_fingerprint()["packages"]["demo_pkg"] == "1.0"
