"""DVC-tracked data, read from DVC's own records: `.dvc` files and `dvc.lock` (YAML; `outs` with `md5`,
`size`, `nfiles`, and `hash: md5` for DVC 3 records). The hash DVC recorded is the input's version: nblift
does not compute one of its own. Whether the workspace copy still matches is checked with DVC's md5 (plain
md5 of the bytes for DVC 3 records, md5 with CRLF->LF for text in DVC 2 records), through the persistent
cache.

A folder's DVC hash is the md5 of its listing (`json.dumps([{"md5", "relpath"}...], sort_keys=True)`) plus
`.dir`; the listing of the recorded version is in the DVC cache (`.dvc/cache/files/md5/ab/cdef....dir`), and
is used to name the files that differ. A record whose version is neither in the workspace nor in the DVC
cache is an error that names the input: a run would otherwise start with different bytes.

PyYAML is imported only when a DVC record is read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .hashcache import HashCache
from .local import file_digest, list_files
from .manifest import ERROR, MISSING, MODIFIED, DataEntry, DataInputError

#: Folders never searched for DVC records (hidden folders are not searched either).
_SKIP_WALK = frozenset({"node_modules", "__pycache__", "site-packages"})
#: Folders DVC leaves out of a DVC-tracked folder's content.
_DVC_IGNORED = frozenset({".git", ".hg", ".dvc"})
_MD5 = re.compile(r"^[0-9a-f]{32}(\.dir)?$")


@dataclasses.dataclass(frozen=True)
class DvcOut:
    """One output DVC records: its path (relative to the project), the record and the recorded hash."""

    path: str
    record: str
    md5: str
    algorithm: str  # "md5" (DVC 3) or "md5-dos2unix" (DVC 2)
    size: int | None
    nfiles: int | None

    @property
    def is_dir(self) -> bool:
        return self.md5.endswith(".dir")


def find_repo(start: Path) -> Path | None:
    """The DVC repository `start` is in (the nearest folder at or above it with a `.dvc/` folder)."""
    for folder in (start, *start.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None


def cache_dir(repo: Path) -> Path:
    """The repository's DVC cache: `[cache] dir` of `.dvc/config.local` or `.dvc/config`, else
    `.dvc/cache`."""
    for name in ("config.local", "config"):
        try:
            text = (repo / ".dvc" / name).read_text(encoding="utf-8")
        except OSError:
            continue
        section = None
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("["):
                section = stripped.strip("[]").strip().strip("'\"")
            elif section == "cache" and (m := re.match(r"dir\s*=\s*(.+)$", stripped)):
                folder = Path(m.group(1).strip().strip("'\"")).expanduser()
                return folder if folder.is_absolute() else (repo / ".dvc" / folder).resolve()
    return repo / ".dvc" / "cache"


def cache_path(cache: Path, md5: str, algorithm: str) -> Path:
    """Where DVC keeps the object `md5` (DVC 3: `files/md5/ab/cdef...`; DVC 2: `ab/cdef...`)."""
    base = cache / "files" / "md5" if algorithm == "md5" else cache
    return base / md5[:2] / md5[2:]


def _load_yaml(path: Path) -> Any:
    try:
        import yaml
    except ImportError:
        raise DataInputError(
            f"{path.name}: reading DVC records needs PyYAML", hint="pip install pyyaml"
        ) from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataInputError(
            f"{path}: not a readable DVC record ({type(exc).__name__})", hint="fix or regenerate it with dvc"
        ) from None


def _out(raw: Any, base: Path, root: Path, record: str) -> DvcOut | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        return None
    md5 = raw.get("md5")
    if not isinstance(md5, str) or not _MD5.match(md5):
        return None  # not committed yet (`dvc add --no-commit`), or a hash nblift does not read
    target = Path(os.path.normpath(base / raw["path"]))
    if not target.is_relative_to(root):
        return None
    size, nfiles = raw.get("size"), raw.get("nfiles")
    return DvcOut(
        path=target.relative_to(root).as_posix(),
        record=record,
        md5=md5,
        algorithm="md5" if raw.get("hash") == "md5" else "md5-dos2unix",
        size=size if isinstance(size, int) else None,
        nfiles=nfiles if isinstance(nfiles, int) else None,
    )


def read_record(path: Path, root: Path) -> list[DvcOut]:
    """The outputs one `.dvc` file or `dvc.lock` records (paths relative to `root`)."""
    data = _load_yaml(path)
    rel = path.relative_to(root).as_posix()
    if not isinstance(data, dict):
        return []
    outs: list[DvcOut | None] = []
    if path.name == "dvc.lock":
        stages = data.get("stages")
        for name, stage in (stages or {}).items() if isinstance(stages, dict) else ():
            if isinstance(stage, dict):
                outs += [_out(o, path.parent, root, f"{rel}:{name}") for o in stage.get("outs") or []]
    else:
        outs += [_out(o, path.parent, root, rel) for o in data.get("outs") or []]
    return [o for o in outs if o is not None]


def find_records(root: Path) -> Iterator[Path]:
    """`.dvc` files and `dvc.lock` files under the project root (not in hidden folders, `node_modules`)."""
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_WALK and not d.startswith("."))
        for name in sorted(names):
            if name.endswith(".dvc") or name == "dvc.lock":
                yield Path(current) / name


def dir_md5(files: dict[str, tuple[str, int]]) -> str:
    """DVC's hash of a folder from its files' md5s (dvc_data.hashfile.tree.Tree.digest)."""
    listing = [{"md5": files[rel][0], "relpath": rel} for rel in sorted(files)]
    return (
        hashlib.md5(json.dumps(listing, sort_keys=True).encode(), usedforsecurity=False).hexdigest() + ".dir"
    )


def _recorded_listing(path: Path) -> dict[str, str] | None:
    try:
        listing = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(listing, list):
        return None
    return {e["relpath"]: e.get("md5", "") for e in listing if isinstance(e, dict) and "relpath" in e}


def _differences(recorded: dict[str, str], now: dict[str, tuple[str, int]]) -> str:
    changed = sorted(r for r in set(recorded) & set(now) if recorded[r] != now[r][0])
    added, removed = sorted(set(now) - set(recorded)), sorted(set(recorded) - set(now))
    parts = []
    for label, names in (("changed", changed), ("added", added), ("removed", removed)):
        if names:
            parts.append(
                f"{label}: {', '.join(names[:3])}" + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            )
    return "; ".join(parts)


def _missing_cache_error(out: DvcOut, where: Path, root: Path) -> DataInputError:
    shown = where.relative_to(root).as_posix() if where.is_relative_to(root) else str(where)
    return DataInputError(
        f"{out.path}: {out.record} records version {out.md5}, which is neither in the workspace nor in the "
        f"DVC cache ({shown} is missing)",
        hint=f"run `dvc pull {out.record.split(':')[0]}` to fetch it from the DVC remote, or `dvc add` "
        "the data again to record what is there now",
    )


def check_out(out: DvcOut, root: Path, cache: Path, hashes: HashCache, *, verify: bool = True) -> DataEntry:
    """The manifest entry of one DVC output: the recorded version, and (with `verify`) whether the workspace
    copy still matches it. Raises DataInputError when the recorded version is nowhere to be had."""
    version = f"md5:{out.md5}"
    entry = DataEntry(
        uri=out.path,
        kind="dvc",
        source="dvc",
        hash=version,
        size=out.size,
        files=out.nfiles,
        version=version,
        record=out.record,
    )
    cached = cache_path(cache, out.md5, out.algorithm)
    workspace = root / out.path
    if not workspace.exists():
        if not cached.exists():
            raise _missing_cache_error(out, cached, root)
        return dataclasses.replace(
            entry,
            state=MISSING,
            message=f"not in the workspace; `dvc checkout {out.record.split(':')[0]}` restores it",
        )
    if not verify:
        return entry
    if out.is_dir:
        if not workspace.is_dir():
            return dataclasses.replace(
                entry, state=MODIFIED, hash=None, message="a file where DVC recorded a folder"
            )
        files = {
            rel: file_digest(path, out.algorithm, hashes) for rel, path in list_files(workspace, _DVC_IGNORED)
        }
        now = dir_md5(files)
        size = sum(s for _, s in files.values())
        if now == out.md5:
            return dataclasses.replace(entry, size=size, files=len(files))
        if not cached.exists():
            raise _missing_cache_error(out, cached, root)
        recorded = _recorded_listing(cached)
        detail = _differences(recorded, files) if recorded is not None else ""
        return dataclasses.replace(
            entry,
            hash=f"md5:{now}",
            size=size,
            files=len(files),
            state=MODIFIED,
            message=f"differs from {out.record}" + (f" ({detail})" if detail else ""),
        )
    if not workspace.is_file():
        return dataclasses.replace(
            entry, state=MODIFIED, hash=None, message="a folder where DVC recorded a file"
        )
    digest, size = file_digest(workspace, out.algorithm, hashes)
    if digest == out.md5:
        return dataclasses.replace(entry, size=size)
    if not cached.exists():
        raise _missing_cache_error(out, cached, root)
    return dataclasses.replace(
        entry, hash=f"md5:{digest}", size=size, state=MODIFIED, message=f"differs from {out.record}"
    )


def dvc_entries(root: Path, hashes: HashCache, *, verify: bool = True) -> list[DataEntry]:
    """An entry for every output the project's DVC records name (none outside a DVC repository).
    A record that cannot be read, or an output whose version is nowhere, is an entry in state error."""
    repo = find_repo(root)
    if repo is None:
        return []
    cache = cache_dir(repo)
    entries: dict[str, DataEntry] = {}
    for record in find_records(root):
        try:
            outs = read_record(record, root)
        except DataInputError as exc:
            rel = record.relative_to(root).as_posix()
            entries[rel] = DataEntry(rel, "dvc", "dvc", None, None, state=ERROR, record=rel, message=str(exc))
            continue
        for out in outs:
            try:
                entries[out.path] = check_out(out, root, cache, hashes, verify=verify)
            except DataInputError as exc:
                entries[out.path] = DataEntry(
                    out.path,
                    "dvc",
                    "dvc",
                    None,
                    out.size,
                    state=ERROR,
                    version=f"md5:{out.md5}",
                    record=out.record,
                    message=str(exc),
                )
            except OSError as exc:
                entries[out.path] = DataEntry(
                    out.path,
                    "dvc",
                    "dvc",
                    None,
                    None,
                    state=ERROR,
                    record=out.record,
                    message=f"unreadable: {exc}",
                )
    return list(entries.values())
