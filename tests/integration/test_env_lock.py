"""`%lift pin` with real uv and the real package index: a lock for another platform, identical bytes on a
re-pin, local-only packages built into the bundle, and index credentials that never reach a written file.
(The package index must be reachable; the credentials test serves its own index on 127.0.0.1.)"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from pathlib import Path

import pytest

from env_helpers import AuthIndex, build_wheel, clean_env, make_package, make_venv, require_tools
from nblift.commands import Context
from nblift.environment import verbs
from nblift.environment.capture import capture_in
from nblift.environment.lock import pin, read_lock
from nblift.environment.render import pin_html, pin_text
from nblift.errors import InvalidInput
from nblift.project import Project

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-Tok3n-value"


@pytest.fixture(autouse=True)
def _tools():
    require_tools()


def project(tmp_path: Path, name: str = "proj") -> Project:
    root = tmp_path / name
    root.mkdir()
    return Project.discover(root)


def test_pin_for_another_platform_and_repin_gives_identical_bytes(tmp_path):
    proj = project(tmp_path)
    (proj.root / "requirements.in").write_text("six\npackaging\n")
    result = pin(
        proj,
        platform="linux-aarch64",
        python="3.12",
        requirements=Path("requirements.in"),
        environ=clean_env(),
    )
    lock_bytes = (proj.root / "pylock.toml").read_bytes()
    reqs_bytes = (proj.root / "requirements.txt").read_bytes()
    data = tomllib.loads(lock_bytes.decode())
    assert data["lock-version"] == "1.0"
    assert {p["name"] for p in data["packages"]} == {"six", "packaging"}
    assert all(w["hashes"]["sha256"] for p in data["packages"] for w in p.get("wheels", []))
    assert data["tool"]["nblift"]["platform"] == "linux-aarch64"
    assert data["tool"]["nblift"]["python-platform"] == "aarch64-manylinux_2_28"
    assert data["tool"]["nblift"]["python"] == "3.12"
    assert b"--hash=sha256:" in reqs_bytes
    assert b"nblift pin --platform linux-aarch64 --python 3.12" in reqs_bytes
    assert not result.unchanged and result.packages == 2
    mtime = (proj.root / "pylock.toml").stat().st_mtime_ns

    start = time.perf_counter()
    again = pin(
        proj,
        platform="linux-aarch64",
        python="3.12",
        requirements=Path("requirements.in"),
        environ=clean_env(),
    )
    elapsed = time.perf_counter() - start
    assert again.unchanged and again.offline is None and not again.rewritten
    assert "unchanged: " in pin_text(again) and "wrote" not in pin_text(again)
    assert (proj.root / "pylock.toml").read_bytes() == lock_bytes
    assert (proj.root / "requirements.txt").read_bytes() == reqs_bytes
    assert (proj.root / "pylock.toml").stat().st_mtime_ns == mtime
    print(f"re-pin of an unchanged project: {elapsed * 1000:.1f} ms")

    # the cache is only a shortcut: forgetting it resolves again (offline, from uv's cache) to the same bytes
    (proj.root / ".nblift" / "lock" / "state.json").unlink()
    third = pin(
        proj,
        platform="linux-aarch64",
        python="3.12",
        requirements=Path("requirements.in"),
        environ=clean_env(),
    )
    assert not third.unchanged and third.offline and not third.rewritten  # resolved again: the same bytes
    assert (proj.root / "pylock.toml").stat().st_mtime_ns == mtime and "wrote" not in pin_text(third)
    assert (proj.root / "pylock.toml").read_bytes() == lock_bytes

    macos = pin(proj, platform="macos", requirements=Path("requirements.in"), environ=clean_env())
    assert macos.target.platform == "macos-arm64"
    assert read_lock(proj.root).platform == "macos-arm64"
    assert "locked 2 packages for macos-arm64" in pin_text(macos) and macos.rewritten
    assert "wrote " in pin_text(macos)


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    return make_venv(tmp_path_factory.mktemp("venv"))


def test_pin_of_a_real_venv_bundles_local_packages(tmp_path, venv):
    env = capture_in(str(venv["python"]), gpu=False)
    proj = project(tmp_path)
    result = pin(proj, env=env, platform="linux-x86_64", environ=clean_env())
    assert not result.failed, result.local
    bundled = {p.name: p for p in result.local}
    assert set(bundled) == {"editpkg", "gitpkg", "wheelpkg"}
    for p in bundled.values():
        assert p.wheel.startswith(".nblift/bundle/wheels/") and (proj.root / p.wheel).is_file()
    assert bundled["wheelpkg"].sha256 and (proj.root / bundled["wheelpkg"].wheel).name == venv["wheel"].name
    lock = read_lock(proj.root)
    assert {"editpkg", "gitpkg", "wheelpkg", "six"} <= set(lock.packages)
    assert {p["name"] for p in lock.local} == {"editpkg", "gitpkg", "wheelpkg"}
    reqs = (proj.root / "requirements.txt").read_text()
    assert "./.nblift/bundle/wheels/editpkg-0.1.0" in reqs and "six==" in reqs
    data = tomllib.loads((proj.root / "pylock.toml").read_text())
    paths = [p["archive"]["path"] for p in data["packages"] if "archive" in p]
    assert sorted(Path(x).name.split("-")[0] for x in paths) == ["editpkg", "gitpkg", "wheelpkg"]
    assert str(tmp_path) not in (proj.root / "pylock.toml").read_text()  # no absolute paths of this machine

    before = (proj.root / "pylock.toml").read_bytes()
    again = pin(proj, env=env, platform="linux-x86_64", environ=clean_env())
    assert again.unchanged and not any(p.rebuilt for p in again.local)
    assert (proj.root / "pylock.toml").read_bytes() == before

    # editing the editable package rebuilds only it, and the lock follows
    (venv["edit"] / "editpkg" / "extra.py").write_text("Z = 3\n")
    changed = pin(proj, env=env, platform="linux-x86_64", environ=clean_env())
    assert not changed.unchanged
    assert {p.name for p in changed.local if p.rebuilt} == {"editpkg"}
    assert (proj.root / "pylock.toml").read_bytes() != before


def test_a_local_package_whose_source_is_gone_is_reported_not_dropped(tmp_path, venv):
    env = capture_in(str(venv["python"]), gpu=False)
    others = [d for d in env.distributions if d.key != "wheelpkg"]
    from dataclasses import replace

    missing = replace(
        next(d for d in env.distributions if d.key == "wheelpkg"), path=str(tmp_path / "gone.whl")
    )
    proj = project(tmp_path)
    result = pin(proj, env=replace(env, distributions=(*others, missing)), environ=clean_env())
    assert result.failed
    bad = next(p for p in result.local if p.name == "wheelpkg")
    assert "no longer exists" in bad.error
    assert "NOT BUNDLED wheelpkg" in pin_text(result)


@pytest.mark.parametrize("where", ["requirements file", "PIP_INDEX_URL"])
def test_index_credentials_never_reach_the_lock(tmp_path, where):
    wheel = build_wheel(make_package(tmp_path / "privsrc", "privpkg", "1.0.0"), tmp_path / "dist")
    with AuthIndex(wheel, "alice", SECRET) as index:
        proj = project(tmp_path)
        if where == "requirements file":
            (proj.root / "requirements.in").write_text(f"--extra-index-url {index.url}\nprivpkg\nsix\n")
            environ = clean_env()
        else:
            (proj.root / "requirements.in").write_text("privpkg\n")
            environ = clean_env(PIP_INDEX_URL=index.url)
        result = pin(proj, platform="linux-aarch64", requirements=Path("requirements.in"), environ=environ)
        assert index.requests > 0  # uv really used the private index, with the credentials
    assert "privpkg" in read_lock(proj.root).packages
    for path in [proj.root / "pylock.toml", proj.root / "requirements.txt", *proj.state_dir.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data, path
            assert b"alice" not in data, path
    reqs = (proj.root / "requirements.txt").read_text()
    assert f"http://127.0.0.1:{index.port}/simple/" in reqs  # pip still learns where to look
    shown = json.dumps(result.to_json()) + pin_text(result) + pin_html(result)
    assert SECRET not in shown and "alice" not in shown


def test_pin_leaves_the_users_own_requirements_file_alone(tmp_path):
    proj = project(tmp_path)
    (proj.root / "requirements.txt").write_text("six\n")  # the user's, tracked in their repository
    result = pin(proj, requirements=Path("requirements.txt"), environ=clean_env())  # pinned from it
    assert (proj.root / "requirements.txt").read_text() == "six\n"
    assert result.requirements == str(proj.root / "pylock.requirements.txt")
    assert "--hash=sha256:" in (proj.root / "pylock.requirements.txt").read_text()
    lock = read_lock(proj.root)
    assert lock.requirements == "pylock.requirements.txt" and "six" in lock.packages
    again = pin(proj, requirements=Path("requirements.txt"), environ=clean_env())
    assert again.unchanged and (proj.root / "requirements.txt").read_text() == "six\n"
    from nblift.bundle import build_bundle, read_manifest
    from nblift.environment.lock import lock_in_bundle
    from nblift.store import ObjectStore

    notebook = proj.root / "nb.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    bundle = build_bundle(proj, notebook)
    store = ObjectStore(proj.state_dir)
    found, requirements = lock_in_bundle(store, read_manifest(store, bundle.id))
    assert found is not None and b"--hash=sha256:" in store.get_bytes(
        str(requirements)
    )  # what a host installs
    with pytest.raises(InvalidInput, match="unknown target platform"):
        pin(project(tmp_path, "p2"), platform="solaris", environ=clean_env())


def test_pin_verb(tmp_path, monkeypatch):
    proj = project(tmp_path)
    (proj.root / "requirements.in").write_text("six\n")
    (proj.root / "binder").mkdir()
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    parser = argparse.ArgumentParser()
    verbs.pin_args(parser)
    args = parser.parse_args(["--platform", "macos-x86_64", "--requirements", "requirements.in"])
    result = verbs.pin(Context(str(proj.root)), args)
    assert result.target.platform == "macos-x86_64"
    assert (proj.root / "binder" / "runtime.txt").read_text().startswith("python-3.")
    assert "six==" in (proj.root / "binder" / "requirements.txt").read_text()


def test_a_terminal_that_forces_colour_never_reaches_the_lock(tmp_path):
    """FORCE_COLOR is set by some launchers (Playwright's web server among them): files stay plain."""
    proj = project(tmp_path)
    (proj.root / "requirements.in").write_text("six\n")
    pin(
        proj,
        requirements=Path("requirements.in"),
        environ={**clean_env(), "FORCE_COLOR": "1", "CLICOLOR_FORCE": "1"},
    )
    for name in ("pylock.toml", "requirements.txt"):
        assert b"\x1b[" not in (proj.root / name).read_bytes()
    assert tomllib.loads((proj.root / "pylock.toml").read_text())["lock-version"] == "1.0"


def test_a_pin_that_moves_a_package_across_a_major_version_is_refused_unless_accepted(tmp_path):
    import sys

    from env_helpers import run, uv

    links = tmp_path / "links"
    for name, version, deps, python in (
        ("app", "1.0.0", ("libx",), ">=3.8"),
        ("libx", "1.0.0", (), ">=3.11.5"),  # the kernel's version: not for an older 3.11
        ("libx", "2.0.0", (), ">=3.8"),
    ):
        build_wheel(make_package(tmp_path / f"src-{name}-{version}", name, version, deps, python), links)
    venv = tmp_path / "venv"
    run([uv() or "uv", "venv", "-q", "--python", sys.executable, str(venv)])
    python = str(venv / "bin" / "python")
    run(
        [
            uv() or "uv",
            "pip",
            "install",
            "-q",
            "-p",
            python,
            "--no-index",
            "-f",
            str(links),
            "app",
            "libx==1.0.0",
        ]
    )
    env = capture_in(python, gpu=False)
    proj = project(tmp_path)
    environ = clean_env(UV_FIND_LINKS=str(links), UV_NO_INDEX="1")

    with pytest.raises(InvalidInput) as refused:
        pin(proj, env=env, python="3.11.2", platform="linux-x86_64", environ=environ)
    assert "libx 1.0.0 → 2.0.0" in refused.value.message and "--allow-major-moves" in refused.value.hint
    assert not (proj.root / "pylock.toml").exists() and not (proj.root / "requirements.txt").exists()

    accepted = pin(
        proj, env=env, python="3.11.2", platform="linux-x86_64", environ=environ, allow_major_moves=True
    )
    assert read_lock(proj.root).packages["libx"] == "2.0.0"
    assert "moved across a major version (accepted): libx 1.0.0 → 2.0.0" in pin_text(accepted)
    same = pin(
        proj, env=env, python="3.11.7", platform="linux-x86_64", environ=environ
    )  # the kernel's Python
    assert read_lock(proj.root).packages["libx"] == "1.0.0" and not same.warnings
