"""What every codec module shares: the `Encoded` record, `Unstorable`, and verified reads of store objects.

No heavy library is imported here (see `codec.py`).
"""

from __future__ import annotations

import contextlib
import mmap
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import blake3

from ..errors import NbliftError, NotFound, ObjectCorrupt
from ..store import ObjectStore, new_hasher
from .signing import canonical_json

PICKLE_PROTOCOL = 5
#: numpy arrays and out-of-band buffers at least this big are memory-mapped by a lazy decode.
LAZY_MIN_BYTES = 1 << 20
_REASON_MAX = 240
#: Meta keys that describe a value without changing its stored content (kept out of the fingerprint).
_INFORMATIONAL_META = frozenset({"device"})


class Unstorable(NbliftError):
    """No serializer can store this value (a generator, socket, open file, lock, database connection...)."""

    status_code = 400

    def __init__(self, reason: str, headline: str | None = None) -> None:
        super().__init__(
            reason,
            hint="it is left out of the snapshot: re-create it after restore or re-run the cell that made it",
        )
        self.reason = reason
        #: the clearest single reason (without each serializer's detail), for reports of dropped parts
        self.headline = headline or reason


@dataclass(frozen=True)
class Encoded:
    """How one value (or one group of values) is stored.

    `objects`: store ids the value needs, the main payload first. `size`: their bytes in total.
    `fingerprint`: BLAKE3 over the kind, the content meta and the ids: equal content gives an equal
    fingerprint, so a diff can say "unchanged".
    """

    kind: str
    type_name: str
    objects: list[str]
    meta: dict[str, Any]
    size: int
    fingerprint: str


class EncodedLike(Protocol):
    """What `decode` needs: an `Encoded`, or one rebuilt from a manifest."""

    @property
    def kind(self) -> str: ...

    @property
    def meta(self) -> Mapping[str, Any]: ...

    @property
    def objects(self) -> Sequence[str]: ...


def type_name(value: object) -> str:
    """`module.QualName` of the value's type (`dict` for builtins)."""
    cls = type(value)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def encoding_fingerprint(kind: str, meta: Mapping[str, Any], objects: Sequence[str]) -> str:
    """The fingerprint of an encoding: what identifies its stored content."""
    content = {k: v for k, v in meta.items() if k not in _INFORMATIONAL_META}
    return blake3.blake3(
        canonical_json({"kind": kind, "meta": content, "objects": list(objects)})
    ).hexdigest()


def encoded(value: object, kind: str, parts: Sequence[tuple[str, int]], meta: dict[str, Any]) -> Encoded:
    """The `Encoded` record of `value` stored as `parts` (object id, size)."""
    objects = [oid for oid, _ in parts]
    return Encoded(
        kind=kind,
        type_name=type_name(value),
        objects=objects,
        meta=meta,
        size=sum(size for _, size in parts),
        fingerprint=encoding_fingerprint(kind, meta, objects),
    )


def put(store: ObjectStore, data: bytes | bytearray | memoryview) -> tuple[str, int]:
    """Store `data`; its object id and size."""
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    return store.put_bytes(view), len(view)


def corrupt(oid: str) -> ObjectCorrupt:
    return ObjectCorrupt(
        f"object {oid} is corrupt: its content no longer matches its hash",
        hint="run `nblift fsck`; restore it from a copy of the store or re-create it",
    )


def missing(store: ObjectStore, oid: str) -> NotFound:
    return NotFound(
        f"object {oid} is not in the store {store.objects_dir}",
        hint="run `nblift fsck` to see what else is missing",
    )


def object_size(store: ObjectStore, oid: str) -> int:
    try:
        return store.path_of(oid).stat().st_size
    except FileNotFoundError:
        raise missing(store, oid) from None


def require_verified(store: ObjectStore, oid: str) -> None:
    """Hash the object on disk (memory-mapped, all cores) before it is mapped into the kernel."""
    object_size(store, oid)
    if not store.verify(oid):
        raise corrupt(oid)


def read_verified_into(store: ObjectStore, oid: str, target: memoryview) -> None:
    """Fill `target` (exactly the object's size) with the object's bytes and check them against its id."""
    try:
        with store.path_of(oid).open("rb", buffering=0) as fh:
            filled = 0
            while filled < len(target):
                count = fh.readinto(target[filled:])
                if not count:
                    break
                filled += count
            extra = fh.read(1)
    except FileNotFoundError:
        raise missing(store, oid) from None
    if filled != len(target) or extra:
        raise corrupt(oid)
    hasher = new_hasher(len(target))
    hasher.update(target)
    if hasher.hexdigest() != oid:
        raise corrupt(oid)


def private_mapping(store: ObjectStore, oid: str) -> mmap.mmap:
    """A private copy-on-write mapping of the verified object: nothing is read until touched, and writes
    never reach the store. Every call maps afresh, so two decodes never share memory."""
    require_verified(store, oid)
    with store.path_of(oid).open("rb") as fh:
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)


def load_buffer(store: ObjectStore, oid: str, lazy: bool) -> bytearray | mmap.mmap:
    """A writable buffer with the object's verified bytes: a private copy-on-write mapping when lazy and
    large, else a bytearray."""
    size = object_size(store, oid)
    if lazy and size >= LAZY_MIN_BYTES:
        return private_mapping(store, oid)
    buffer = bytearray(size)
    read_verified_into(store, oid, memoryview(buffer))
    return buffer


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence the deprecation warnings pyarrow's pandas conversion triggers inside pandas: they would
    show in the user's notebook at every snapshot, and are not the user's to fix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield
