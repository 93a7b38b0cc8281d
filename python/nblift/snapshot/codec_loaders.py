"""Functions and classes that stored pickles refer to by name: `nblift.snapshot.codec_loaders.<name>`.

A snapshot taken today is loaded by later versions of nblift, so nothing here may be renamed, moved or
change its arguments. No heavy library is imported at module level.
"""

from __future__ import annotations

import types
from typing import Any


class LeftOut:
    """Stands where a snapshot left out one part of a value it could not store (a generator, a lock...).

    `reason` says what the part was; the value around it was restored.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<left out of the snapshot: {self.reason}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LeftOut) and other.reason == self.reason

    def __hash__(self) -> int:
        return hash(("LeftOut", self.reason))

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return LeftOut, (self.reason,)


def new_object(cls: type, *args: Any) -> Any:
    """`copyreg.__newobj__` under another name: pickle refuses `__newobj__` for a stand-in object."""
    return cls.__new__(cls, *args)


def new_object_ex(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """`copyreg.__newobj_ex__` under another name (see `new_object`)."""
    return cls.__new__(cls, *args, **kwargs)


def array_view(
    owner: Any, offset: int, shape: tuple[int, ...], strides: tuple[int, ...], dtype: Any, writeable: bool
) -> Any:
    """A numpy view of `owner` (stored in the same snapshot group), as it was: same offset and strides."""
    import numpy as np

    view = np.ndarray(shape, dtype=dtype, buffer=owner, offset=offset, strides=strides)
    if not writeable:
        view.flags.writeable = False
    return view


def readonly_array(arr: Any) -> Any:
    """An array pickled from a read-only one: read-only again (numpy's in-band pickles lose the flag)."""
    arr.flags.writeable = False
    return arr


def namespace_function(
    code: types.CodeType,
    namespace: dict[str, Any],
    name: str | None,
    argdefs: tuple[Any, ...] | None,
    closure: tuple[types.CellType, ...] | None,
) -> types.FunctionType:
    """A notebook function rebuilt with the kernel's live namespace as its globals (not a copy)."""
    return types.FunctionType(code, namespace, name, argdefs, closure)


def set_namespace_function_state(func: types.FunctionType, state: tuple[dict, dict]) -> None:
    """The state setter of `namespace_function` (cloudpickle's `_function_setstate`, except that the live
    namespace is never overwritten: modules the function used are added only where the name is free)."""
    attributes, slotstate = state
    func.__dict__.update(attributes)
    modules = slotstate.pop("__globals__")
    closure = slotstate.pop("__closure__")
    slotstate.pop("_cloudpickle_submodules", None)
    for name, module in modules.items():
        func.__globals__.setdefault(name, module)
    if closure is not None and func.__closure__ is not None:
        for cell, target in zip(closure, func.__closure__, strict=True):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            target.cell_contents = value
    for key, value in slotstate.items():
        setattr(func, key, value)
