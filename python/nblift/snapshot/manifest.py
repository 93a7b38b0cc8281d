"""Snapshot manifests: what one snapshot holds, signed with this user's key, one JSON file each.

`.nblift/snapshots/<id>.json` holds the manifest (written atomically); the ref `snapshots/<id>` keeps its
objects alive for gc. A manifest is trusted only when its HMAC verifies with this user's key: nothing a
manifest points to is unpickled otherwise, whatever the manifest itself claims.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NbliftError, NotFound
from ..fsutil import TEMP_PREFIX, atomic_write, ensure_dir
from ..store import ObjectStore
from .signing import canonical_json, load_or_create_key, sign, verify

FORMAT = 1
REF_KIND = "snapshots"
_ID = re.compile(r"^[0-9a-f]{4,12}$")


class UntrustedSnapshot(NbliftError):
    """A snapshot whose signature does not verify with this user's key."""

    status_code = 403


def new_id() -> str:
    return secrets.token_hex(6)


def snapshots_dir(state_dir: Path) -> Path:
    return state_dir / "snapshots"


def _body(manifest: dict[str, Any]) -> bytes:
    return canonical_json({k: v for k, v in manifest.items() if k != "signature"})


def sign_manifest(manifest: dict[str, Any], key: bytes | None = None) -> dict[str, Any]:
    manifest["signature"] = sign(_body(manifest), key if key is not None else load_or_create_key())
    return manifest


def is_trusted(manifest: dict[str, Any], key: bytes | None = None) -> bool:
    signature = manifest.get("signature")
    if not isinstance(signature, str):
        return False
    return verify(_body(manifest), signature, key if key is not None else load_or_create_key())


def require_trusted(manifest: dict[str, Any]) -> None:
    if not is_trusted(manifest):
        sid = manifest.get("id", "?")
        raise UntrustedSnapshot(
            f"snapshot {sid} is untrusted: it was not signed with your key (made by another user or machine, "
            "or changed after it was written), so its pickled objects will not be loaded",
            hint=f"if you trust whoever made it, run `%lift snapshots trust {sid}` "
            f"(or `nblift snapshots trust {sid}`)",
        )


def save(store: ObjectStore, manifest: dict[str, Any]) -> Path:
    """Keep the manifest's objects alive, then write the manifest (the ref first: gc never sees a gap)."""
    sid = manifest["id"]
    store.set_ref(REF_KIND, sid, manifest_objects(manifest))
    folder = ensure_dir(snapshots_dir(store.state_dir))
    path = folder / f"{sid}.json"
    atomic_write(path, json.dumps(manifest, indent=1, sort_keys=True).encode())
    return path


def manifest_objects(manifest: dict[str, Any]) -> set[str]:
    oids: set[str] = set()
    for enc in manifest.get("encodings", {}).values():
        oids.update(enc.get("objects", []))
    for key in ("history_object", "notebook_object", "git_diff_object"):
        if manifest.get(key):
            oids.add(manifest[key])
    return oids


def check_id(sid: str) -> str:
    if not isinstance(sid, str) or not _ID.match(sid):
        raise InvalidInput(
            f"{sid!r} is not a snapshot id", hint="ids are 4-12 hex characters; see `%lift snapshots`"
        )
    return sid


def iter_manifests(state_dir: Path) -> Iterator[dict[str, Any]]:
    folder = snapshots_dir(state_dir)
    if not folder.is_dir():
        return
    for path in folder.glob("*.json"):
        if path.name.startswith(TEMP_PREFIX):
            continue
        try:
            manifest = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("format") == FORMAT:
            yield manifest


def list_manifests(state_dir: Path) -> list[dict[str, Any]]:
    """Every snapshot of the project, newest first."""
    return sorted(iter_manifests(state_dir), key=lambda m: m.get("created", 0), reverse=True)


def resolve(state_dir: Path, sid: str) -> str:
    """A full id from a unique prefix (as git does)."""
    check_id(sid)
    folder = snapshots_dir(state_dir)
    if (folder / f"{sid}.json").is_file():
        return sid
    matches = sorted(p.stem for p in folder.glob(f"{sid}*.json")) if folder.is_dir() else []
    if not matches:
        raise NotFound(f"no snapshot {sid!r} in {state_dir}", hint="list them with `%lift snapshots`")
    if len(matches) > 1:
        raise InvalidInput(
            f"snapshot id {sid!r} is ambiguous: {', '.join(matches)}", hint="type more characters"
        )
    return matches[0]


def load(state_dir: Path, sid: str) -> dict[str, Any]:
    full = resolve(state_dir, sid)
    try:
        manifest = json.loads((snapshots_dir(state_dir) / f"{full}.json").read_bytes())
    except ValueError:
        raise NbliftError(f"snapshot {full}: manifest is not valid JSON", hint="run `nblift fsck`") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise NbliftError(f"snapshot {full}: unknown manifest format", hint="upgrade nblift")
    return manifest


def load_wanted(
    state_dir: Path, sid: str, only: Iterable[str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """A trusted snapshot's manifest and the variables asked of it (all, or `only` these); a name it does
    not hold is an error listing what it holds. What restoring and planning a restore both start from."""
    manifest = load(state_dir, sid)
    require_trusted(manifest)
    variables: dict[str, Any] = manifest["variables"]
    wanted = list(variables) if only is None else list(only)
    unknown = [n for n in wanted if n not in variables]
    if unknown:
        raise NbliftError(
            f"snapshot {manifest['id']} has no variable {', '.join(unknown)}",
            hint=f"it holds: {', '.join(sorted(variables)) or 'nothing'}",
        )
    return manifest, wanted


def load_with_trust(state_dir: Path, sid: str) -> dict[str, Any]:
    """The manifest of snapshot `sid` with `trusted`: whether its signature is one this user's key made."""
    manifest = load(state_dir, sid)
    return manifest | {"trusted": is_trusted(manifest)}


def trust(store: ObjectStore, sid: str) -> dict[str, Any]:
    """Re-sign a snapshot with this user's key after the user said they trust it."""
    manifest = load(store.state_dir, sid)
    sign_manifest(manifest)
    save(store, manifest)
    return manifest


def delete(store: ObjectStore, sid: str) -> None:
    full = resolve(store.state_dir, sid)
    (snapshots_dir(store.state_dir) / f"{full}.json").unlink(missing_ok=True)
    store.delete_ref(REF_KIND, full)
