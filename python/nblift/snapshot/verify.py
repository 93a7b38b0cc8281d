"""Verify a namespace against a stored snapshot: is what is live (or was just restored) what was stored?

Every variable the snapshot stored is encoded again into a store that only hashes (nothing is written) and
its fingerprint compared with the stored one. Equal content gives an equal fingerprint, so a match proves
the value unchanged. A fingerprint can also differ for equal content where pickle's output depends on the
process (the order of a set of strings follows the per-process hash seed): on a mismatch the stored value
is decoded and compared by value before a difference is reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..store import ObjectStore, new_hasher
from .codec import Unstorable, decode, encode_group, encode_value, type_name


class _HashOnlyStore:
    """An object store that names bytes by their hash and keeps nothing (what `encode_*` needs)."""

    bytes_written = 0

    def put_bytes(self, data: bytes | bytearray | memoryview) -> str:
        hasher = new_hasher(len(data))
        hasher.update(data)
        return hasher.hexdigest()


@dataclasses.dataclass
class Difference:
    name: str
    reason: str


@dataclasses.dataclass
class VerifyResult:
    id: str
    checked: int
    differences: list[Difference]

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"ok": self.ok}

    def lines(self) -> list[str]:
        if self.ok:
            return [f"snapshot {self.id}: all {self.checked} stored variables match"]
        return [f"snapshot {self.id}: {len(self.differences)} of {self.checked} differ"] + [
            f"  {d.name}: {d.reason}" for d in self.differences
        ]


def _same(a: Any, b: Any) -> bool:
    """Equal by value (arrays and frames by their own equality), False when they cannot be compared."""
    if type(a) is not type(b):
        return False
    try:
        if hasattr(a, "equals") and callable(a.equals):  # pandas / polars
            return bool(a.equals(b))
        import sys

        np = sys.modules.get("numpy")
        if np is not None and isinstance(a, np.ndarray):
            return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
        return bool(a == b)
    except Exception:  # noqa: BLE001 - incomparable values are reported as different
        return False


def verify_namespace(
    ns: Mapping[str, Any],
    manifest: Mapping[str, Any],
    store: ObjectStore | None,
    *,
    namespace: dict[str, Any] | None = None,
    extra_names: bool = True,
) -> VerifyResult:
    """Compare `ns` (name -> value) with the variables `manifest` stored.

    `store` lets a mismatch be decoded and compared by value (pass None to compare fingerprints only; the
    manifest must be trusted). `extra_names`: also list names in `ns` that the snapshot does not hold.
    """
    hashing = _HashOnlyStore()
    variables: Mapping[str, Mapping[str, Any]] = manifest["variables"]
    encodings: Mapping[str, Mapping[str, Any]] = manifest["encodings"]
    differences: list[Difference] = []
    done: set[str] = set()
    checked = 0
    for name in sorted(variables):
        var = variables[name]
        if var.get("status") != "stored":
            continue
        checked += 1
        if name not in ns:
            differences.append(Difference(name, "stored in the snapshot, missing here"))
            continue
        enc_id = var["encoding"]
        stored = encodings.get(enc_id, {})
        if stored.get("kind") == "group":
            if enc_id in done:
                continue
            done.add(enc_id)
            members = list(stored.get("meta", {}).get("names", [name]))
            missing = [m for m in members if m not in ns]
            if missing:
                reason = f"stored together with {', '.join(missing)}, missing here"
                differences.append(Difference(name, reason))
                continue
            differences += _check(
                members, {m: ns[m] for m in members}, enc_id, stored, store, hashing, namespace, group=True
            )
        else:
            differences += _check([name], ns[name], enc_id, stored, store, hashing, namespace, group=False)
    if extra_names:
        differences += [Difference(n, "not in the snapshot") for n in sorted(set(ns) - set(variables))]
    return VerifyResult(str(manifest.get("id", "")), checked, differences)


def _check(
    names: list[str],
    value: Any,
    enc_id: str,
    stored: Mapping[str, Any],
    store: ObjectStore | None,
    hashing: _HashOnlyStore,
    namespace: dict[str, Any] | None,
    *,
    group: bool,
) -> list[Difference]:
    label = ", ".join(names)
    try:
        now = (
            encode_group(value, hashing, namespace=namespace)  # type: ignore[arg-type]
            if group
            else encode_value(value, hashing, namespace=namespace)  # type: ignore[arg-type]
        )
    except Unstorable as exc:
        return [Difference(label, f"can no longer be stored: {exc.message}")]
    if now.fingerprint == enc_id:
        return []
    if not group and stored.get("type") and now.type_name != stored.get("type"):
        return [Difference(label, f"type is {now.type_name}, the snapshot holds {stored.get('type')}")]
    if store is not None:
        from .core import _encoded_from_json

        try:
            before = decode(_encoded_from_json(stored), store, lazy=True, namespace=namespace)
        except Exception as exc:  # noqa: BLE001 - a stored value that cannot be read is a difference
            return [Difference(label, f"the stored value cannot be read ({type(exc).__name__}: {exc})")]
        if group:
            unequal = [n for n in names if not _same(value[n], before[n])]  # type: ignore[index]
            if not unequal:
                return []
            return [Difference(n, "value differs from the stored one (stored with others)") for n in unequal]
        if _same(value, before):
            return []
    kind = type_name(value) if not group else "group"
    return [Difference(label, f"value differs from the stored one ({kind})")]


def verify_restored(store: ObjectStore, sid: str) -> VerifyResult:
    """Restore snapshot `sid` into a scratch namespace in this process and verify it against the snapshot:
    a round-trip check that every stored variable comes back as it was stored."""
    from . import manifest as mf
    from .core import _encoded_from_json

    manifest = mf.load(store.state_dir, sid)
    mf.require_trusted(manifest)
    scratch: dict[str, Any] = {"__name__": "__main__"}
    restored: dict[str, Any] = {}
    unreadable: list[Difference] = []
    for name, var in sorted(manifest["variables"].items()):
        if var.get("status") != "stored" or name in restored:
            continue
        stored = manifest["encodings"][var["encoding"]]
        try:
            value = decode(_encoded_from_json(stored), store, lazy=True, namespace=scratch)
        except Exception as exc:  # noqa: BLE001 - every unreadable value is listed, the rest still checked
            unreadable.append(Difference(name, f"cannot be restored ({type(exc).__name__}: {exc})"))
            continue
        if stored["kind"] == "group":
            restored.update(value)  # type: ignore[arg-type]
        else:
            restored[name] = value
    scratch.update({k: v for k, v in restored.items() if "." not in k})
    result = verify_namespace(restored, manifest, store, namespace=scratch, extra_names=False)
    failed = {d.name for d in unreadable}
    result.differences = unreadable + [
        d for d in result.differences if not (d.name in failed and "missing here" in d.reason)
    ]
    return result
