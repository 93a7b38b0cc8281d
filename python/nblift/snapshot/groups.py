"""Co-variable groups: variables whose object graphs share a mutable object are stored together.

Pickling two variables separately turns one shared object into two copies on restore (`b = a` comes back
as two lists; `x = [arr]; y = arr` as two arrays), so, as Kishu does, the snapshot pickles such variables in
one payload. Sharing is found by walking each variable's object graph with `gc.get_referents` and recording
the ids of the mutable objects it reaches; variables that reach a common id are grouped (union-find).

The walk is cheap because it skips what cannot carry user state that pickle would split: atoms (numbers,
strings, bytes), modules, library functions, classes, code, frames, numpy dtypes and scalars, enum
members, loggers and similar shared singletons. Those pickle by reference (or are immutable), so two
unrelated variables that both hold `np`, `np.float64` or `print` stay apart. Arrays and data frames are
leaves: their id is recorded, never their elements (an object array of a million strings is not walked).

Two kinds of callables do carry state and are followed: a bound method shares the object it is bound to
(`f = acc.items.append` groups `f` with `acc`), and a function defined in the notebook (pickled by value)
shares what its defaults, closure cells and attributes hold (`g = lambda d=cfg: ...` groups `g` with `cfg`).
Its globals are not followed: they are the kernel's namespace, restored as the live namespace.
"""

from __future__ import annotations

import _thread
import datetime
import decimal
import enum
import fractions
import gc
import io
import sys
import threading
import types
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import InvalidInput

#: Put in the result of `reachable_ids` when the walk stopped at its limit: the ids found are real sharing,
#: but sharing beyond the limit was not looked for. Object ids are never negative, so it cannot collide.
TRUNCATED = -1

_SKIP, _LEAF, _IMMUTABLE, _WALK, _METHOD, _FUNCTION = range(6)

# Values that hold no mutable state (identity never matters, pickle never splits anything through them).
_ATOMS: tuple[type, ...] = (
    type(None),
    bool,
    int,
    float,
    complex,
    str,
    bytes,
    range,
    slice,
    type(Ellipsis),
    type(NotImplemented),
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.tzinfo,
    decimal.Decimal,
    fractions.Fraction,
    uuid.UUID,
)
# Shared by reference (pickled by name) or process-bound: never walked, never recorded.
_BY_REFERENCE: tuple[type, ...] = (
    type,
    types.ModuleType,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.MethodWrapperType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.ClassMethodDescriptorType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    types.CodeType,
    types.FrameType,
    types.TracebackType,
    types.CellType,
    property,
    staticmethod,
    classmethod,
    enum.Enum,
    # Process-bound: never stored, and their referents lead into the kernel itself (a thread holds
    # `sys.stderr`, whose stream leads to the shell and every variable). Walking them would glue every
    # variable to an unstorable one.
    io.IOBase,
    threading.Thread,
    _thread.LockType,
    _thread.RLock,
)


@dataclass(frozen=True)
class _Libraries:
    """Types of the heavy libraries the user imported (a library never imported cannot have made a value)."""

    leaves: tuple[type, ...]
    skipped: tuple[type, ...]
    ndarray: type | None
    tensor: type | None

    @classmethod
    def detect(cls) -> _Libraries:
        leaves: list[type] = []
        skipped: list[type] = []
        for finder in (
            _numpy_types,
            _pandas_types,
            _polars_types,
            _arrow_types,
            _torch_types,
            _matplotlib_types,
            _logging_types,
        ):
            try:
                found_leaves, found_skipped = finder()
            except AttributeError:  # a library half-way through its import: none of its values exist yet
                continue
            leaves += found_leaves
            skipped += found_skipped
        np = sys.modules.get("numpy")
        torch = sys.modules.get("torch")
        return cls(
            tuple(leaves), tuple(skipped), getattr(np, "ndarray", None), getattr(torch, "Tensor", None)
        )


_Types = tuple[list[type], list[type]]


def _numpy_types() -> _Types:
    np = sys.modules.get("numpy")
    return ([np.ndarray], [np.dtype, np.generic, np.ufunc]) if np is not None else ([], [])


def _pandas_types() -> _Types:
    pd = sys.modules.get("pandas")
    if pd is None:
        return [], []
    leaves = [pd.DataFrame, pd.Series, pd.Index]
    return leaves, [pd.api.extensions.ExtensionDtype, type(pd.NA), type(pd.NaT), pd.Timestamp, pd.Timedelta]


def _polars_types() -> _Types:
    pl = sys.modules.get("polars")
    return ([pl.DataFrame, pl.Series, pl.LazyFrame], [pl.DataType]) if pl is not None else ([], [])


def _arrow_types() -> _Types:
    pa = sys.modules.get("pyarrow")
    if pa is None:
        return [], []
    leaves = [pa.Table, pa.RecordBatch, pa.Array, pa.ChunkedArray, pa.Buffer, pa.Scalar]
    return leaves, [pa.DataType, pa.Schema, pa.Field]


def _torch_types() -> _Types:
    torch = sys.modules.get("torch")
    return ([torch.Tensor], [torch.dtype, torch.device]) if torch is not None else ([], [])


def _matplotlib_types() -> _Types:
    artist = getattr(sys.modules.get("matplotlib.artist"), "Artist", None)  # never stored: see codec
    return ([], [artist]) if isinstance(artist, type) else ([], [])


def _logging_types() -> _Types:
    logging = sys.modules.get("logging")  # loggers are pickled by name: shared, never copied
    return ([], [logging.Logger, logging.PlaceHolder]) if logging is not None else ([], [])


def _classify(tp: type, libs: _Libraries) -> int:
    if tp is types.MethodType or tp is types.BuiltinMethodType:
        return _METHOD
    if tp is types.FunctionType:
        return _FUNCTION
    if issubclass(tp, _ATOMS) or issubclass(tp, _BY_REFERENCE) or issubclass(tp, libs.skipped):
        return _SKIP
    if issubclass(tp, libs.leaves):
        return _LEAF
    if issubclass(tp, tuple | frozenset):
        return _IMMUTABLE
    return _WALK


def _leaf_ids(obj: object, libs: _Libraries) -> list[int]:
    """Ids that stand for a leaf's memory: its own, plus for an array view the array that owns the buffer
    (so views of one buffer group together), plus for a tensor its storage."""
    ids = [id(obj)]
    if libs.ndarray is not None and isinstance(obj, libs.ndarray):
        base = obj.base
        owner = None
        while isinstance(base, libs.ndarray):
            owner = base
            base = base.base
        if owner is not None:
            ids.append(id(owner))
        if isinstance(base, memoryview):  # np.frombuffer(x): the memoryview is new each time, x is not
            base = base.obj
        if base is not None and not isinstance(base, bytes):  # a bytearray, mmap or other exporter
            ids.append(id(base))
    elif libs.tensor is not None and isinstance(obj, libs.tensor):
        ids.append(_storage_key(obj))
    return ids


def _storage_key(tensor: object) -> int:
    """A negative pseudo-id for a tensor's storage (device + data pointer), below TRUNCATED."""
    try:
        storage = tensor.untyped_storage()  # type: ignore[attr-defined]
        key = hash((str(tensor.device), storage.data_ptr()))  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - a tensor without storage (meta, sparse) shares nothing we can see
        return id(tensor)
    return -2 - (key & ((1 << 62) - 1))


def reachable_ids(value: object, *, limit: int = 100_000) -> frozenset[int]:
    """Ids of the mutable objects reachable from `value` (itself included), walking iteratively.

    `limit` bounds the work: it counts every referent looked at. When it is reached the walk stops and
    the result also holds `TRUNCATED`: the ids in it are real (sharing through them is real), but sharing
    deeper in the graph was not searched. A container whose referents alone exceed what is left is not
    entered at all. Immutable containers (tuples, frozensets) are walked but not recorded.
    """
    libs = _Libraries.detect()
    kinds: dict[type, int] = {}
    skip: set[type] = {t for t in (type(None), bool, int, float, str, bytes)}
    found: set[int] = set()
    seen: set[int] = _kernel_ids()
    stack = [value]
    budget = limit
    while stack:
        obj = stack.pop()
        oid = id(obj)
        if oid in seen:
            continue
        seen.add(oid)
        tp = type(obj)
        kind = kinds.get(tp)
        if kind is None:
            kind = kinds[tp] = _classify(tp, libs)
            if kind == _SKIP:
                skip.add(tp)
        if kind == _SKIP:
            continue
        if kind == _METHOD:  # `f = acc.items.append`: what the method is bound to is what it shares
            owner = getattr(obj, "__self__", None)
            if owner is not None and not isinstance(owner, types.ModuleType | type):
                stack.append(owner)
            continue
        if kind == _FUNCTION:
            if _by_value(obj):
                found.add(oid)
                stack.extend(_function_state(obj))
            continue
        if kind == _LEAF:
            found.update(_leaf_ids(obj, libs))
            continue
        if kind == _WALK:
            found.add(oid)
        size = _referent_count(obj)
        if size > budget:
            found.add(TRUNCATED)
            break
        referents = gc.get_referents(obj)
        budget -= len(referents)
        if budget < 0:
            found.add(TRUNCATED)
            break
        stack.extend([r for r in referents if type(r) not in skip and id(r) not in seen])
    return frozenset(found)


def _by_value(func: types.FunctionType) -> bool:
    """A function defined in the notebook: pickled by value, so what it holds is copied."""
    return func.__module__ in (None, "__main__") or func.__globals__.get("__name__") == "__main__"


def _function_state(func: types.FunctionType) -> list[object]:
    """What a notebook function holds besides its code and globals: defaults, closure cells, attributes
    (`lambda d=cfg: ...` shares `cfg`; a closure shares the objects its cells hold)."""
    held: list[object] = [*(func.__defaults__ or ()), *(func.__kwdefaults__ or {}).values()]
    for cell in func.__closure__ or ():
        try:
            held.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    held.extend(func.__dict__.values())
    return held


def _kernel_ids() -> set[int]:
    """Ids never walked into: the kernel's namespace itself (reached through a function's globals or a
    frame), so that it never glues every variable together."""
    main = sys.modules.get("__main__")
    return {id(vars(main))} if main is not None else set()


def _referent_count(obj: object) -> int:
    """A cheap upper-bound guess of how many referents `obj` has (its length for builtin containers)."""
    if isinstance(obj, list | tuple | set | frozenset):
        return len(obj)
    if isinstance(obj, dict):
        return 2 * len(obj)
    return 0


def _root_ids(value: object, limit: int) -> frozenset[int]:
    """`reachable_ids` plus the value's own id unless it is an atom: two names bound to one object (even a
    function or a tuple) are aliases and stay together; `a = 1; b = 1` share nothing."""
    ids = reachable_ids(value, limit=limit)
    if isinstance(value, _ATOMS):
        return ids
    return ids | {id(value)}


class _UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def group_variables(
    namespace: Mapping[str, object], names: Iterable[str], *, limit: int = 100_000
) -> list[list[str]]:
    """Partition `names` into groups that must be stored together; each group sorted, groups by first name.

    Two names are in one group when their values reach a common mutable object (see `reachable_ids`) or are
    the same object. A variable whose walk hit `limit` is grouped by what was found (TRUNCATED itself joins
    nothing): sharing further down its graph is not detected, and comes back as copies.
    """
    ordered = sorted(set(names))
    missing = [n for n in ordered if n not in namespace]
    if missing:
        raise InvalidInput(
            f"cannot group {', '.join(missing)}: not in the namespace",
            hint="pass names of existing variables",
        )
    sets = _UnionFind(len(ordered))
    owner: dict[int, int] = {}
    for index, name in enumerate(ordered):
        for oid in _root_ids(namespace[name], limit):
            if oid == TRUNCATED:
                continue
            first = owner.setdefault(oid, index)
            if first != index:
                sets.union(first, index)
    groups: dict[int, list[str]] = {}
    for index, name in enumerate(ordered):
        groups.setdefault(sets.find(index), []).append(name)
    return sorted(groups.values(), key=lambda g: g[0])
