"""Encode kernel values into store objects and back, with fast paths that avoid pickle where they can.

Kinds of encoding (`Encoded.kind`):

- "numpy": an ndarray of a plain dtype is its raw buffer as one object (+ dtype, shape, order in meta);
  decoded lazily as a copy-on-write `np.memmap` of the verified object.
- "pandas": a DataFrame/Series as an uncompressed Arrow IPC file (index, categoricals, strings, nullable and
  tz-aware dtypes kept); frames Arrow would change (object columns, lost index freq, ...) are pickled.
- "polars": a DataFrame/Series as an Arrow IPC file written by polars.
- "torch": a tensor as `torch.save(t.detach().cpu())` bytes (+ the device it lived on).
- "pickle": pickle protocol 5; every out-of-band buffer (numpy arrays, frame blocks) is its own object, so
  a large array inside a dict is stored once and deduplicated across snapshots. cloudpickle is used for
  what plain pickle refuses or pickles by reference to `__main__` (notebook-defined functions and classes,
  lambdas), dill after that.
- "group": several variables that share objects (see `groups.py`), pickled as one dict name -> value.

Heavy libraries are never imported here at module level; a value can only be an ndarray if the user
imported numpy, so they are looked up in `sys.modules`.

Security: "pickle", "group" and "torch" payloads run code when loaded. `decode` must only be called for
encodings listed in a manifest whose HMAC signature verified with this user's key (SECURITY.md, "Stored
state"); the orchestrator (`snapshot/core.py`) checks that before it calls `decode`.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import mmap
import pickle
import sys
import types
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import blake3

from ..errors import NbliftError, NotFound, ObjectCorrupt
from ..store import ObjectStore, new_hasher
from .signing import canonical_json

PICKLE_PROTOCOL = 5
#: numpy arrays and out-of-band buffers at least this big are memory-mapped by a lazy decode.
LAZY_MIN_BYTES = 1 << 20
_RAW_DTYPE_KINDS = frozenset("biufcmMSUV")
_PANDAS_SAMPLE_ROWS = 64
_SERIES_COLUMN = "__nblift_series__"
_MAIN_REFERENCE = b"__main__"
_REASON_MAX = 240
#: Meta keys that describe a value without changing its stored content (kept out of the fingerprint).
_INFORMATIONAL_META = frozenset({"device"})
_PROCESS_BOUND = ", which belongs to this process"


class Unstorable(NbliftError):
    """No serializer can store this value (a generator, socket, open file, lock, database connection...)."""

    status_code = 400

    def __init__(self, reason: str) -> None:
        super().__init__(
            reason,
            hint="it is left out of the snapshot: re-create it after restore or re-run the cell that made it",
        )
        self.reason = reason


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


# -- helpers -------------------------------------------------------------------------------------------
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


def _encoded(value: object, kind: str, parts: Sequence[tuple[str, int]], meta: dict[str, Any]) -> Encoded:
    objects = [oid for oid, _ in parts]
    return Encoded(
        kind=kind,
        type_name=type_name(value),
        objects=objects,
        meta=meta,
        size=sum(size for _, size in parts),
        fingerprint=encoding_fingerprint(kind, meta, objects),
    )


def _put(store: ObjectStore, data: bytes | bytearray | memoryview) -> tuple[str, int]:
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    return store.put_bytes(view), len(view)


def _corrupt(oid: str) -> ObjectCorrupt:
    return ObjectCorrupt(
        f"object {oid} is corrupt: its content no longer matches its hash",
        hint="run `nblift fsck`; restore it from a copy of the store or re-create it",
    )


def _missing(store: ObjectStore, oid: str) -> NotFound:
    return NotFound(
        f"object {oid} is not in the store {store.objects_dir}",
        hint="run `nblift fsck` to see what else is missing",
    )


def _object_size(store: ObjectStore, oid: str) -> int:
    try:
        return store.path_of(oid).stat().st_size
    except FileNotFoundError:
        raise _missing(store, oid) from None


def _require_verified(store: ObjectStore, oid: str) -> None:
    """Hash the object on disk (memory-mapped, all cores) before it is mapped into the kernel."""
    _object_size(store, oid)
    if not store.verify(oid):
        raise _corrupt(oid)


def _read_verified_into(store: ObjectStore, oid: str, target: memoryview) -> None:
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
        raise _missing(store, oid) from None
    if filled != len(target) or extra:
        raise _corrupt(oid)
    hasher = new_hasher(len(target))
    hasher.update(target)
    if hasher.hexdigest() != oid:
        raise _corrupt(oid)


def _load_buffer(store: ObjectStore, oid: str, lazy: bool) -> bytearray | mmap.mmap:
    """A writable buffer with the object's verified bytes: a private copy-on-write mapping when lazy and
    large (nothing is read until touched), else a bytearray."""
    size = _object_size(store, oid)
    if lazy and size >= LAZY_MIN_BYTES:
        _require_verified(store, oid)
        with store.path_of(oid).open("rb") as fh:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
    buffer = bytearray(size)
    _read_verified_into(store, oid, memoryview(buffer))
    return buffer


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


# -- numpy ---------------------------------------------------------------------------------------------
def _plain_array(value: object) -> bool:
    """An exact ndarray (or memmap) whose dtype holds no Python objects: storable as raw bytes."""
    np = sys.modules.get("numpy")
    if np is None or type(value) not in (np.ndarray, np.memmap):
        return False
    dtype = value.dtype  # type: ignore[attr-defined]
    return dtype.kind in _RAW_DTYPE_KINDS and not dtype.hasobject


def _array_bytes(arr: Any) -> tuple[memoryview, bool]:
    """The array's bytes as a flat memoryview (no copy when contiguous), and whether they are in F order."""
    import numpy as np

    fortran = bool(arr.flags.f_contiguous and not arr.flags.c_contiguous)
    if fortran:
        flat = arr.T.reshape(-1)
    else:
        flat = (arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)).reshape(-1)
    return memoryview(flat.view(np.uint8)), fortran


def _descr_to_json(dtype: Any) -> Any:
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


def _encode_numpy(value: Any, store: ObjectStore) -> Encoded | None:
    if not _plain_array(value):
        return None
    try:
        data, fortran = _array_bytes(value)
        descr = _descr_to_json(value.dtype)
    except (TypeError, ValueError, BufferError):
        return None  # an exotic layout: pickle copes
    meta = {"dtype": descr, "shape": list(value.shape), "fortran": fortran}
    return _encoded(value, "numpy", [_put(store, data)], meta)


def _decode_numpy(enc: EncodedLike, store: ObjectStore, lazy: bool) -> Any:
    import numpy as np

    dtype = _dtype_from_meta(enc.meta)
    shape = tuple(int(n) for n in enc.meta["shape"])
    order = "F" if enc.meta.get("fortran") else "C"
    oid = enc.objects[0]
    nbytes = math.prod(shape) * dtype.itemsize
    if any(n < 0 for n in shape) or _object_size(store, oid) != nbytes:
        raise _corrupt(oid)
    if lazy and shape and nbytes >= LAZY_MIN_BYTES:
        _require_verified(store, oid)
        return np.memmap(store.path_of(oid), dtype=dtype, mode="c", shape=shape, order=order)
    arr = np.empty(shape, dtype=dtype, order=order)
    _read_verified_into(store, oid, _array_bytes(arr)[0])
    return arr


# -- pandas --------------------------------------------------------------------------------------------
def _pandas_types() -> tuple[type, type] | None:
    pd = sys.modules.get("pandas")
    return (pd.DataFrame, pd.Series) if pd is not None and hasattr(pd, "DataFrame") else None


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _json_scalar(value: object) -> bool:
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def _arrow_keeps(frame: Any) -> bool:
    """Whether Arrow gives `frame` back unchanged. Object columns are refused up front (Arrow would guess
    a type from the values: lists come back as arrays, bools as bool dtype); the rest is checked on a
    sample of rows, since Arrow's conversion of typed columns depends only on their dtype."""
    import numpy as np
    import pandas as pd

    index_dtypes = [frame.index.dtype] if frame.index.nlevels == 1 else list(frame.index.dtypes)
    if any(isinstance(dt, np.dtype) and dt.kind == "O" for dt in [*frame.dtypes, *index_dtypes]):
        return False
    sample = frame.iloc[:_PANDAS_SAMPLE_ROWS]
    try:
        back = _to_arrow(sample).to_pandas()
        pd.testing.assert_frame_equal(back, sample, check_exact=True, check_freq=True, check_flags=True)
    except Exception:  # noqa: BLE001 - whatever Arrow cannot do (or does differently): pickle instead
        return False
    return back.attrs == sample.attrs


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the deprecation warnings pyarrow's pandas conversion triggers inside pandas: they would
    show in the user's notebook at every snapshot, and are not the user's to fix."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _to_arrow(frame: Any) -> Any:
    import pyarrow as pa

    with _quiet():
        return pa.Table.from_pandas(frame)


def _ipc_file(table: Any) -> Any:
    """`table` as uncompressed Arrow IPC *file* bytes (a pyarrow Buffer)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _encode_pandas(value: Any, store: ObjectStore) -> Encoded | None:
    types_ = _pandas_types()
    if types_ is None or type(value) not in types_:
        return None
    if type(value) is types_[0]:
        frame, meta = value, {"container": "frame"}
    else:
        if not _json_scalar(value.name):
            return None
        frame, meta = value.to_frame(name=_SERIES_COLUMN), {"container": "series", "name": value.name}
    if "pyarrow" not in sys.modules and not _importable("pyarrow"):
        return None
    if not _arrow_keeps(frame):
        return None
    try:
        data = _ipc_file(_to_arrow(frame))
    except Exception:  # noqa: BLE001 - the sample converted, the whole frame did not: pickle instead
        return None
    return _encoded(value, "pandas", [_put(store, data)], meta)


def _arrow_source(store: ObjectStore, oid: str, lazy: bool) -> Any:
    import pyarrow as pa

    if lazy:
        _require_verified(store, oid)
        return pa.memory_map(str(store.path_of(oid)))
    return pa.py_buffer(store.get_bytes(oid))


def _decode_pandas(enc: EncodedLike, store: ObjectStore, lazy: bool) -> Any:
    import pyarrow as pa

    table = pa.ipc.open_file(_arrow_source(store, enc.objects[0], lazy)).read_all()
    with _quiet():
        frame = table.to_pandas()
    if enc.meta.get("container") != "series":
        return frame
    series = frame[_SERIES_COLUMN]
    series.name = enc.meta.get("name")
    return series


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


def _decode_torch(enc: EncodedLike, store: ObjectStore, device: str | None) -> Any:
    import torch

    target = device or ("cuda" if torch.cuda.is_available() else "cpu")
    data = io.BytesIO(store.get_bytes(enc.objects[0]))
    tensor = torch.load(data, map_location=target, weights_only=False)
    if enc.meta.get("requires_grad"):
        tensor.requires_grad_(True)
    return tensor


# -- pickle --------------------------------------------------------------------------------------------
def _process_bound() -> list[tuple[tuple[type, ...], str]]:
    """Types that only make sense in this process, with what they are: refused even where dill or
    cloudpickle would 'pickle' them (dill copies locks, cloudpickle reads open text files into a payload)."""
    import _thread
    import io as io_module

    bound: list[tuple[tuple[type, ...], str]] = [
        ((types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType), "a running generator"),
        ((types.FrameType, types.TracebackType), "a stack frame"),
        ((_thread.LockType, _thread.RLock), "a lock"),
        ((io_module.IOBase,), "an open file or stream"),
        ((mmap.mmap,), "a memory map"),
    ]
    if socket := sys.modules.get("socket"):
        bound.append(((socket.socket,), "a network socket"))
    if sqlite3 := sys.modules.get("sqlite3"):
        bound.append(((sqlite3.Connection, sqlite3.Cursor), "a database connection"))
    return bound


def _refuse_process_bound(obj: object, bound: list[tuple[tuple[type, ...], str]]) -> None:
    import io as io_module

    if isinstance(obj, io_module.BytesIO | io_module.StringIO):
        return
    for kinds, what in bound:
        if isinstance(obj, kinds):
            raise TypeError(f"cannot pickle {type_name(obj)!r} object: it is {what}{_PROCESS_BOUND}")


@functools.cache
def _guarded_picklers() -> tuple[type, type]:
    """cloudpickle and dill picklers that refuse process-bound objects anywhere in the graph."""
    import cloudpickle
    import dill

    class CloudPickler(cloudpickle.Pickler):  # type: ignore[misc, name-defined]
        def reducer_override(self, obj: object) -> Any:
            _refuse_process_bound(obj, self.nblift_bound)
            return super().reducer_override(obj)

    class DillPickler(dill.Pickler):  # type: ignore[misc, name-defined]
        def reducer_override(self, obj: object) -> Any:
            _refuse_process_bound(obj, self.nblift_bound)
            if _plain_array(obj) and type(obj) is sys.modules["numpy"].ndarray:
                # dill would pickle arrays in-band; numpy's own protocol-5 reduce keeps them out-of-band
                return obj.__reduce_ex__(PICKLE_PROTOCOL)
            return NotImplemented

    return CloudPickler, DillPickler


def _dump_with(name: str, value: object, on_buffer: Callable[[pickle.PickleBuffer], None]) -> bytes:
    if name == "pickle":
        return pickle.dumps(value, protocol=PICKLE_PROTOCOL, buffer_callback=on_buffer)
    cloud, dill = _guarded_picklers()
    out = io.BytesIO()
    pickler = (cloud if name == "cloudpickle" else dill)(
        out, protocol=PICKLE_PROTOCOL, buffer_callback=on_buffer
    )
    pickler.nblift_bound = _process_bound()
    pickler.dump(value)
    return out.getvalue()


_SERIALIZERS = ("pickle", "cloudpickle", "dill")


def _pickled(value: object) -> tuple[str, bytes, list[pickle.PickleBuffer]]:
    """(serializer, main bytes, out-of-band buffers) from the first serializer that can store `value`.

    Plain pickle output that refers to `__main__` (a function or class defined in the notebook, pickled by
    name) would not load in a fresh kernel: cloudpickle stores those by value instead, and the plain
    result is kept only if nothing else works.
    """
    failures: dict[str, list[str]] = {}  # message -> serializers that failed with it
    by_name: tuple[str, bytes, list[pickle.PickleBuffer]] | None = None
    for name in _SERIALIZERS:
        buffers: list[pickle.PickleBuffer] = []
        try:
            main = _dump_with(name, value, buffers.append)
        except Exception as exc:  # noqa: BLE001 - any failure of one serializer means: try the next
            failures.setdefault(f"{type(exc).__name__}: {_short(str(exc))}", []).append(name)
            continue
        if name == "pickle" and _MAIN_REFERENCE in main:
            by_name = (name, main, buffers)
            continue
        return name, main, buffers
    if by_name is not None:
        return by_name
    raise Unstorable(_unstorable_reason(failures))


def _unstorable_reason(failures: Mapping[str, list[str]]) -> str:
    """`cannot pickle 'X' object[: why] (pickle: ...; cloudpickle, dill: ...)`: the clearest message first."""
    messages = [message.split(": ", 1)[-1] for message in failures]
    ours = [m for m in messages if m.endswith(_PROCESS_BOUND)]
    detail = "; ".join(f"{', '.join(names)}: {message}" for message, names in failures.items())
    return f"{(ours or messages)[0]} ({detail})"


def _buffer_bytes(buffer: pickle.PickleBuffer) -> memoryview:
    try:
        return buffer.raw()
    except BufferError:  # not contiguous: store a C-ordered copy
        return memoryview(memoryview(buffer).tobytes())


def _encode_pickled(value: object, store: ObjectStore, kind: str, meta: dict[str, Any]) -> Encoded:
    """Pickle first, store after: a serializer that fails leaves nothing behind."""
    serializer, main, buffers = _pickled(value)
    parts = [_put(store, main)]
    parts += [_put(store, _buffer_bytes(b)) for b in buffers]
    return _encoded(value, kind, parts, {**meta, "serializer": serializer, "buffers": len(buffers)})


def _loads_for(serializer: str) -> Callable[..., Any]:
    """The loader for a serializer name from the manifest; only the three known ones are ever imported."""
    if serializer == "pickle":
        return pickle.loads
    if serializer == "cloudpickle":
        import cloudpickle

        return cloudpickle.loads
    if serializer == "dill":
        import dill

        return dill.loads
    raise NbliftError(f"unknown serializer {serializer!r} in the snapshot", hint="upgrade nblift")


def _decode_pickled(enc: EncodedLike, store: ObjectStore, lazy: bool) -> Any:
    loads = _loads_for(str(enc.meta.get("serializer", "pickle")))
    if int(enc.meta.get("buffers", len(enc.objects) - 1)) != len(enc.objects) - 1:
        raise NbliftError("the snapshot lists the wrong number of pickle buffers", hint="run `nblift fsck`")
    main = store.get_bytes(enc.objects[0])
    buffers = [_load_buffer(store, oid, lazy) for oid in enc.objects[1:]]
    return loads(main, buffers=buffers)


# -- front doors ---------------------------------------------------------------------------------------
_FAST_ENCODERS = (_encode_numpy, _encode_pandas, _encode_polars, _encode_torch)


def encode_value(value: object, store: ObjectStore) -> Encoded:
    """Store one value and say how: the fastest kind that keeps it exactly, else pickle.

    Raises `Unstorable` (with each serializer's reason) when nothing can store it. A serializer that fails
    stores nothing; objects stored before a later failure are orphans that gc removes.
    """
    for encoder in _FAST_ENCODERS:
        encoded = encoder(value, store)
        if encoded is not None:
            return encoded
    return _encode_pickled(value, store, "pickle", {})


def encode_group(values: Mapping[str, object], store: ObjectStore) -> Encoded:
    """Store a co-variable group (names that share objects) as one pickle of the dict name -> value, so
    aliases and shared objects come back shared. Out-of-band buffers are separate objects, as for "pickle"."""
    names = sorted(values)
    payload = {name: values[name] for name in names}
    return _encode_pickled(payload, store, "group", {"names": names})


def decode(
    encoded: EncodedLike, store: ObjectStore, *, lazy: bool = True, device: str | None = None
) -> object:
    """The value an encoding stands for; for "group" the dict name -> value.

    `lazy`: large numpy arrays (and large pickle buffers) are copy-on-write memory maps of the verified
    objects, so nothing is read until touched and writes never reach the store; Arrow files are memory
    mapped. `device`: where a torch tensor goes (default: cuda when available, else cpu).

    Every object is verified against its id before use (ObjectCorrupt names the object). Only call this for
    encodings from a manifest whose signature verified with this user's key: pickle, group and torch
    payloads execute code when loaded.
    """
    kind = encoded.kind
    if kind == "numpy":
        return _decode_numpy(encoded, store, lazy)
    if kind == "pandas":
        return _decode_pandas(encoded, store, lazy)
    if kind == "polars":
        return _decode_polars(encoded, store, lazy)
    if kind == "torch":
        return _decode_torch(encoded, store, device)
    if kind in ("pickle", "group"):
        return _decode_pickled(encoded, store, lazy)
    raise NbliftError(f"unknown encoding kind {kind!r} in the snapshot", hint="upgrade nblift")


# -- cheap fingerprints --------------------------------------------------------------------------------
def fingerprint_value(value: object) -> str | None:
    """A content fingerprint computed without pickling, for change detection; None when there is no cheap
    one (the caller then encodes). Covers plain-dtype numpy arrays, pandas frames/series whose columns and
    index are numpy-typed or Arrow-convertible (numbers, bools, datetimes, categoricals, strings, nullable
    dtypes) and polars frames/series. Equal for an unchanged value; differs when any element changes
    (a value with equal content but another memory layout may get another fingerprint: re-encoding it
    then stores nothing new)."""
    parts = _fingerprint_parts(value)
    if parts is None:
        return None
    header, buffers = parts
    hasher = new_hasher(sum(len(b) for b in buffers))
    hasher.update(canonical_json(header))
    for buffer in buffers:
        hasher.update(len(buffer).to_bytes(8, "little"))
        hasher.update(buffer)
    return hasher.hexdigest()


def _fingerprint_parts(value: object) -> tuple[list[Any], list[memoryview]] | None:
    if _plain_array(value):
        data, fortran = _array_bytes(value)
        return ["numpy", _descr_to_json(value.dtype), list(value.shape), fortran], [data]  # type: ignore[attr-defined]
    pandas_types = _pandas_types()
    if pandas_types is not None and type(value) in pandas_types:
        return _pandas_parts(value)
    pl = sys.modules.get("polars")
    if pl is not None and hasattr(pl, "DataFrame") and type(value) in (pl.DataFrame, pl.Series):
        return _polars_parts(value)
    return None


def _plain_labels(labels: Iterable[object]) -> list[Any] | None:
    """Labels as JSON (str, int, float, bool, None, or tuples of those), or None if any is something else."""
    out: list[Any] = []
    for label in labels:
        items = label if isinstance(label, tuple) else (label,)
        if not all(x is None or isinstance(x, str | int | float) for x in items):
            return None
        out.append(list(label) if isinstance(label, tuple) else label)
    return out


def _dtype_text(dtype: object) -> str:
    ordered = getattr(dtype, "ordered", None)
    return f"{dtype}[ordered={ordered}]" if ordered is not None else str(dtype)


def _values_parts(values: Any, dtype: Any) -> tuple[list[Any], list[memoryview]] | None:
    """Header and buffers of one column/index's values (`.array`, with the owner's `.dtype`): the numpy
    buffer, or the Arrow buffers of its Arrow form, else None (object values have no cheap fingerprint)."""
    import numpy as np

    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return None
    if isinstance(dtype, np.dtype):
        arr = np.asarray(values)
        if not _plain_array(arr):
            return None
        data, fortran = _array_bytes(arr)
        return [_dtype_text(dtype), list(arr.shape), fortran], [data]
    try:
        import pyarrow as pa

        with _quiet():
            header, buffers = _arrow_parts(pa.array(values))  # categoricals, tz datetimes, strings, nullables
    except Exception:  # noqa: BLE001 - no Arrow form (or no pyarrow): no cheap fingerprint
        return None
    return [_dtype_text(dtype), *header], buffers


def _arrow_parts(array: Any) -> tuple[list[Any], list[memoryview]]:
    """Header and buffers of a pyarrow Array/ChunkedArray (dictionaries included)."""
    chunks = getattr(array, "chunks", None)
    header: list[Any] = [str(array.type)]
    buffers: list[memoryview] = []
    for chunk in chunks if chunks is not None else [array]:
        header.append([chunk.offset, len(chunk), chunk.null_count])
        buffers += [memoryview(b) for b in chunk.buffers() if b is not None]
        dictionary = getattr(chunk, "dictionary", None)
        if dictionary is not None:
            sub_header, sub_buffers = _arrow_parts(dictionary)
            header.append(sub_header)
            buffers += sub_buffers
    return header, buffers


def _index_parts(index: Any) -> tuple[list[Any], list[memoryview]] | None:
    import pandas as pd

    names = _plain_labels(index.names)
    if names is None:
        return None
    if isinstance(index, pd.RangeIndex):
        return ["range", index.start, index.stop, index.step, names], []
    if isinstance(index, pd.MultiIndex):
        header: list[Any] = ["multi", names]
        buffers: list[memoryview] = []
        for part in [*index.levels, *index.codes]:
            sub = _index_parts(part) if isinstance(part, pd.Index) else _values_parts(part, part.dtype)
            if sub is None:
                return None
            header.append(sub[0])
            buffers += sub[1]
        return header, buffers
    sub = _values_parts(index.array, index.dtype)
    if sub is None:
        return None
    return [type(index).__name__, names, str(getattr(index, "freq", None)), *sub[0]], sub[1]


def _pandas_parts(value: Any) -> tuple[list[Any], list[memoryview]] | None:
    import pandas as pd

    if value.attrs:
        return None
    frame = isinstance(value, pd.DataFrame)
    labels = _plain_labels(value.columns) if frame else _plain_labels([value.name])
    column_names = _plain_labels(value.columns.names) if frame else []
    index = _index_parts(value.index)
    if labels is None or column_names is None or index is None:
        return None
    header: list[Any] = ["pandas", "frame" if frame else "series", labels, column_names, index[0]]
    buffers = list(index[1])
    columns = [value.iloc[:, i] for i in range(value.shape[1])] if frame else [value]
    for column in columns:
        sub = _values_parts(column.array, column.dtype)
        if sub is None:
            return None
        header.append(sub[0])
        buffers += sub[1]
    return header, buffers


def _polars_parts(value: Any) -> tuple[list[Any], list[memoryview]] | None:
    try:
        table = value.to_arrow()
    except Exception:  # noqa: BLE001 - Object columns and the like: no cheap fingerprint
        return None
    if hasattr(table, "columns"):
        header: list[Any] = ["polars", "frame", list(table.column_names)]
        buffers: list[memoryview] = []
        for column in table.columns:
            sub_header, sub_buffers = _arrow_parts(column)
            header.append(sub_header)
            buffers += sub_buffers
        return header, buffers
    sub_header, sub_buffers = _arrow_parts(table)
    return ["polars", "series", value.name, sub_header], sub_buffers
