"""Data inputs sent with a remote run through the content-addressed store, each object once.

A backend that runs elsewhere (`ssh`) asks `stage` which objects the target needs for a run's inputs and
gets a copy of the specification whose entries name them (`stored`):

- a local file or folder (tracked, or DVC-recorded and checked out) the bundle does not already carry: its
  files go into the project's store by their BLAKE3, which the hash cache already knows (an unchanged input
  is neither read nor copied again), and a folder gets a listing object (relative path -> object);
- a URI input (`s3://`, `lakefs://`, ...): home fetches the recorded version once into its store (it is
  remembered by version in `.nblift/data/fetched.json`), unless the run was launched with
  `--data-from-source`, in which case the target fetches it from its source with its own credentials;
- a DVC input, when the project configures a DVC remote the target can fetch its recorded version from
  (`dvc_remote`, which the backend asks the target about first): nothing; the entry names the remote
  (`remote`) and the target checks the version out of it with DVC's own data library.

The backend sends only the objects the target's store lacks, so an input the target already holds (the
same hash) is not sent again and a second run of the same data sends 0 bytes. On the target, the runner
puts each input where the notebook reads it (`fetched.fetch_for_run`).
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write, file_lock
from ..runs.model import RunSpec
from ..store import ObjectStore
from .dvc_remote import Plan, packages
from .hashcache import HashCache
from .local import files_digests, list_files
from .manifest import OK, DataEntry, DataManifest
from .sources import KIND, fetch

FOLDER_FORMAT = "nblift.data.folder/1"
FETCHED_FILE = "fetched.json"
_LISTING_MAX = 64 << 20


@dataclasses.dataclass(frozen=True)
class Staged:
    """The specification the target gets, and the objects its inputs need (the listing objects included)."""

    spec: RunSpec
    objects: list[str]
    #: Inputs the target fetches from their source itself (`--data-from-source`).
    from_source: list[str]
    #: DVC inputs the target fetches from the project's DVC remote (`dvc_remote`), and the packages its
    #: environment needs for that.
    from_dvc: list[str] = dataclasses.field(default_factory=list)
    packages: list[str] = dataclasses.field(default_factory=list)
    #: Why DVC inputs are sent from home ("" when none are, or all come from the DVC remote).
    dvc_note: str = ""

    def event_fields(self) -> dict[str, Any]:
        """What the `bundle.sent` event says about where DVC inputs come from (nothing without any)."""
        if not self.from_dvc and not self.dvc_note:
            return {}
        return {"data_from_dvc": self.from_dvc, "data_note": self.dvc_note}


def in_bundle(uri: str, bundle_files: Iterable[str]) -> bool:
    return any(rel == uri or rel.startswith(uri + "/") for rel in bundle_files)


def _local(root: Path, entry: DataEntry, store: ObjectStore, hashes: HashCache) -> tuple[str, list[str]]:
    """(object of the input, every object it needs): a file's own object, or a folder's listing."""
    path = root / entry.uri
    files = [(entry.uri, path)] if path.is_file() else list_files(path)
    digests = files_digests(files, "blake3", hashes)
    listing: dict[str, str] = {}
    for rel, file in files:
        oid = digests[rel][0]
        if not store.has(oid):
            put = store.put_file(file)
            if put != oid:  # it changed since it was hashed: the run would not get what was recorded
                from .manifest import DataInputError

                raise DataInputError(
                    f"{entry.uri}: {rel} changed while the run was being sent", hint="launch the run again"
                )
        listing[rel if path.is_dir() else path.name] = oid
    if path.is_file():
        return listing[path.name], [listing[path.name]]
    body = json.dumps({"format": FOLDER_FORMAT, "files": listing}, sort_keys=True).encode()
    folder_oid = store.put_bytes(body)
    return folder_oid, [folder_oid, *listing.values()]


def _fetched_index(state_dir: Path) -> Path:
    return state_dir / "data" / FETCHED_FILE


def _uri_object(state_dir: Path, entry: DataEntry, store: ObjectStore) -> str:
    """The store object holding the recorded version of URI input `entry` (fetched once per version)."""
    from .fetched import local_name

    index_path = _fetched_index(state_dir)
    key = local_name(entry)
    try:
        known = json.loads(index_path.read_text())
    except (OSError, ValueError):
        known = {}
    oid = known.get(key) if isinstance(known, dict) else None
    if isinstance(oid, str) and store.has(oid):
        return oid
    index_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nblift-fetch-", dir=index_path.parent) as tmp:
        target = Path(tmp) / "object"
        fetch(entry, target)
        oid = store.put_file(target)
    with file_lock(index_path.with_suffix(".lock")):
        try:
            known = json.loads(index_path.read_text())
        except (OSError, ValueError):
            known = {}
        known = known if isinstance(known, dict) else {}
        known[key] = oid
        atomic_write(index_path, json.dumps(known, indent=1, sort_keys=True).encode())
    return oid


def stage(
    spec: RunSpec,
    root: Path,
    state_dir: Path,
    store: ObjectStore,
    bundle_files: Iterable[str],
    dvc: Plan | None = None,
) -> Staged:
    """What a remote run's inputs need (see the module's doc). The project's state folder holds the hash
    cache and the fetched-version index; `bundle_files` are the paths the bundle already carries; `dvc`, the
    DVC inputs the target fetches from the DVC remote itself (`dvc_remote.confirm`)."""
    if not spec.data:
        return Staged(spec, [], [])
    from_dvc = dvc.wanted if dvc is not None else {}
    bundle_files = list(bundle_files)
    manifest = DataManifest.from_json(spec.data)
    hashes = HashCache(state_dir, one_pass=True)
    entries: list[DataEntry] = []
    objects: list[str] = []
    from_source: list[str] = []
    for entry in manifest.entries:
        if entry.kind == KIND:
            if spec.data_from_source:
                from_source.append(entry.uri)
            else:
                oid = _uri_object(state_dir, entry, store)
                entry = dataclasses.replace(entry, stored=oid)
                objects.append(oid)
        elif entry.uri in from_dvc:
            entry = dataclasses.replace(entry, remote=from_dvc[entry.uri][0])
        elif entry.state == OK and (root / entry.uri).exists() and not in_bundle(entry.uri, bundle_files):
            oid, needed = _local(root, entry, store, hashes)
            entry = dataclasses.replace(entry, stored=oid)
            objects += needed
        entries.append(entry)
    if hashes.dirty:
        hashes.save()
    data: dict[str, Any] = DataManifest(tuple(entries), manifest.created).to_json()
    return Staged(
        dataclasses.replace(spec, data=data),
        list(dict.fromkeys(objects)),
        from_source,
        sorted(from_dvc),
        packages(dvc) if dvc is not None else [],
        dvc.note if dvc is not None else "",
    )


def folder_listing(store: ObjectStore, oid: str) -> dict[str, str] | None:
    """The files (relative path -> object) of a folder's listing object; None when `oid` is not one."""
    try:
        if store.path_of(oid).stat().st_size > _LISTING_MAX:
            return None  # a data file, never read whole to find out
        data = json.loads(store.get_bytes(oid))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != FOLDER_FORMAT:
        return None
    files = data.get("files")
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else None
