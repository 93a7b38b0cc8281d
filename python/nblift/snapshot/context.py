"""What a snapshot records besides variables: git state, environment fingerprint, tracked data."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import stat
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from ..data.hashcache import HashCache
from ..data.local import hash_path
from ..tracking import redact_uri

GIT_TIMEOUT_S = 5
MAX_DIFF_BYTES = 5 << 20


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.decode("utf-8", "replace") if out.returncode == 0 else None


@dataclasses.dataclass(frozen=True)
class GitState:
    commit: str | None
    branch: str | None
    remote: str | None  # credentials removed
    dirty: bool
    diff: str  # uncommitted changes against HEAD (tracked files), capped at MAX_DIFF_BYTES

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "branch": self.branch, "remote": self.remote, "dirty": self.dirty}


def git_commit(root: Path) -> str | None:
    """The commit checked out at `root`, or None outside a git work tree."""
    return (_git(root, "rev-parse", "--verify", "--quiet", "HEAD") or "").strip() or None


def git_state(root: Path) -> GitState | None:
    """The repository state of `root`, or None outside a git work tree (or without git)."""
    if _git(root, "rev-parse", "--is-inside-work-tree") is None:
        return None
    commit = (_git(root, "rev-parse", "HEAD") or "").strip() or None
    branch = (_git(root, "rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None
    remote = (_git(root, "remote", "get-url", "origin") or "").strip() or None
    diff = _git(root, "diff", "HEAD", "--no-color", "--no-ext-diff") if commit else ""
    status = _git(root, "status", "--porcelain", "--untracked-files=no") or ""
    diff = diff or ""
    if len(diff) > MAX_DIFF_BYTES:
        diff = diff[:MAX_DIFF_BYTES] + "\n[diff truncated]\n"
    return GitState(
        commit=commit,
        branch=branch,
        remote=redact_uri(remote) if remote else None,
        dirty=bool(status.strip()),
        diff=diff,
    )


_env_cache: tuple[str, dict[str, Any]] | None = None
#: Bumped when what the environment fingerprint holds changes (a fingerprint kept on disk by another
#: revision is never used).
ENV_FINGERPRINT_REVISION = 1
_METADATA_SUFFIXES = (".dist-info", ".egg-info")


#: Each sys.path folder's scan, kept while the folder's own modification time is the same.
_scans: dict[str, tuple[int, list[Any]]] = {}


def _entry_stamp(entry: str) -> list[Any]:
    """What `importlib.metadata` reads from one sys.path entry, cheaply: for a folder, each *.dist-info and
    *.egg-info in it with the size and modification time of its metadata file (installing, removing or
    upgrading a package adds, removes or replaces one, which also changes the folder's time: the scan is
    kept until then); for a file (a zip), its own size and time."""
    where = Path(entry or ".")
    try:
        info = where.stat()
        if not stat.S_ISDIR(info.st_mode):
            return [entry, info.st_size, info.st_mtime_ns]
        key = str(where.absolute())
        kept = _scans.get(key)
        if kept is not None and kept[0] == info.st_mtime_ns:
            return [entry, kept[1]]
        names = sorted(e.name for e in os.scandir(where) if e.name.endswith(_METADATA_SUFFIXES))
    except OSError:
        return [entry, None]
    found: list[Any] = []
    for name in names:
        folder = where / name
        # a .dist-info's METADATA, an .egg-info folder's PKG-INFO, or an .egg-info that is a file itself
        for path in (folder / "METADATA", folder / "PKG-INFO", folder):
            try:
                meta = path.stat()
            except OSError:
                continue
            if not stat.S_ISDIR(meta.st_mode):
                found.append([name, path.name, meta.st_size, meta.st_mtime_ns])
                break
        else:
            found.append([name, None])
    _scans[key] = (info.st_mtime_ns, found)
    return [entry, found]


def site_stamps() -> str:
    """A digest of everything the environment fingerprint depends on: the interpreter, sys.path, what each of
    its entries holds of package metadata (see `_entry_stamp`) and the metadata finders in sys.meta_path. Any
    install, removal or upgrade changes it; a file written into the notebook's folder does not."""
    finders = [
        f"{type(f).__module__}.{type(f).__qualname__}"
        for f in sys.meta_path
        if hasattr(f, "find_distributions")
    ]
    described = [
        ENV_FINGERPRINT_REVISION,
        sys.executable,
        sys.version,
        finders,
        [_entry_stamp(entry) for entry in sys.path],
    ]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()


def cached_environment(stamps: str) -> dict[str, Any] | None:
    """The fingerprint computed for these stamps, if this process has it."""
    return _env_cache[1] if _env_cache is not None and _env_cache[0] == stamps else None


def remember_environment(stamps: str, env: dict[str, Any]) -> None:
    """Keep a fingerprint computed elsewhere (by a forked snapshot child) for these stamps."""
    global _env_cache
    if env.get("packages"):
        _env_cache = (stamps, env)


def prepare_environment_read() -> None:
    """Read one distribution's metadata, so the modules that parsing needs (email.*) are imported here:
    a forked snapshot child computing the fingerprint then imports nothing."""
    for dist in metadata.distributions():
        dist.metadata.get("Name")
        return


def _disk_file() -> Path:
    """Where this interpreter's last fingerprint is kept between processes (one file per interpreter)."""
    from ..fsutil import user_cache_dir

    key = hashlib.sha256(f"{sys.executable}\n{sys.prefix}".encode()).hexdigest()[:16]
    return user_cache_dir() / "environments" / f"{key}.json"


def _from_disk(stamps: str) -> dict[str, Any] | None:
    try:
        kept = json.loads(_disk_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    env = kept.get("environment") if isinstance(kept, dict) and kept.get("stamps") == stamps else None
    return env if isinstance(env, dict) and isinstance(env.get("packages"), dict) else None


def _to_disk(stamps: str, env: dict[str, Any]) -> None:
    from ..fsutil import atomic_write, ensure_dir

    path = _disk_file()
    try:
        ensure_dir(path.parent)
        atomic_write(path, json.dumps({"stamps": stamps, "environment": env}).encode())
    except OSError:
        pass  # a cache that cannot be written is only slower next time


def environment_fingerprint() -> dict[str, Any]:
    """Python, platform and installed package versions. Computed once per environment state: kept in the
    process and on disk for the `site_stamps` it was computed under, recomputed when they change."""
    global _env_cache
    stamps = site_stamps()
    cached = cached_environment(stamps) or _from_disk(stamps)
    if cached is not None:
        _env_cache = (stamps, cached)
        return cached
    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        meta = dist.metadata  # parsed once: name and version from the same read
        name = meta.get("Name")
        if name:
            packages.setdefault(name.lower(), meta.get("Version") or dist.version)
    env = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "packages": dict(sorted(packages.items())),
    }
    _env_cache = (stamps, env)
    _to_disk(stamps, env)
    return env


TRACKED_FILE = "tracked.json"


def set_tracked(project_root: Path, state_dir: Path, add: list[str], remove: list[str]) -> list[str]:
    """Add or remove data files or folders the snapshots hash; each must be inside the project."""
    from ..errors import InvalidInput
    from ..fsutil import atomic_write, ensure_dir

    root = project_root.resolve()
    paths = set(tracked_paths(state_dir))
    for raw in add:
        if "://" in raw:  # an s3://, lakefs://, ... input: checked here, resolved when a run starts
            from ..data.sources import check_uri

            paths.add(check_uri(raw))
            continue
        path = (root / raw).resolve()
        if not path.is_relative_to(root):
            raise InvalidInput(
                f"{raw} is outside the project {root}", hint="track files inside the project folder"
            )
        if not (path.is_file() or path.is_dir()):
            raise InvalidInput(f"{raw} is not a file or folder", hint="track existing data files or folders")
        paths.add(path.relative_to(root).as_posix())
    for raw in remove:
        if "://" in raw:
            paths.discard(raw)
            continue
        path = (root / raw).resolve()
        paths.discard(path.relative_to(root).as_posix() if path.is_relative_to(root) else raw)
    ensure_dir(state_dir)
    atomic_write(state_dir / TRACKED_FILE, json.dumps({"paths": sorted(paths)}, indent=1).encode())
    return sorted(paths)


def tracked_paths(state_dir: Path) -> list[str]:
    """Data files and folders the project tracks (relative to the project), from `.nblift/tracked.json`."""
    try:
        return list(json.loads((state_dir / TRACKED_FILE).read_text())["paths"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return []


_hash_cache = HashCache(None)  # this process's, for callers that name no state folder


def data_hashes(root: Path, paths: list[str], cache: HashCache | None = None) -> list[dict[str, Any]]:
    """BLAKE3 of each tracked file (a folder: its tree hash, `nblift.data.local`), cached by (device, inode,
    mtime, size): in `cache` (the project's persistent one, saved here) or else in this process."""
    cache = cache if cache is not None else _hash_cache
    out: list[dict[str, Any]] = []
    for rel in paths:
        if "://" in rel:  # a URI input: its version is resolved by `nblift data` and runs, not hashed here
            continue
        try:
            digest = hash_path(root / rel, cache)
        except OSError:
            out.append({"path": rel, "hash": None, "size": None})
            continue
        item: dict[str, Any] = {"path": rel, "hash": digest.hash.removeprefix("blake3:"), "size": digest.size}
        if digest.files is not None:
            item["files"] = digest.files
        out.append(item)
    if cache.folder is not None and cache.folder.parent.is_dir():
        cache.save()
    return out
