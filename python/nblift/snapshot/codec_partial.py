"""Storing a value without the parts of it that no serializer can store.

When every serializer refuses a value, `prune` rebuilds it with each unstorable part replaced by a
`LeftOut` placeholder, looking only at the first levels: dict values, list and tuple items, an object's
state (its `__dict__`, slots, and the items of dict/list subclasses), so a DataFrame's `attrs` values
too. Each replaced part is reported as `path: reason` (`attrs['design']: cannot pickle 'generator'
object: it is a running generator`). A value of which nothing can be stored stays unstorable.

Shared objects stay shared: an object reached twice is rebuilt once.
"""

from __future__ import annotations

import copyreg
import types
from collections.abc import Callable
from typing import Any

from .codec_base import PICKLE_PROTOCOL
from .codec_loaders import LeftOut, new_object, new_object_ex

#: containers with more items than this are not looked into (checking each item costs a pickle)
MAX_CHILDREN = 10_000
_LABEL_MAX = 60
#: says why an object cannot be stored, or None when it can
Check = Callable[[object], str | None]
#: pickle checks that `__newobj__`'s class is the pickled object's: a stand-in gets these equivalents
_STAND_IN_FUNCS: dict[Any, Any] = {copyreg.__newobj__: new_object, copyreg.__newobj_ex__: new_object_ex}
_OPAQUE = (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType, types.MethodType)


class _Rebuilt:
    """Pickles as `reduce`, a reduce tuple of the original object with its state pruned: what loads is an
    object of the original's class."""

    __slots__ = ("reduce",)

    def __init__(self) -> None:
        self.reduce: tuple[Any, ...] = ()

    def __reduce_ex__(self, protocol: object) -> tuple[Any, ...]:
        func, args, state, listitems, dictitems, setter = self.reduce
        # fresh iterators each time: every serializer that is tried consumes them
        lists = None if listitems is None else iter(listitems)
        dicts = None if dictitems is None else iter(dictitems)
        return func, args, state, lists, dicts, setter


def _label(key: object) -> str:
    text = repr(key)
    return text if len(text) <= _LABEL_MAX else text[: _LABEL_MAX - 3] + "..."


def _join(path: str, step: str) -> str:
    return step.removeprefix(".") if not path else path + step


class _Pruner:
    def __init__(self, check: Check, depth: int, keep_top: bool) -> None:
        self.check = check
        self.depth = depth
        self.keep_top = keep_top
        self.memo: dict[int, tuple[object, object]] = {}
        self.dropped: list[str] = []
        self.kept = 0
        self.failed = False

    def child(self, obj: object, path: str, level: int) -> object:
        """`obj` itself when it stores, else a rebuilt copy without its bad parts, else a LeftOut."""
        if id(obj) in self.memo:
            return self.memo[id(obj)][1]
        reason = self.check(obj)
        if reason is None:
            self.kept += 1
            return obj
        if level < self.depth:
            rebuilt = self.container(obj, path, level)
            if rebuilt is not None:
                return rebuilt
        if level == 1 and self.keep_top:
            self.failed = True  # a whole variable of a group: the group is unstorable, as before
        self.dropped.append(f"{path}: {reason}")
        return LeftOut(reason)

    def container(self, obj: object, path: str, level: int) -> object | None:
        """`obj` rebuilt with its children pruned (children are at `level + 1`); None if it is no
        container this looks into."""
        cls = type(obj)
        if cls is dict:
            assert isinstance(obj, dict)
            if len(obj) > MAX_CHILDREN:
                return None
            new: dict[Any, Any] = {}
            self.memo[id(obj)] = (obj, new)
            for key, value in obj.items():
                step = key if level == 0 and self.keep_top else f"[{_label(key)}]"
                new[key] = self.child(value, _join(path, str(step)), level + 1)
            return new
        if cls is list or cls is tuple:
            assert isinstance(obj, list | tuple)
            if len(obj) > MAX_CHILDREN:
                return None
            items: list[Any] = []
            if cls is list:
                self.memo[id(obj)] = (obj, items)
            for i, value in enumerate(obj):
                items.append(self.child(value, f"{path}[{i}]", level + 1))
            if cls is list:
                return items
            rebuilt = tuple(items)
            self.memo[id(obj)] = (obj, rebuilt)
            return rebuilt
        return self._object(obj, path, level)

    def _object(self, obj: object, path: str, level: int) -> object | None:
        if isinstance(obj, _OPAQUE):
            return None
        try:
            reduced = obj.__reduce_ex__(PICKLE_PROTOCOL)
        except Exception:  # noqa: BLE001 - what refuses to reduce has no parts to keep
            return None
        if not isinstance(reduced, tuple) or not 3 <= len(reduced) <= 6:
            return None
        func, args, state, listitems, dictitems, setter = (*reduced, None, None, None)[:6]
        func = _STAND_IN_FUNCS.get(func, func)
        listitems = None if listitems is None else list(listitems)
        dictitems = None if dictitems is None else list(dictitems)
        if sum(len(x) for x in (listitems or [], dictitems or [])) > MAX_CHILDREN:
            return None
        stand_in = _Rebuilt()
        self.memo[id(obj)] = (obj, stand_in)
        state = self._state(state, path, level)
        if listitems is not None:
            listitems = [self.child(v, f"{path}[{i}]", level + 1) for i, v in enumerate(listitems)]
        if dictitems is not None:
            dictitems = [(k, self.child(v, f"{path}[{_label(k)}]", level + 1)) for k, v in dictitems]
        stand_in.reduce = (func, args, state, listitems, dictitems, setter)
        return stand_in

    def _state(self, state: object, path: str, level: int) -> object:
        """An object's state with the values of its `__dict__` (and slots) pruned."""

        def attributes(values: object) -> object:
            if type(values) is not dict or len(values) > MAX_CHILDREN:
                return values
            return {k: self.child(v, _join(path, f".{k}"), level + 1) for k, v in values.items()}

        if type(state) is tuple and len(state) == 2:
            return (attributes(state[0]), attributes(state[1]))
        return attributes(state)


def prune(
    value: object, check: Check, *, depth: int = 2, group: bool = False
) -> tuple[object, list[str]] | None:
    """`value` rebuilt without its unstorable parts (down to `depth` levels) and what was left out, or
    None when nothing of it would be kept. `group`: `value` is a dict name -> variable; the variables
    are pruned (to `depth` levels each) but never left out whole."""
    pruner = _Pruner(check, depth + 1 if group else depth, keep_top=group)
    rebuilt = pruner.container(value, "", 0)
    if rebuilt is None or pruner.failed or not pruner.dropped or pruner.kept == 0:
        return None
    return rebuilt, pruner.dropped
