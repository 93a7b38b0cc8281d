"""Move a snapshot between machines: a tar holding its manifest and every object it needs.

Import verifies every object's hash and writes nothing outside the store; the imported snapshot stays
untrusted (its signature was made with another key) until the user runs `nblift snapshots trust ID`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path
from typing import Any

from ..errors import InvalidInput
from ..store import ObjectStore, check_oid
from . import manifest as mf

MANIFEST_NAME = "manifest.json"


@dataclasses.dataclass
class BundleResult:
    id: str
    path: str
    objects: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def export_snapshot(store: ObjectStore, sid: str, destination: Path) -> BundleResult:
    manifest = mf.load(store.state_dir, sid)
    oids = sorted(mf.manifest_objects(manifest))
    total = 0
    tmp = destination.with_name(destination.name + ".partial")
    with tarfile.open(tmp, "w") as tar:
        data = json.dumps(manifest, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for oid in oids:
            path = store.path_of(oid)
            store.get_bytes(oid)  # verify before shipping
            tar.add(path, arcname=f"objects/{oid}", recursive=False)
            total += path.stat().st_size
    tmp.replace(destination)
    return BundleResult(id=manifest["id"], path=str(destination), objects=len(oids), bytes=total)


def import_snapshot(store: ObjectStore, source: Path) -> BundleResult:
    """Add a bundle's objects (verified) and manifest to this store. Member names are never used as paths."""
    manifest: dict[str, Any] | None = None
    count = total = 0
    with tarfile.open(source, "r") as tar:
        for member in tar:
            if not member.isfile():
                continue
            if member.name == MANIFEST_NAME:
                fh = tar.extractfile(member)
                manifest = json.loads(fh.read()) if fh else None
                continue
            if not member.name.startswith("objects/"):
                raise InvalidInput(
                    f"bundle {source} holds an unexpected member {member.name!r}",
                    hint="only bundles made by `nblift snapshots export` can be imported",
                )
            oid = check_oid(member.name.removeprefix("objects/"))
            fh = tar.extractfile(member)
            data = fh.read() if fh else b""
            if store.put_bytes(data) != oid:
                raise InvalidInput(
                    f"bundle {source}: object {oid} does not match its hash",
                    hint="the bundle is corrupt; export it again",
                )
            count += 1
            total += len(data)
    if not isinstance(manifest, dict) or manifest.get("format") != mf.FORMAT:
        raise InvalidInput(f"bundle {source} has no valid {MANIFEST_NAME}", hint="export the snapshot again")
    sid = mf.check_id(manifest.get("id", ""))
    existing = mf.snapshots_dir(store.state_dir) / f"{sid}.json"
    if existing.is_file() and json.loads(existing.read_bytes()).get("encodings") != manifest.get("encodings"):
        raise InvalidInput(
            f"a different snapshot {sid} already exists here; it was left as it is",
            hint="delete it first with `nblift snapshots delete` if the bundle should replace it",
        )
    missing = [o for o in mf.manifest_objects(manifest) if not store.has(o)]
    if missing:
        raise InvalidInput(
            f"bundle {source} lacks {len(missing)} objects its manifest needs",
            hint="export the snapshot again",
        )
    mf.save(store, manifest)
    return BundleResult(id=manifest["id"], path=str(source), objects=count, bytes=total)
