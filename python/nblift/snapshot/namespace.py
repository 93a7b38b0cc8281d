"""What a snapshot holds of a kernel: the user's variables, the state of the notebook's own modules, and
which values are provably unchanged between two snapshots.

A cell can change any object it can reach, not only the names written in its source: a function it calls
mutates a global dict, a thread appends to a list after the cell ended, `exec` or `globals()[...]` rebinds
a name, a local module's cache fills up. So a snapshot re-examines every variable except those that cannot
have changed: an immutable value (numbers, strings, bytes, tuples and frozensets of those) still bound to
the very same object. Sameness is checked with `is` against a reference the kernel holds (so an id can not
be reused by another object in the meantime). Everything else is fingerprinted again (arrays and frames by
hashing their buffers, other values by re-pickling); content addressing makes an unchanged value cost no
new bytes.

The notebook's own modules (files inside the project, imported by the notebook) are part of the state:
their module-level values are stored as `module.name` entries and set back on the re-imported module.
"""

from __future__ import annotations

import datetime
import decimal
import fractions
import functools
import importlib
import os
import sys
import types
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

IPYTHON_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython", "open"})

#: Exact types whose values can never change (subclasses may add mutable attributes: not included).
_IMMUTABLE_ATOMS = frozenset(
    {
        type(None),
        bool,
        int,
        float,
        complex,
        str,
        bytes,
        range,
        type(Ellipsis),
        datetime.date,
        datetime.datetime,
        datetime.time,
        datetime.timedelta,
        decimal.Decimal,
        fractions.Fraction,
        uuid.UUID,
    }
)
_MAX_IMMUTABLE_ITEMS = 1000


def user_variables(user_ns: Mapping[str, Any], hidden: Iterable[str] = ()) -> dict[str, Any]:
    """The variables a user made: not modules, not IPython's own (`_`, `_i*`, `In`, `Out`), not hidden."""
    hidden_set = set(hidden)
    return {
        name: value
        for name, value in user_ns.items()
        if not name.startswith("_")
        and name not in IPYTHON_NAMES
        and name not in hidden_set
        and not isinstance(value, types.ModuleType)
    }


def is_immutable(value: object) -> bool:
    """Whether `value` can never change: an immutable atom, or a tuple/frozenset of them (nested, bounded).

    False is always safe (the value is then re-examined at every snapshot)."""
    budget = [_MAX_IMMUTABLE_ITEMS]
    return _immutable(value, budget, 4)


def _immutable(value: object, budget: list[int], depth: int) -> bool:
    tp = type(value)
    if tp in _IMMUTABLE_ATOMS:
        return True
    if (tp is not tuple and tp is not frozenset) or depth == 0:
        return False
    items: tuple[object, ...] | frozenset[object] = value  # type: ignore[assignment]
    budget[0] -= len(items)
    if budget[0] < 0:
        return False
    return all(_immutable(item, budget, depth - 1) for item in items)


# -- the notebook's own modules ------------------------------------------------------------------------
@functools.cache
def _library_roots() -> tuple[str, ...]:
    import site
    import sysconfig

    roots = {sys.prefix, sys.base_prefix, sysconfig.get_paths().get("purelib", "")}
    roots |= set(getattr(site, "getsitepackages", list)())
    return tuple(str(Path(r).resolve()) for r in roots if r)


def _roots(project_root: Path) -> tuple[str, ...]:
    """The project folder as written and as resolved (a module's `__file__` may use either)."""
    written = os.path.abspath(project_root)  # noqa: PTH100 - no system call for an absolute path
    try:
        resolved = str(project_root.resolve())
    except OSError:
        resolved = written
    return tuple({written + os.sep, resolved + os.sep})


@functools.lru_cache(maxsize=16384)
def _is_local(path: str, roots: tuple[str, ...]) -> bool:
    """Whether a module file is the project's own: string checks only, no system call (a snapshot looks
    at every module each time, and with a busy thread in the kernel each call would wait for the GIL),
    remembered per file."""
    path = os.path.abspath(path)  # noqa: PTH100 - string work only, see above
    if not path.startswith(roots) or "site-packages" in path:
        return False
    return not any(path.startswith(lib + os.sep) for lib in _library_roots())


def local_modules(project_root: Path) -> dict[str, types.ModuleType]:
    """Modules imported from files inside the project (not from an environment kept there), by name."""
    roots = _roots(project_root)
    found: dict[str, types.ModuleType] = {}
    for name, module in list(sys.modules.items()):
        key = (id(module), roots)
        local = _seen.get(name)
        if local is None or local[0] != key:
            path = getattr(module, "__file__", None)
            # `__main__` and `%run`'s `__mp_main__` are the notebook itself, not one of its modules
            ours = isinstance(path, str) and not name.startswith(("__", "nblift")) and _is_local(path, roots)
            local = _seen[name] = (key, ours)
        if not local[1]:
            continue
        if getattr(getattr(module, "__spec__", None), "_initializing", False):
            continue  # half-imported by another thread: its data is not there yet
        found[name] = module
    return found


#: name -> ((id of the module, project roots), whether it is a local module): looked at once per module.
_seen: dict[str, tuple[tuple[int, tuple[str, ...]], bool]] = {}


def _module_values(module: types.ModuleType) -> dict[str, Any]:
    """A module's data: what re-importing it would not bring back as it is now (not its code)."""
    out = {}
    for attr, value in vars(module).items():
        if attr.startswith("__") or isinstance(value, types.ModuleType):
            continue
        if isinstance(value, type | types.FunctionType) and getattr(value, "__module__", None) == (
            module.__name__
        ):
            continue  # defined by the module's code: the import re-creates it
        out[attr] = value
    return out


def module_state(project_root: Path) -> dict[str, Any]:
    """`module.name` -> value for the data of every local module (see `local_modules`)."""
    state: dict[str, Any] = {}
    for mod_name, module in sorted(local_modules(project_root).items()):
        for attr, value in _module_values(module).items():
            state[f"{mod_name}.{attr}"] = value
    return state


def split_module_key(key: str) -> tuple[str, str] | None:
    """(module, attribute) for a `module.name` entry; None for a plain variable name."""
    if "." not in key:
        return None
    module, _, attr = key.rpartition(".")
    return module, attr


def put_back(user_ns: dict[str, Any], values: Mapping[str, Any]) -> dict[str, str]:
    """Set restored values: plain names into the namespace, `module.name` onto the (re-)imported module.

    Returns the entries that could not be set, with the reason."""
    failed: dict[str, str] = {}
    plain = {k: v for k, v in values.items() if split_module_key(k) is None}
    for key, value in values.items():
        parts = split_module_key(key)
        if parts is None:
            continue
        try:
            module = importlib.import_module(parts[0])
        except Exception as exc:  # noqa: BLE001 - one module that no longer imports never stops the rest
            failed[key] = f"cannot import {parts[0]} to set it back ({type(exc).__name__}: {exc})"
            continue
        setattr(module, parts[1], value)
    user_ns.update(plain)
    return failed
