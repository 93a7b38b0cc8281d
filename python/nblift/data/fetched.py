"""Inputs where a notebook runs: the runner puts each one there (`fetch_for_run`), and the notebook asks
where a URI input is with `nblift.data.input_path(URI)`.

Local inputs home sent with a remote run (`sending.stage`) are written into the working folder, where the
notebook reads them by their path; so are DVC inputs the target fetches from the project's DVC remote
(`dvc_remote.checkout`, with DVC's own data library). URI inputs lie in the run folder's `inputs/`
(outside the working folder, so never taken for artifacts), and `NBLIFT_INPUTS` names their index
(URI -> local path). When home sent their bytes (an entry's `stored` object is in the run's store) they
come from the store; otherwise the target fetches the recorded version from the source with its own
credentials. Outside a run, `input_path` fetches the version the URI has now into the project's state
folder (`.nblift/data/inputs/`), once per version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from .manifest import OK, DataEntry, DataManifest
from .sources import KIND, fetch, is_uri, resolve

INPUTS_ENV = "NBLIFT_INPUTS"
INPUTS_DIR = "inputs"
INDEX_FILE = "index.json"


def local_name(entry: DataEntry) -> str:
    """A relative path for the input's recorded version: its version's digest, then the object's name."""
    key = f"{entry.uri}\0{entry.version or ''}\0{entry.hash or ''}"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", entry.uri.rstrip("/").rpartition("/")[2]) or "object"
    return f"{hashlib.sha256(key.encode()).hexdigest()[:16]}/{name[:100]}"


@dataclasses.dataclass(frozen=True)
class Fetched:
    #: URI -> local path of each URI input (what `input_path` answers in the run).
    index: dict[str, str]
    #: Local inputs put into the working folder: relative path -> {"oid", "size"} (never taken as artifacts).
    placed: dict[str, dict[str, Any]]


def _place(store: Any, entry: DataEntry, work: Path) -> dict[str, dict[str, Any]]:
    """Write a local input home sent (`entry.stored`: a file's object or a folder's listing) under `work`."""
    from ..bundle import _safe_target
    from .sending import folder_listing

    listing = folder_listing(store, str(entry.stored))
    files = {entry.uri: str(entry.stored)} if listing is None else {
        f"{entry.uri}/{rel}": oid for rel, oid in listing.items()
    }  # fmt: skip
    placed = {}
    for rel, oid in files.items():
        target = _safe_target(work, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store.path_of(oid), target)
        placed[rel] = {"oid": oid, "size": target.stat().st_size}
    return placed


def fetch_for_run(
    data: Mapping[str, Any] | None, run_dir: Path, store: Any = None, work: Path | None = None
) -> Fetched:
    """Put a run's inputs where it reads them: each local input home sent (`stored`) under `work`, each URI
    input under `run_dir/inputs` (from the store when home sent it, else from its source), with the index
    `NBLIFT_INPUTS` points at."""
    if not data:
        return Fetched({}, {})
    entries = DataManifest.from_json(data).entries
    placed: dict[str, dict[str, Any]] = {}
    if work is not None:
        for entry in entries:
            if entry.kind != KIND and entry.stored and store is not None and store.has(entry.stored):
                placed.update(_place(store, entry, work))
            elif entry.kind == "dvc" and entry.remote and not entry.stored:
                from .dvc_remote import checkout

                placed.update(checkout(entry, work))  # from the DVC remote, its md5 checked
    folder = run_dir / INPUTS_DIR
    index: dict[str, str] = {}
    for entry in (e for e in entries if e.kind == KIND):
        target = folder / local_name(entry)
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.stored and store is not None and store.has(entry.stored):
            shutil.copyfile(store.path_of(entry.stored), target)
        else:
            fetch(entry, target)
        index[entry.uri] = str(target)
    if index:
        index_file = folder / INDEX_FILE
        index_file.write_text(json.dumps(index, indent=1, sort_keys=True))
        os.environ[INPUTS_ENV] = str(index_file)
    return Fetched(index, placed)


def input_path(uri: str) -> str:
    """The local path of URI input `uri`: in a run, the version the run recorded; elsewhere, the version it
    has now (fetched once into the project's state folder)."""
    if not is_uri(uri):
        raise InvalidInput(f"{uri} is not a URI", hint="pass the s3://, lakefs://, ... URI you tracked")
    index_file = os.environ.get(INPUTS_ENV)
    if index_file:
        try:
            index = json.loads(Path(index_file).read_text())
        except (OSError, ValueError):
            index = {}
        if uri in index:
            return str(index[uri])
    from ..project import Project

    entry = resolve(uri)
    if entry.state != OK:
        raise InvalidInput(f"{uri}: {entry.message}", hint="check the URI and the credentials")
    target = Project.discover(Path.cwd()).ensure_state_dir() / "data" / INPUTS_DIR / local_name(entry)
    if not target.is_file():
        fetch(entry, target)
    return str(target)
