"""The "numpy" encoding: an ndarray of a plain dtype is its raw buffer as one object.

Meta: `dtype` (numpy descr), `shape`, `fortran` (bytes in F order), and `readonly: true` for an array
whose `writeable` flag was off (absent otherwise, so older encodings keep their fingerprint).
A lazy decode of a large array is an exact `np.ndarray` over a private copy-on-write mapping of the
verified object (not an `np.memmap`): nothing is read until touched and writes never reach the store.

Also here: the reducer that keeps read-only arrays read-only inside pickles.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import NbliftError
from ..store import ObjectStore
from .codec_base import (
    LAZY_MIN_BYTES,
    PICKLE_PROTOCOL,
    Encoded,
    EncodedLike,
    corrupt,
    encoded,
    object_size,
    private_mapping,
    put,
    read_verified_into,
)
from .codec_loaders import array_view, readonly_array

_RAW_DTYPE_KINDS = frozenset("biufcmMSUV")


def plain_array(value: object) -> bool:
    """An exact ndarray (or memmap) whose dtype holds no Python objects: storable as raw bytes."""
    np = sys.modules.get("numpy")
    if np is None or type(value) not in (np.ndarray, np.memmap):
        return False
    dtype = value.dtype  # type: ignore[attr-defined]
    return dtype.kind in _RAW_DTYPE_KINDS and not dtype.hasobject


def array_bytes(arr: Any) -> tuple[memoryview, bool]:
    """The array's bytes as a flat memoryview (no copy when contiguous), and whether they are in F order."""
    import numpy as np

    fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
    if fortran:
        flat = arr.T.reshape(-1)
    else:
        flat = (arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)).reshape(-1)
    return memoryview(flat.view(np.uint8)), fortran


def descr_to_json(dtype: Any) -> Any:
    import numpy as np

    return np.lib.format.dtype_to_descr(dtype)


def _descr_from_json(descr: Any) -> Any:
    """Undo what JSON did to a numpy descr: field names `[title, name]` and shapes back to tuples."""
    if isinstance(descr, str):
        return descr
    fields = []
    for field in descr:
        name = tuple(field[0]) if isinstance(field[0], list) else field[0]
        rest = [_descr_from_json(field[1])]
        if len(field) > 2:
            rest.append(tuple(field[2]))
        fields.append((name, *rest))
    return fields


def _dtype_from_meta(meta: Mapping[str, Any]) -> Any:
    import numpy as np

    try:
        dtype = np.lib.format.descr_to_dtype(_descr_from_json(meta["dtype"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise NbliftError(
            f"unreadable array dtype in the snapshot ({exc})", hint="run `nblift fsck`"
        ) from None
    if dtype.hasobject:  # raw bytes as Python object pointers would crash the kernel: never
        raise NbliftError(
            "refusing to map raw bytes as an object-dtype array", hint="the manifest is damaged"
        )
    return dtype


def encode_numpy(value: Any, store: ObjectStore) -> Encoded | None:
    if not plain_array(value):
        return None
    try:
        data, fortran = array_bytes(value)
        descr = descr_to_json(value.dtype)
    except (TypeError, ValueError, BufferError):
        return None  # an exotic layout: pickle copes
    meta: dict[str, Any] = {"dtype": descr, "shape": list(value.shape), "fortran": fortran}
    if not value.flags.writeable:
        meta["readonly"] = True
    return encoded(value, "numpy", [put(store, data)], meta)


def decode_numpy(enc: EncodedLike, store: ObjectStore, lazy: bool) -> Any:
    import numpy as np

    dtype = _dtype_from_meta(enc.meta)
    shape = tuple(int(n) for n in enc.meta["shape"])
    order = "F" if enc.meta.get("fortran") else "C"
    oid = enc.objects[0]
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if any(n < 0 for n in shape) or object_size(store, oid) != nbytes:
        raise corrupt(oid)
    if lazy and shape and nbytes >= LAZY_MIN_BYTES:
        flat = np.frombuffer(private_mapping(store, oid), dtype=dtype, count=count)
        arr = flat.reshape(shape, order=order)
    else:
        arr = np.empty(shape, dtype=dtype, order=order)
        read_verified_into(store, oid, array_bytes(arr)[0])
    if enc.meta.get("readonly"):
        arr.flags.writeable = False
    return arr


def readonly_reduce(obj: object) -> tuple[Any, ...] | None:
    """How to pickle a read-only exact ndarray that numpy would pickle in-band (not contiguous, or holding
    objects), which would come back writeable; None for anything else (numpy's own reduce keeps the flag
    of the contiguous arrays it stores out-of-band)."""
    np = sys.modules.get("numpy")
    if np is None or type(obj) is not np.ndarray or obj.flags.writeable:  # type: ignore[union-attr]
        return None
    contiguous = obj.flags.c_contiguous or obj.flags.f_contiguous  # type: ignore[union-attr]
    if contiguous and not obj.dtype.hasobject:  # type: ignore[union-attr]
        return None
    return readonly_array, (np.array(obj, copy=True, order="K"),)


def ndarray_reduce(obj: Any) -> Any:
    """A `dispatch_table` entry for `np.ndarray` in a plain pickler."""
    return view_reduce(obj) or readonly_reduce(obj) or obj.__reduce_ex__(PICKLE_PROTOCOL)


#: Ids of the arrays stored in the group being pickled (see `views_of`).
_view_owners: contextvars.ContextVar[frozenset[int]] = contextvars.ContextVar(
    "nblift_view_owners", default=frozenset()
)


def _arrays_in(values: Iterable[object]) -> Iterator[Any]:
    np = sys.modules.get("numpy")
    if np is None:
        return
    for value in values:
        if type(value) is np.ndarray:
            yield value
        elif isinstance(value, list | tuple):
            yield from (v for v in value if type(v) is np.ndarray)
        elif isinstance(value, dict):
            yield from (v for v in value.values() if type(v) is np.ndarray)


@contextlib.contextmanager
def views_of(values: Iterable[object]) -> Iterator[None]:
    """While pickling a group: views of an array the group holds (as a variable, or directly in a list,
    tuple or dict variable) are stored as views of it, so they come back as views of the restored array.
    A view of an array the group does not hold is stored as a copy (never the whole base it views)."""
    token = _view_owners.set(frozenset(id(a) for a in _arrays_in(values)))
    try:
        yield
    finally:
        _view_owners.reset(token)


def view_reduce(obj: object) -> tuple[Any, ...] | None:
    """How to pickle an exact ndarray that views an array of the group being pickled; None otherwise."""
    owners = _view_owners.get()
    np = sys.modules.get("numpy")
    if not owners or np is None or type(obj) is not np.ndarray:
        return None
    owner = obj.base  # type: ignore[union-attr]
    while isinstance(owner, np.ndarray) and isinstance(owner.base, np.ndarray):
        owner = owner.base
    if type(owner) is not np.ndarray or id(owner) not in owners or obj.dtype.hasobject:  # type: ignore[union-attr]
        return None
    if not owner.flags.c_contiguous:
        return None
    offset = obj.__array_interface__["data"][0] - owner.__array_interface__["data"][0]  # type: ignore[union-attr]
    if offset < 0 or offset > owner.nbytes:
        return None
    writeable = bool(obj.flags.writeable)  # type: ignore[union-attr]
    return array_view, (owner, offset, obj.shape, obj.strides, obj.dtype, writeable)  # type: ignore[union-attr]


def fingerprint_parts(value: Any) -> tuple[list[Any], list[memoryview]]:
    """Header and buffer of a plain array's cheap fingerprint."""
    data, fortran = array_bytes(value)
    header: list[Any] = ["numpy", descr_to_json(value.dtype), list(value.shape), fortran]
    if not value.flags.writeable:
        header.append("readonly")
    return header, [data]
