"""Which inputs a project (and a notebook) has, gathered into a data manifest.

Inputs are, in this order of precedence (one entry per path):
1. outputs recorded by DVC (`.dvc` files and `dvc.lock` in the project): their version is DVC's hash;
2. files and folders tracked with `nblift track` (`.nblift/tracked.json`): BLAKE3, folders as a tree hash;
   URIs tracked there (`s3://`, `lakefs://`, ...) resolved to their version now (`sources`);
3. with a notebook: the existing files and folders inside the project it reads (string literals passed to
   `open`, `pd.read_*`, `np.load`, ... as the bundle finds them).
A path inside a DVC-recorded folder is covered by that folder's entry.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import NbliftError
from ..project import Project
from .dvc import dvc_entries
from .hashcache import HashCache
from .local import hash_path
from .manifest import ERROR, MISSING, DataEntry, DataManifest


def _covered(rel: str, prefixes: Iterable[str]) -> bool:
    return any(rel == p or rel.startswith(p + "/") for p in prefixes)


def local_entry(root: Path, rel: str, source: str, hashes: HashCache) -> DataEntry:
    """The entry of a local file or folder (missing or unreadable ones get that state, not an exception)."""
    try:
        digest = hash_path(root / rel, hashes)
    except FileNotFoundError:
        return DataEntry(rel, "file", source, None, None, state=MISSING, message="not found")
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return DataEntry(
            rel, "file", source, None, None, state=ERROR, message=f"unreadable: {where}{exc.strerror or exc}"
        )
    return DataEntry(rel, digest.kind, source, digest.hash, digest.size, files=digest.files)


def notebook_reads(project: Project, notebook: Path) -> list[str]:
    """Project-relative paths of the existing files and folders `notebook` reads (by its string literals)."""
    from ..environment.notebook import cells_of, notebook_use

    root = project.root.resolve()
    state = project.state_dir
    found = []
    for literal in notebook_use(cells_of(notebook)).reads:
        path = Path(literal).expanduser()
        path = path if path.is_absolute() else notebook.parent / path
        try:
            if not path.exists():
                continue
            resolved = path.resolve()
        except OSError:
            continue
        if resolved == root or not resolved.is_relative_to(root) or state.is_relative_to(resolved):
            continue
        if resolved.is_relative_to(state):
            continue
        found.append(Path(os.path.normpath(path.absolute())).relative_to(root).as_posix())
    return sorted(set(found))


def gather(
    project: Project,
    *,
    notebook: Path | None = None,
    verify: bool = True,
    hashes: HashCache | None = None,
    save: bool = True,
    uris: bool = True,
) -> DataManifest:
    """The data manifest of `project` (and of the files `notebook` reads). With `verify`, DVC inputs are
    checked against the workspace (md5, through the cache); without, DVC's records are read and nothing else.
    With `uris`, tracked URIs are resolved to their version now (a call to their store each); without, they
    are left out. The hash cache learned is saved to the project's state folder (created if needed) when
    `save`."""
    from ..snapshot.context import tracked_paths
    from .sources import is_uri, resolve

    root = project.root.resolve()
    hashes = hashes if hashes is not None else HashCache(project.state_dir, one_pass=True)
    entries = {e.uri: e for e in dvc_entries(root, hashes, verify=verify)}
    covered = [uri for uri, e in entries.items() if e.source == "dvc"]
    for rel in tracked_paths(project.state_dir):
        if is_uri(rel):
            if uris:
                entries[rel] = resolve(rel)
            continue
        if not _covered(rel, covered) and rel not in entries:
            entries[rel] = local_entry(root, rel, "tracked", hashes)
    if notebook is not None:
        for rel in notebook_reads(project, notebook):
            if not _covered(rel, covered) and rel not in entries:
                entries[rel] = local_entry(root, rel, "reads", hashes)
    if save and hashes.dirty:
        project.ensure_state_dir()
        hashes.save()
    return DataManifest.of(entries.values())


def preload(project: Project) -> None:
    """Import what `gather` may import later (a forked snapshot child imports nothing)."""
    import concurrent.futures  # noqa: F401
    import fcntl  # noqa: F401

    from ..snapshot import context  # noqa: F401
    from . import sources  # noqa: F401 - `gather` tells tracked URIs from paths with it
    from .dvc import find_repo

    if find_repo(project.root) is not None:
        with contextlib.suppress(ImportError):
            import yaml  # noqa: F401


def for_snapshot(
    project: Project, warnings: list[str], hashes: HashCache | None = None
) -> dict[str, Any] | None:
    """The data manifest a snapshot records (JSON), or None with a warning when it cannot be made: a snapshot
    of the kernel is never lost over its data manifest. Tracked URIs are not resolved (no network call)."""
    try:
        return gather(project, hashes=hashes, uris=False).to_json()
    except (NbliftError, OSError, ImportError) as exc:
        warnings.append(f"data manifest not recorded: {exc}")
        return None


def for_run(project: Project, notebook: Path) -> dict[str, Any]:
    """The data manifest a run records (JSON): the project's inputs and the files the notebook reads.
    A run does not start with an input that is missing or in error: DataInputError names each one."""
    root = project.root.resolve()
    path = notebook if notebook.is_absolute() else root / notebook
    manifest = gather(project, notebook=path.absolute())
    manifest.require_usable()
    return manifest.to_json()
