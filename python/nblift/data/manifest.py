"""The data manifest: one entry per input of a notebook (its URI, kind, version, content hash, size and
state), recorded in every snapshot and compared with the last one by `nblift data`.

JSON form::

    {"format": "nblift.data/1", "created": 1764830000.0,
     "entries": [{"uri": "data/train.csv", "kind": "file", "source": "tracked", "hash": "blake3:...",
                  "size": 1234, "files": null, "version": null, "record": null, "state": "ok",
                  "message": ""}]}

`hash` names its algorithm (`blake3:` for nblift's own hashes, `md5:` for DVC's); for a DVC input it is the
hash of the workspace copy in DVC's own format, and `version` is what the `.dvc` file or `dvc.lock` recorded.
A URI input (kind `object`: `s3://`, `lakefs://`, other fsspec URIs) has `etag:` (or `blake3:`) as its hash
and as `version` the S3 version id or the lakeFS commit id it resolved to (`nblift.data.sources`).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidInput

FORMAT = "nblift.data/1"

#: Kinds of input.
KINDS = ("file", "folder", "dvc", "object")
#: Where an input was found.
SOURCES = ("tracked", "dvc", "reads")
#: States of an input when the manifest was made.
OK, MISSING, MODIFIED, ERROR = "ok", "missing", "modified", "error"
STATES = (OK, MISSING, MODIFIED, ERROR)


class DataInputError(InvalidInput):
    """An input cannot be used as recorded (unreadable, or its recorded version is nowhere to be found)."""


@dataclasses.dataclass(frozen=True)
class DataEntry:
    """One input. `state`: ok; missing (not in the workspace); modified (a DVC input whose workspace copy
    differs from its record); error (`message` says why)."""

    uri: str
    kind: str
    source: str
    hash: str | None
    size: int | None
    state: str = OK
    files: int | None = None
    #: DVC: the hash the record holds (`md5:...`, `.dir` for a folder); None for plain files.
    version: str | None = None
    #: DVC: the file that records it (`data.dvc`, `dvc.lock:train`); a URI input: the URI of exactly the
    #: recorded version (`s3://b/k?versionId=...`, `lakefs://repo/COMMIT/path`).
    record: str | None = None
    message: str = ""
    #: The object id in nblift's store that holds the input's bytes, when home sent them with the run.
    stored: str | None = None
    #: A DVC input a remote run fetches from the DVC remote itself: the remote's object folder
    #: (`nblift.data.dvc_remote`); None when its bytes come from home.
    remote: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DataEntry:
        fields = {f.name for f in dataclasses.fields(cls)}
        try:
            return cls(**{k: v for k, v in data.items() if k in fields})
        except TypeError as exc:
            raise InvalidInput(
                f"malformed data manifest entry: {exc}", hint="record the data again"
            ) from None


@dataclasses.dataclass(frozen=True)
class DataManifest:
    entries: tuple[DataEntry, ...]
    created: float = dataclasses.field(default_factory=time.time)

    @classmethod
    def of(cls, entries: Iterable[DataEntry]) -> DataManifest:
        return cls(tuple(sorted(entries, key=lambda e: e.uri)))

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "created": self.created, "entries": [e.to_json() for e in self.entries]}

    @classmethod
    def from_json(cls, data: Any) -> DataManifest:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise InvalidInput("not a data manifest (format nblift.data/1)", hint="upgrade nblift")
        entries = data.get("entries")
        if not isinstance(entries, list):
            raise InvalidInput("malformed data manifest: no entries", hint="record the data again")
        return cls(
            tuple(DataEntry.from_json(e) for e in entries if isinstance(e, Mapping)),
            float(data.get("created") or 0.0),
        )

    def by_uri(self) -> dict[str, DataEntry]:
        return {e.uri: e for e in self.entries}

    def problems(self) -> list[DataEntry]:
        """Inputs a run could not get as recorded: in error, or missing (a DVC input that is only not
        checked out is not one: its version is in the DVC cache)."""
        return [e for e in self.entries if e.state == ERROR or (e.state == MISSING and e.kind != "dvc")]

    def require_usable(self) -> None:
        """Raise DataInputError naming every input in `problems`."""
        bad = self.problems()
        if bad:
            names = "; ".join(f"{e.uri}: {e.message or e.state}" for e in bad)
            raise DataInputError(
                f"{len(bad)} input(s) cannot be used: {names}",
                hint="restore them (`dvc checkout` / `dvc pull` for DVC data) or stop tracking them "
                "(`nblift track --remove PATH`)",
            )
