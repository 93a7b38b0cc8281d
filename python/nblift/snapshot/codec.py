"""Encode kernel values into store objects and back, with fast paths that avoid pickle where they can.

Kinds of encoding (`Encoded.kind`):

- "numpy": an ndarray of a plain dtype is its raw buffer as one object (+ dtype, shape, order and a
  read-only flag in meta); decoded lazily as an exact `np.ndarray` over a copy-on-write mapping of the
  verified object (`codec_numpy.py`).
- "pandas": a DataFrame/Series as an uncompressed Arrow IPC file, used only when Arrow gives it back
  exactly (index classes per level, dtypes, freq, names, flags); anything else is pickled
  (`pandas_codec.py`).
- "polars": a DataFrame/Series as an Arrow IPC file written by polars.
- "torch": a tensor as `torch.save(t.detach().cpu())` bytes (+ the device it lived on).
- "pickle": pickle protocol 5; every out-of-band buffer (numpy arrays, frame blocks) is its own object, so
  a large array inside a dict is stored once and deduplicated across snapshots. cloudpickle is used for
  what plain pickle refuses or pickles by reference to `__main__` (notebook-defined functions and classes,
  lambdas), dill after that (`codec_pickle.py`). Given the kernel's namespace, notebook functions keep
  pointing at it instead of carrying copies of their globals, and notebook classes keep one identity
  across snapshots.
- "group": several variables that share objects (see `groups.py`), pickled as one dict name -> value.

A value of which one part cannot be stored (a generator in a dict, a lock in a DataFrame's `attrs`) is
stored without that part: `dropped_parts(encoded)` says which parts were left out and why
(`codec_partial.py`). `Unstorable` is raised only when nothing of the value can be stored.

Content addressing deduplicates bytes, never objects: every `decode` builds a new value (its own
copy-on-write mappings), so two variables with equal content never come back as one object.

Heavy libraries are never imported here at module level; a value can only be an ndarray if the user
imported numpy, so they are looked up in `sys.modules`.

Security: "pickle", "group" and "torch" payloads run code when loaded. `decode` must only be called for
encodings listed in a manifest whose HMAC signature verified with this user's key (SECURITY.md, "Stored
state"); the orchestrator (`snapshot/core.py`) checks that before it calls `decode`.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Mapping
from typing import Any

from ..errors import NbliftError
from ..store import ObjectStore
from .codec_base import LAZY_MIN_BYTES, PICKLE_PROTOCOL, Encoded, EncodedLike, Unstorable, type_name
from .codec_base import encoded as _encoded
from .codec_base import put as _put
from .codec_base import require_verified as _require_verified
from .codec_fingerprint import fingerprint_value
from .codec_numpy import decode_numpy, encode_numpy, views_of
from .codec_partial import prune
from .codec_pickle import (
    _cloud_picklers,
    _dill_pickler,
    decode_pickled,
    pickled,
    process_bound,
    refuse_if_process_bound,
    store_pickled,
)
from .pandas_codec import decode_pandas, encode_pandas

__all__ = [
    "LAZY_MIN_BYTES",
    "PICKLE_PROTOCOL",
    "Encoded",
    "EncodedLike",
    "Unstorable",
    "decode",
    "dropped_parts",
    "encode_group",
    "encode_value",
    "fingerprint_value",
    "preload_serializers",
    "type_name",
]


# -- polars --------------------------------------------------------------------------------------------
def _encode_polars(value: Any, store: ObjectStore) -> Encoded | None:
    pl = sys.modules.get("polars")
    if pl is None or not hasattr(pl, "DataFrame") or type(value) not in (pl.DataFrame, pl.Series):
        return None
    series = type(value) is pl.Series
    frame = value.to_frame() if series else value
    buffer = io.BytesIO()
    try:
        frame.write_ipc(buffer, compression="uncompressed")
    except Exception:  # noqa: BLE001 - polars raises its own error types (Object columns...): pickle instead
        return None
    meta = {"container": "series" if series else "frame"}
    return _encoded(value, "polars", [_put(store, buffer.getbuffer())], meta)


def _decode_polars(enc: EncodedLike, store: ObjectStore, lazy: bool) -> Any:
    import polars as pl

    oid = enc.objects[0]
    if lazy:  # polars reads the verified file itself (memory-mapped where it can)
        _require_verified(store, oid)
        frame = pl.read_ipc(store.path_of(oid))
    else:
        frame = pl.read_ipc(io.BytesIO(store.get_bytes(oid)))
    return frame.to_series(0) if enc.meta.get("container") == "series" else frame


# -- torch ---------------------------------------------------------------------------------------------
def _encode_torch(value: Any, store: ObjectStore) -> Encoded | None:
    torch = sys.modules.get("torch")
    tensor = getattr(torch, "Tensor", None)
    if tensor is None or type(value) is not tensor:
        return None
    buffer = io.BytesIO()
    torch.save(value.detach().cpu(), buffer)  # type: ignore[union-attr]
    meta = {"device": str(value.device), "requires_grad": bool(value.requires_grad)}
    return _encoded(value, "torch", [_put(store, buffer.getbuffer())], meta)


def place_modules(values: dict[str, Any], device: str) -> None:
    """Move restored torch modules (`nn.Module`: their parameters and buffers) to `device`, in place; tensors
    are placed as they are decoded. Tensors held inside other objects stay where they were stored."""
    torch = sys.modules.get("torch")
    module = getattr(getattr(torch, "nn", None), "Module", None)
    if module is None:
        return
    for value in values.values():
        if isinstance(value, module):
            value.to(device)


def _decode_torch(enc: EncodedLike, store: ObjectStore, device: str | None) -> Any:
    import torch

    target = device or ("cuda" if torch.cuda.is_available() else "cpu")
    data = io.BytesIO(store.get_bytes(enc.objects[0]))
    tensor = torch.load(data, map_location=target, weights_only=False)
    if enc.meta.get("requires_grad"):
        tensor.requires_grad_(True)
    return tensor


# -- pickle, with the parts that cannot be stored left out ---------------------------------------------
def _encode_pickled(
    value: object,
    store: ObjectStore,
    kind: str,
    meta: dict[str, Any],
    namespace: dict[str, Any] | None,
) -> Encoded:
    """Pickle first, store after: a serializer that fails leaves nothing behind. When every serializer
    fails, the value is stored without its unstorable parts (listed in `meta["dropped"]`) if any of it
    can be kept."""
    try:
        result = pickled(value, namespace)
    except Unstorable as whole:
        variables = value.values() if kind == "group" else [value]  # type: ignore[attr-defined]
        if any(process_bound(v) for v in variables):
            raise  # a thread, lock, file... is refused whole, never stored without its insides

        def why_not(part: object) -> str | None:
            try:
                pickled(part, namespace)
            except Unstorable as exc:
                return exc.headline
            return None

        salvaged = prune(value, why_not, group=kind == "group")
        if salvaged is None:
            raise
        rebuilt, dropped = salvaged
        try:
            result = pickled(rebuilt, namespace)
        except Unstorable:
            raise whole from None
        meta = {**meta, "dropped": dropped}
    return store_pickled(value, result, store, kind, meta)


def preload_serializers() -> None:
    """Import now what encoding may import later (cloudpickle, dill, pandas' Arrow types), so that a
    forked snapshot child never imports."""
    _cloud_picklers()
    with contextlib.suppress(ImportError):  # an environment without dill stores without it
        _dill_pickler()
    if "pandas" in sys.modules:
        with contextlib.suppress(ImportError):
            import pandas.core.arrays.arrow.extension_types  # noqa: F401


#: the name `background.preload` calls


# -- front doors ---------------------------------------------------------------------------------------
_FAST_ENCODERS = (encode_numpy, encode_pandas, _encode_polars, _encode_torch)


def encode_value(value: object, store: ObjectStore, *, namespace: dict[str, Any] | None = None) -> Encoded:
    """Store one value and say how: the fastest kind that keeps it exactly, else pickle.

    `namespace`: the kernel's namespace (`user_ns`); notebook functions bound to it are stored as
    references to it (decode them with `namespace=` too). Raises `Unstorable` (with each serializer's
    reason) when nothing of the value can be stored; see `dropped_parts` for values stored without some
    parts. A serializer that fails stores nothing; objects stored before a later failure are orphans
    that gc removes.
    """
    for encoder in _FAST_ENCODERS:
        result = encoder(value, store)
        if result is not None:
            return result
    refuse_if_process_bound(value)
    return _encode_pickled(value, store, "pickle", {}, namespace)


def encode_group(
    values: Mapping[str, object], store: ObjectStore, *, namespace: dict[str, Any] | None = None
) -> Encoded:
    """Store a co-variable group (names that share objects) as one pickle of the dict name -> value, so
    aliases and shared objects come back shared. Out-of-band buffers are separate objects, as for "pickle".
    A variable that cannot be stored at all makes the group `Unstorable`; unstorable parts inside the
    variables are left out as for `encode_value` (paths start with the variable's name)."""
    names = sorted(values)
    payload = {name: values[name] for name in names}
    for value in payload.values():
        refuse_if_process_bound(value)
    with views_of(payload.values()):
        return _encode_pickled(payload, store, "group", {"names": names}, namespace)


def dropped_parts(encoded: EncodedLike) -> list[str]:
    """The parts of the value an encoding left out, as `path: reason` (empty when it is whole)."""
    return [str(part) for part in encoded.meta.get("dropped", [])]


def decode(
    encoded: EncodedLike,
    store: ObjectStore,
    *,
    lazy: bool = True,
    device: str | None = None,
    namespace: dict[str, Any] | None = None,
) -> object:
    """The value an encoding stands for; for "group" the dict name -> value. Each call builds a new value.

    `lazy`: large numpy arrays (and large pickle buffers) are copy-on-write memory maps of the verified
    objects, so nothing is read until touched and writes never reach the store; Arrow files are memory
    mapped. `device`: where a torch tensor goes (default: cuda when available, else cpu). `namespace`: the
    kernel's namespace that notebook functions are bound to (required for encodings made with one that
    hold such functions: NbliftError without it).

    Every object is verified against its id before use (ObjectCorrupt names the object). Only call this for
    encodings from a manifest whose signature verified with this user's key: pickle, group and torch
    payloads execute code when loaded.
    """
    kind = encoded.kind
    if kind == "numpy":
        return decode_numpy(encoded, store, lazy)
    if kind == "pandas":
        return decode_pandas(encoded, store, lazy)
    if kind == "polars":
        return _decode_polars(encoded, store, lazy)
    if kind == "torch":
        return _decode_torch(encoded, store, device)
    if kind in ("pickle", "group"):
        return decode_pickled(encoded, store, lazy, namespace)
    raise NbliftError(f"unknown encoding kind {kind!r} in the snapshot", hint="upgrade nblift")
