"""The "pickle" and "group" encodings: pickle protocol 5, every out-of-band buffer its own object.

Serializers, in order: plain pickle; cloudpickle for what plain pickle refuses or pickles by reference to
`__main__` (notebook-defined functions and classes, lambdas); dill after that. Process-bound objects
(generators, locks, open files, sockets...) are refused by all three.

Notebook functions and the kernel's namespace: given `namespace` (the kernel's `user_ns`), a function
whose `__globals__ is namespace` is pickled with a persistent reference to "the namespace" in place of
its globals and without copies of the global values it reads (modules it uses excepted, by reference);
decoding with a namespace binds it to that live dict, so `def bump(): cfg['lr'] = 0.5` restored next to
`cfg` changes the restored `cfg`. Such an encoding records `meta["namespace"] = True` and cannot be
decoded without a namespace.

Notebook classes: cloudpickle names each dynamic class with a random "class tracker id" per process, so
one class pickled in two forked snapshot children would come back as two classes. Here the id is
derived from the class's module, qualname and `id()` (a forked child has the kernel's ids), so values of
one class stored in separate snapshots resolve to one class on restore, and an unchanged class pickles
to the same bytes every time.
"""

from __future__ import annotations

import copyreg
import functools
import io
import mmap
import pickle
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

import blake3

from ..errors import NbliftError
from ..store import ObjectStore
from .codec_base import (
    PICKLE_PROTOCOL,
    Encoded,
    EncodedLike,
    Unstorable,
    encoded,
    load_buffer,
    put,
    short,
    type_name,
)
from .codec_loaders import namespace_function, set_namespace_function_state
from .codec_numpy import ndarray_reduce, plain_array, readonly_reduce, view_reduce

_MAIN_REFERENCE = b"__main__"
_PROCESS_BOUND = ", which belongs to this process"
NAMESPACE_ID = "nblift:namespace"
_SERIALIZERS = ("pickle", "cloudpickle", "dill")
Bound = list[tuple[tuple[type, ...], str]]


def _process_bound() -> Bound:
    """Types that only make sense in this process, with what they are: refused even where dill or
    cloudpickle would 'pickle' them (dill copies locks, cloudpickle reads open text files into a payload)."""
    import _thread
    import io as io_module

    bound: Bound = [
        ((types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType), "a running generator"),
        ((types.FrameType, types.TracebackType), "a stack frame"),
        ((_thread.LockType, _thread.RLock), "a lock"),
        ((io_module.IOBase,), "an open file or stream"),
        ((mmap.mmap,), "a memory map"),
        ((threading.Thread,), "a thread"),
    ]
    if socket := sys.modules.get("socket"):
        bound.append(((socket.socket,), "a network socket"))
    if sqlite3 := sys.modules.get("sqlite3"):
        bound.append(((sqlite3.Connection, sqlite3.Cursor), "a database connection"))
    artist = getattr(sys.modules.get("matplotlib.artist"), "Artist", None)
    if isinstance(artist, type):
        # a figure can take seconds to pickle at every snapshot, and is a drawing, not data: re-run its cell
        bound.append(((artist,), "a matplotlib figure or part of one (re-run the cell that drew it)"))
    return bound


def _refuse_process_bound(obj: object, bound: Bound) -> None:
    import io as io_module

    if isinstance(obj, io_module.BytesIO | io_module.StringIO):
        return
    for kinds, what in bound:
        if isinstance(obj, kinds):
            raise TypeError(f"cannot pickle {type_name(obj)!r} object: it is {what}{_PROCESS_BOUND}")


def refuse_if_process_bound(obj: object) -> None:
    """Raise `Unstorable` when `obj` itself only makes sense in this process (or, like a figure, is
    never worth pickling at every snapshot), before any serializer spends time on it."""
    try:
        _refuse_process_bound(obj, _process_bound())
    except TypeError as exc:
        reason = str(exc)
        raise Unstorable(reason, reason.split(": ", 1)[-1].removesuffix(_PROCESS_BOUND)) from None


def process_bound(obj: object) -> bool:
    """Whether `obj` itself only makes sense in this process (its parts are never salvaged)."""
    try:
        _refuse_process_bound(obj, _process_bound())
    except TypeError:
        return True
    return False


def _track_class(cls: type) -> None:
    """Give a class cloudpickle will pickle by value a tracker id that is the same in the kernel and in
    every child forked from it (cloudpickle would draw a random one per process). A class already
    tracked (restored from a snapshot, or pickled before) keeps its id."""
    from cloudpickle import cloudpickle as cp

    by_class = getattr(cp, "_DYNAMIC_CLASS_TRACKER_BY_CLASS", None)
    by_id = getattr(cp, "_DYNAMIC_CLASS_TRACKER_BY_ID", None)
    lock = getattr(cp, "_DYNAMIC_CLASS_TRACKER_LOCK", None)
    by_reference = getattr(cp, "_should_pickle_by_reference", None)
    if by_class is None or by_id is None or lock is None or by_reference is None:
        return  # another cloudpickle: its own ids
    try:
        if cls in by_class or by_reference(cls):
            return
    except Exception:  # noqa: BLE001 - cloudpickle will say what is wrong with this class
        return
    seed = f"{getattr(cls, '__module__', '')}:{getattr(cls, '__qualname__', '')}:{id(cls)}"
    tracker = blake3.blake3(seed.encode()).hexdigest()[:32]
    with lock:
        if cls not in by_class and tracker not in by_id:
            by_class[cls] = tracker
            by_id[tracker] = cls


def _without_caches(reduced: Any) -> Any:
    """A class pickled by value, without `__slotnames__`: a cache copyreg adds to a class when one of its
    instances is first pickled, which would make the class's bytes depend on what was pickled before."""
    if isinstance(reduced, tuple) and len(reduced) == 6 and isinstance(reduced[2], tuple):
        state = reduced[2][0] if reduced[2] else None
        if isinstance(state, dict) and "__slotnames__" in state:
            state = {k: v for k, v in state.items() if k != "__slotnames__"}
            return (*reduced[:2], (state, *reduced[2][1:]), *reduced[3:])
    return reduced


@functools.cache
def _cloud_picklers() -> tuple[type, type]:
    """cloudpickle picklers (plain, and one that references the namespace), refusing process-bound objects
    anywhere in the graph and keeping read-only arrays read-only. (dill is imported only when it is the
    serializer tried: an environment without it still stores notebook classes and functions.)"""
    import cloudpickle

    class CloudPickler(cloudpickle.Pickler):  # type: ignore[misc, name-defined]
        nblift_bound: Bound = []
        nblift_namespace: dict[str, Any] | None = None
        nblift_used_namespace = False

        def reducer_override(self, obj: object) -> Any:
            _refuse_process_bound(obj, self.nblift_bound)
            if isinstance(obj, type):
                _track_class(obj)
                return _without_caches(super().reducer_override(obj))
            return view_reduce(obj) or readonly_reduce(obj) or super().reducer_override(obj)

        def _dynamic_function_reduce(self, func: types.FunctionType) -> Any:
            getstate = getattr(cloudpickle.cloudpickle, "_function_getstate", None)
            namespace = self.nblift_namespace
            if namespace is None or func.__globals__ is not namespace or getstate is None:
                return super()._dynamic_function_reduce(func)
            self.nblift_used_namespace = True
            code = func.__code__
            closure = None
            if func.__closure__ is not None:
                closure = tuple(types.CellType() for _ in code.co_freevars)
            attributes, slotstate = getstate(func)
            slotstate["__globals__"] = {  # modules by reference; every other global is the namespace's
                name: value
                for name, value in slotstate["__globals__"].items()
                if isinstance(value, types.ModuleType)
            }
            newargs = (code, func.__globals__, None, None, closure)
            state = (attributes, slotstate)
            return namespace_function, newargs, state, None, None, set_namespace_function_state

    class NamespaceCloudPickler(CloudPickler):
        def persistent_id(self, obj: object) -> str | None:
            if obj is self.nblift_namespace:
                self.nblift_used_namespace = True
                return NAMESPACE_ID
            return None

    return CloudPickler, NamespaceCloudPickler


@functools.cache
def _dill_pickler() -> type:
    """A dill pickler refusing process-bound objects and keeping arrays out of band."""
    import dill

    class DillPickler(dill.Pickler):  # type: ignore[misc, name-defined]
        nblift_bound: Bound = []

        def reducer_override(self, obj: object) -> Any:
            _refuse_process_bound(obj, self.nblift_bound)
            if plain_array(obj) and type(obj) is sys.modules["numpy"].ndarray:
                # dill would pickle arrays in-band; numpy's own protocol-5 reduce keeps them out-of-band
                return view_reduce(obj) or readonly_reduce(obj) or obj.__reduce_ex__(PICKLE_PROTOCOL)
            return readonly_reduce(obj) or NotImplemented

    return DillPickler


def _plain_dump(value: object, on_buffer: Callable[[pickle.PickleBuffer], None]) -> bytes:
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=PICKLE_PROTOCOL, buffer_callback=on_buffer)
    np = sys.modules.get("numpy")
    if np is not None and hasattr(np, "ndarray"):
        pickler.dispatch_table = {**copyreg.dispatch_table, np.ndarray: ndarray_reduce}
    pickler.dump(value)
    return out.getvalue()


def _dump_with(
    name: str,
    value: object,
    on_buffer: Callable[[pickle.PickleBuffer], None],
    namespace: dict[str, Any] | None,
) -> tuple[bytes, bool]:
    """(bytes, whether they reference the namespace) from one serializer."""
    if name == "pickle":
        return _plain_dump(value, on_buffer), False
    if name == "dill":
        kind = _dill_pickler()
    else:
        cloud, cloud_ns = _cloud_picklers()
        kind = cloud if namespace is None else cloud_ns
    out = io.BytesIO()
    pickler = kind(out, protocol=PICKLE_PROTOCOL, buffer_callback=on_buffer)
    pickler.nblift_bound = _process_bound()
    if name == "cloudpickle":
        pickler.nblift_namespace = namespace
    pickler.dump(value)
    return out.getvalue(), bool(getattr(pickler, "nblift_used_namespace", False))


Pickled = tuple[str, bytes, list[pickle.PickleBuffer], bool]


def pickled(value: object, namespace: dict[str, Any] | None = None) -> Pickled:
    """(serializer, main bytes, out-of-band buffers, references the namespace) from the first serializer
    that can store `value`; raises Unstorable with every serializer's reason.

    Plain pickle output that refers to `__main__` (a function or class defined in the notebook, pickled by
    name) would not load in a fresh kernel: cloudpickle stores those by value instead, and the plain
    result is kept only if nothing else works.
    """
    failures: dict[str, list[str]] = {}  # message -> serializers that failed with it
    by_name: Pickled | None = None
    for name in _SERIALIZERS:
        buffers: list[pickle.PickleBuffer] = []
        try:
            main, uses_namespace = _dump_with(name, value, buffers.append, namespace)
        except Exception as exc:  # noqa: BLE001 - any failure of one serializer means: try the next
            failures.setdefault(f"{type(exc).__name__}: {short(str(exc))}", []).append(name)
            continue
        if name == "pickle" and _MAIN_REFERENCE in main:
            by_name = (name, main, buffers, uses_namespace)
            continue
        return name, main, buffers, uses_namespace
    if by_name is not None:
        return by_name
    messages = [message.split(": ", 1)[-1] for message in failures]
    ours = [m for m in messages if m.endswith(_PROCESS_BOUND)]
    detail = "; ".join(f"{', '.join(names)}: {message}" for message, names in failures.items())
    headline = (ours or messages)[0]
    raise Unstorable(f"{headline} ({detail})", headline.removesuffix(_PROCESS_BOUND))


def _buffer_bytes(buffer: pickle.PickleBuffer) -> memoryview:
    try:
        return buffer.raw()
    except BufferError:  # not contiguous: store a C-ordered copy
        return memoryview(memoryview(buffer).tobytes())


def store_pickled(
    value: object, result: Pickled, store: ObjectStore, kind: str, meta: dict[str, Any]
) -> Encoded:
    """Store what `pickled` gave: the main bytes first, then each buffer."""
    serializer, main, buffers, uses_namespace = result
    parts = [put(store, main)]
    parts += [put(store, _buffer_bytes(b)) for b in buffers]
    meta = {**meta, "serializer": serializer, "buffers": len(buffers)}
    if uses_namespace:
        meta["namespace"] = True
    return encoded(value, kind, parts, meta)


class _Unpickler(pickle.Unpickler):
    """Plain unpickling (what cloudpickle's output needs) that resolves the namespace reference."""

    def __init__(self, data: bytes, buffers: list[Any], namespace: dict[str, Any] | None) -> None:
        super().__init__(io.BytesIO(data), buffers=buffers)
        self.nblift_namespace = namespace

    def persistent_load(self, pid: Any) -> Any:
        if pid != NAMESPACE_ID:
            raise pickle.UnpicklingError(f"unknown persistent reference {pid!r} in the snapshot")
        if self.nblift_namespace is None:
            raise _needs_namespace()
        return self.nblift_namespace


def _needs_namespace() -> NbliftError:
    return NbliftError(
        "this value holds notebook functions bound to the kernel's namespace: it can only be decoded "
        "into a namespace",
        hint="restore it into a kernel (`%lift restore`), or pass `namespace=` to `decode`",
    )


def decode_pickled(enc: EncodedLike, store: ObjectStore, lazy: bool, namespace: dict[str, Any] | None) -> Any:
    serializer = str(enc.meta.get("serializer", "pickle"))
    if serializer not in _SERIALIZERS:
        raise NbliftError(f"unknown serializer {serializer!r} in the snapshot", hint="upgrade nblift")
    if int(enc.meta.get("buffers", len(enc.objects) - 1)) != len(enc.objects) - 1:
        raise NbliftError("the snapshot lists the wrong number of pickle buffers", hint="run `nblift fsck`")
    if enc.meta.get("namespace") and namespace is None:
        raise _needs_namespace()
    main = store.get_bytes(enc.objects[0])
    buffers = [load_buffer(store, oid, lazy) for oid in enc.objects[1:]]
    if serializer == "dill":
        import dill

        return dill.loads(main, buffers=buffers)  # noqa: S301 - only for signed manifests (codec.py)
    if serializer == "cloudpickle":
        import cloudpickle  # noqa: F401 - what its payloads refer to

    return _Unpickler(main, buffers, namespace).load()
