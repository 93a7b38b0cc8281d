"""Packages that exist only on this machine, built into the project's bundle (`.nblift/bundle/wheels/`).

Editable installs and local folders are built with `uv build --wheel`; a package installed from a local wheel
is copied; a `git+file://` repository is cloned at the recorded commit and built. A build is reused while
its source is unchanged (a fingerprint of the source tree's names, sizes and mtimes), so re-pinning does not
rebuild and the wheel's bytes, and so the lock's hashes, stay the same.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import NbliftError
from ..fsutil import atomic_write, ensure_dir
from .capture import Distribution, canonical, safe_url, scrub_urls

BUILD_TIMEOUT_S = 600
MAX_FINGERPRINT_FILES = 50_000
_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".venv",
        "venv",
        "node_modules",
        "build",
        "dist",
        ".nblift",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".ipynb_checkpoints",
    }
)


@dataclasses.dataclass(frozen=True)
class LocalPackage:
    """A local-only distribution and the wheel the bundle holds for it (or why there is none)."""

    name: str
    version: str
    source: str
    wheel: str | None = None  # relative to the project folder
    sha256: str | None = None
    error: str | None = None
    rebuilt: bool = False

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def bundle_wheels_dir(state_dir: Path) -> Path:
    return state_dir / "bundle" / "wheels"


def find_uv() -> str:
    """The uv executable: beside this interpreter, from the `uv` package, or on PATH (past pyenv shims)."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found]

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("uv")
    if found and Path(found).parent.name == "shims":  # a pyenv shim costs ~0.1 s a call: find the real one
        real = sorted(Path(found).parent.parent.glob("versions/*/bin/uv"))
        found = str(real[-1]) if real else found
    if not found:
        raise NbliftError(
            "uv is not installed", hint="install it: pip install uv (nblift resolves locks with uv)"
        )
    return found


def _fingerprint_tree(root: Path) -> str | None:
    """A hash of the names, sizes and mtimes under `root` (None when it is too large to walk cheaply)."""
    digest = hashlib.sha256()
    count = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in _SKIP_DIRS and not entry.name.endswith(".egg-info"):
                    stack.append(Path(entry.path))
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            count += 1
            if count > MAX_FINGERPRINT_FILES:
                return None
            digest.update(f"{entry.path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(cmd: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> str | None:
    """None on success, else the tail of stderr (credentials removed)."""
    try:
        out = subprocess.run(
            list(cmd), capture_output=True, timeout=BUILD_TIMEOUT_S, env=dict(env), cwd=cwd, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{cmd[0]} failed: {exc}"
    if out.returncode == 0:
        return None
    return scrub_urls(out.stderr.decode("utf-8", "replace").strip()[-800:]) or f"exit status {out.returncode}"


def _build(uv: str, source: Path, out_dir: Path, env: Mapping[str, str]) -> str | None:
    cmd = [uv, "build", "--wheel", "--quiet", "--no-progress", "-o", str(out_dir), str(source)]
    if _run([*cmd, "--offline"], env) is None:
        return None
    return _run(cmd, env)


def _source_of(dist: Distribution, scratch: Path, env: Mapping[str, str]) -> tuple[Path | None, str | None]:
    """The folder or archive to build `dist` from (cloning a git+file repository into `scratch`)."""
    if dist.source == "vcs":
        url = (dist.url or "").split("+", 1)[1]
        clone = scratch / "src"
        err = _run(["git", "clone", "--quiet", url, str(clone)], env) or _run(
            ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", dist.commit or "HEAD"],
            env,
            clone,
        )
        if err:
            return None, f"could not check out {safe_url(url)} at {dist.commit}: {err}"
        return clone / (dist.subdirectory or ""), None
    if not dist.path:
        return None, "its source path is not recorded"
    path = Path(dist.path) / (dist.subdirectory or "") if dist.source != "wheel" else Path(dist.path)
    if not path.exists():
        return None, f"its source {path} no longer exists"
    return path, None


def fingerprint(dist: Distribution) -> str | None:
    """What decides whether a local package must be rebuilt: its source tree's state, or its file's."""
    if dist.source == "vcs":
        return f"vcs:{dist.url}@{dist.commit}"
    path = Path(dist.path or "") / (dist.subdirectory or "")
    if path.is_dir():
        tree = _fingerprint_tree(path)
        return f"dir:{path}:{tree}" if tree else None
    try:
        st = path.stat()
    except OSError:
        return None
    return f"file:{path}:{st.st_size}:{st.st_mtime_ns}"


def _replace_old(wheels: Path, key: str, keep: str) -> None:
    """Remove older wheels of the same distribution from the bundle."""
    for old in wheels.glob("*.whl"):
        if old.name != keep and canonical(old.name.split("-", 1)[0]) == key:
            old.unlink(missing_ok=True)


def build_local(
    project_root: Path,
    state_dir: Path,
    dists: Sequence[Distribution],
    env: Mapping[str, str],
    uv: str,
    fingerprints: Mapping[str, str | None] | None = None,
) -> list[LocalPackage]:
    """A wheel in the bundle for each local-only distribution; never drops one silently (see `error`)."""
    wheels = ensure_dir(bundle_wheels_dir(state_dir))
    cache_file = state_dir / "lock" / "builds.json"
    try:
        cache: dict[str, dict[str, str]] = json.loads(cache_file.read_bytes())
    except (OSError, ValueError):
        cache = {}
    out: list[LocalPackage] = []
    for dist in dists:
        stamp = fingerprints[dist.key] if fingerprints and dist.key in fingerprints else fingerprint(dist)
        cached = cache.get(dist.key, {})
        wheel_path = wheels / cached.get("wheel", "-")
        if stamp and cached.get("fingerprint") == stamp and wheel_path.is_file():
            out.append(_package(project_root, dist, wheel_path, rebuilt=False))
            continue
        with tempfile.TemporaryDirectory(dir=ensure_dir(state_dir / "lock" / "build-tmp")) as tmp:
            scratch = Path(tmp)
            source, error = _source_of(dist, scratch, env)
            built_dir = scratch / "out"
            if source is not None and source.suffix == ".whl":
                ensure_dir(built_dir)
                shutil.copy2(source, built_dir / source.name)
            elif source is not None:
                error = _build(uv, source, built_dir, env)
            built = sorted(built_dir.glob("*.whl")) if error is None else []
            if not built:
                out.append(
                    LocalPackage(
                        dist.name, dist.version, dist.source, error=error or "the build made no wheel"
                    )
                )
                continue
            wheel_path = wheels / built[0].name
            shutil.move(built[0], wheel_path)
        _replace_old(wheels, dist.key, wheel_path.name)
        if stamp:
            cache[dist.key] = {"fingerprint": stamp, "wheel": wheel_path.name}
        out.append(_package(project_root, dist, wheel_path, rebuilt=True))
    atomic_write(ensure_dir(cache_file.parent) / cache_file.name, json.dumps(cache, indent=1).encode())
    return out


def _package(project_root: Path, dist: Distribution, wheel: Path, *, rebuilt: bool) -> LocalPackage:
    version = wheel.name.split("-")[1] if wheel.name.count("-") >= 4 else dist.version
    return LocalPackage(
        name=dist.name,
        version=version,
        source=dist.source,
        wheel=wheel.relative_to(project_root).as_posix(),
        sha256=_sha256(wheel),
        rebuilt=rebuilt,
    )
