"""The tables gates read: a data file (CSV or Parquet), a recorded data version (`PATH@VERSION`, the
version DVC recorded for it, read from the DVC cache) or a DataFrame in memory, each with its content hash.

A table's frame is read only when asked for: a comparison whose summaries are cached never reads the data,
only hashes it (through the persistent hash cache, so an unchanged file is not even read for that).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound

if TYPE_CHECKING:
    import pandas as pd

    from ..project import Project

FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_VERSION = re.compile(r"^(?P<path>.+?)@(?P<version>[0-9a-fA-F]{6,32})$")


@dataclasses.dataclass
class Table:
    """One table: what the user called it, where its bytes are, and their content hash."""

    label: str
    digest: str
    path: Path | None = None
    fmt: str | None = None
    frame_: Any = None

    def frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        if self.frame_ is None:
            assert self.path is not None and self.fmt is not None
            self.frame_ = read_frame(self.path, self.fmt, self.label)
        return self.frame_ if columns is None else self.frame_[columns]


def _format(name: str) -> str:
    lowered = name.lower().removesuffix(".gz")
    fmt = FORMATS.get(Path(lowered).suffix)
    if fmt is None:
        raise InvalidInput(
            f"{name}: cannot tell its format from the name",
            hint="give a .csv, .tsv or .parquet file (.csv.gz works too)",
        )
    return fmt


def read_frame(path: Path, fmt: str, label: str) -> pd.DataFrame:
    import pandas as pd

    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if fmt == "tsv" else ",")
    except (OSError, ValueError, ImportError) as exc:
        raise InvalidInput(
            f"cannot read {label} as {fmt}: {exc}", hint="check the file is a complete table"
        ) from None


def frame_digest(frame: pd.DataFrame) -> str:
    """The content hash of a DataFrame: BLAKE3 over its column names, dtypes and values."""
    import blake3
    import numpy as np
    import pandas as pd

    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update(f"nblift.frame/1 {len(frame)}\n".encode())
    for name in frame.columns:
        column = frame[name]
        hasher.update(f"{name}\0{column.dtype}\n".encode())
        values = column.to_numpy()
        if values.dtype.kind in "biufcmM":
            hasher.update(np.ascontiguousarray(values).view(np.uint8))
        else:
            hasher.update(pd.util.hash_array(values.astype(object)).view(np.uint8))
    return f"blake3:{hasher.hexdigest()}"


def _version_file(project: Project | None, rel: str, version: str) -> Path:
    from ..data.dvc import cache_dir, cache_path, find_repo

    repo = find_repo(project.root if project is not None else Path.cwd())
    if repo is None:
        raise NotFound(
            f"{rel}@{version}: no DVC repository here to hold data versions",
            hint="give a file path, or run inside the DVC project that recorded the version",
        )
    cache = cache_dir(repo)
    for algorithm in ("md5", "md5-dos2unix"):
        found = cache_path(cache, version.lower(), algorithm)
        if len(version) < 32 and found.parent.is_dir():
            matches = sorted(found.parent.glob(found.name + "*"))
            if len(matches) > 1:
                raise InvalidInput(f"{rel}@{version} is ambiguous", hint="give more digits of the version")
            found = matches[0] if matches else found
        if found.is_file():
            return found
    raise NotFound(
        f"{rel}@{version}: that version is not in the DVC cache",
        hint="`dvc pull` it, or see `nblift data` for the versions recorded",
    )


def open_table(
    project: Project | None, spec: Any, *, label: str | None = None, base: Path | None = None
) -> Table:
    """A table from a path, `PATH@VERSION` or a DataFrame. A relative path is taken from `base` when given
    (the project's root, for paths in the policy), else from the current folder, else from the project."""
    import pandas as pd

    if isinstance(spec, pd.DataFrame):
        return Table(label or "table", frame_digest(spec), frame_=spec)
    if not isinstance(spec, str | Path):
        raise InvalidInput(f"{spec!r} is not a table", hint="give a CSV or Parquet path, or a DataFrame")
    text = str(spec)
    match = _VERSION.match(text)
    if match and not Path(text).exists():
        rel, version = match["path"], match["version"]
        path = _version_file(project, rel, version)
        return Table(text, f"md5:{path.parent.name}{path.name}", path, _format(rel))
    path = Path(text).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    elif not path.is_absolute() and not path.exists() and project is not None:
        path = project.root / path
    if not path.is_file():
        raise NotFound(f"no data file at {text}", hint="give a CSV or Parquet file, or PATH@VERSION")
    from ..data.hashcache import HashCache
    from ..data.local import hash_path

    cache = HashCache(project.state_dir if project is not None else None)
    digest = hash_path(path, cache).hash
    if project is not None and cache.dirty:
        project.ensure_state_dir()
        cache.save()
    return Table(text, digest, path, _format(path.name))
