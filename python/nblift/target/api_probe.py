"""`python -m nblift.target.api_probe < checks.json`: whether the APIs a notebook uses exist here.

Preflight's API check (`nblift.environment.api_check`) runs this module with an environment's own python, once
for the kernel's side and once for the target's, and compares the answers. It reads a JSON list of checks on
stdin and prints one JSON object: this Python's version and, per check, `ok`, `missing` or `unresolved` (the
module or type could not be imported here: never reported as a removal), the library's message, the
distribution that provides the module and its version here, and any deprecation note the library attaches
to what it found. Each check names its `probe`:

- `attr`: `{"module": "numpy", "attrs": ["infty"]}`: the attribute chain from an imported module;
- `method`: `{"type": "pandas.DataFrame", "name": "append"}`: an attribute of a type (`getattr(type, name)`);
- `choice`: `{"list": "matplotlib.style.available", "value": "seaborn", "aliases": [...]}`: a string among
  the names a library lists (or among the old names it still maps to new ones: `aliases`);
- `parse`: `{"function": "pandas.tseries.frequencies.to_offset", "value": "H"}`: a string the library's own
  parser accepts.

Only the standard library is imported at module level: the target environment need not have nblift installed,
and the file runs by its path too. Deprecation notes come from warnings raised while resolving a name and from
the `.. deprecated::` block of the object's docstring, which is where pandas 1.x and numpy 1.x say what to use
instead of what they later removed.
"""

from __future__ import annotations

import sys
from pathlib import Path

if (
    __name__ == "__main__"
    and sys.path
    and Path(sys.path[0] or ".").resolve() == Path(__file__).parent.resolve()
):
    del sys.path[0]  # run by its path: the modules beside it must not shadow the environment's own

import contextlib
import difflib
import importlib
import importlib.metadata
import json
import re
import types
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

_MISSING = object()
_ROLE = re.compile(r":[a-z:]+:`~?([^`]+)`")
_DOUBLE_TICKS = re.compile(r"``([^`]+)``")
_TICKED = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")
_DEPRECATED_BLOCK = re.compile(r"^([ \t]*)\.\. deprecated::[^\n]*\n((?:\1[ \t]+\S[^\n]*\n?|[ \t]*\n)+)", re.M)


class Unresolved(Exception):
    """A module or object the check names does not import here: nothing can be said about its API."""


def _import_longest(dotted: str) -> tuple[Any, list[str]]:
    """The longest importable module prefix of `dotted` and the attribute names after it."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        try:
            return importlib.import_module(".".join(parts[:end])), parts[end:]
        except ImportError:
            continue
        except Exception as exc:  # noqa: BLE001 - a library that fails to import cannot be checked
            raise Unresolved(f"importing {'.'.join(parts[:end])} failed: {exc!r}") from None
    raise Unresolved(f"no module {parts[0]!r}")


def _child(owner: Any, name: str) -> Any:
    """`owner.name`, importing a submodule as `import a.b` would; AttributeError as getattr raises it."""
    try:
        return getattr(owner, name)
    except AttributeError:
        if isinstance(owner, types.ModuleType):
            with contextlib.suppress(ImportError):
                return importlib.import_module(f"{owner.__name__}.{name}")
        raise


def resolve(dotted: str) -> Any:
    """The object a dotted path names (`pandas.DataFrame`, `matplotlib.style.available`), or Unresolved."""
    obj, rest = _import_longest(dotted)
    for name in rest:
        try:
            obj = _child(obj, name)
        except AttributeError as exc:
            raise Unresolved(str(exc)) from None
    return obj


@contextlib.contextmanager
def _recorded_warnings() -> Iterator[list[str]]:
    """Deprecation warnings raised inside the block, as messages."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield messages
    for warning in caught:
        if issubclass(warning.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            messages.append(str(warning.message))


def _qualified(text: str, library: str | None) -> str:
    """rst markup as plain backticks, with names the library's top module has qualified (`concat` ->
    `pandas.concat`), so a note read out of context says where the replacement lives."""
    text = _DOUBLE_TICKS.sub(r"`\1`", _ROLE.sub(r"`\1`", text))
    top = sys.modules.get(library or "")
    if top is None:
        return text
    return _TICKED.sub(lambda m: f"`{library}.{m[1]}`" if hasattr(top, m[1]) else m[0], text)


def deprecation_note(obj: Any, library: str | None) -> str | None:
    """The `.. deprecated::` block of the object's docstring, as one line (None: it has none)."""
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or "deprecated::" not in doc:
        return None
    match = _DEPRECATED_BLOCK.search(doc)
    if match is None:
        return None
    return _qualified(" ".join(match[2].split()), library) or None


def _distribution(module: str) -> tuple[str | None, str | None]:
    """The distribution that provides the top-level `module` here and its version."""
    top = module.split(".", 1)[0]
    names = importlib.metadata.packages_distributions().get(top) or [top]
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return name, importlib.metadata.version(name)
    return None, None


def _check_attr(check: Mapping[str, Any]) -> dict[str, Any]:
    module = str(check["module"])
    try:
        obj = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - an import that fails here says nothing about the API
        raise Unresolved(f"importing {module} failed: {exc!r}") from None
    owner = module
    with _recorded_warnings() as messages:
        for name in check["attrs"]:
            try:
                obj = _child(obj, str(name))
            except AttributeError as exc:
                return {"status": "missing", "message": str(exc), "owner": owner, "name": str(name)}
            owner = f"{owner}.{name}"
    note = " ".join(messages) or deprecation_note(obj, module.split(".", 1)[0])
    return {"status": "ok", "note": note}


def _check_method(check: Mapping[str, Any]) -> dict[str, Any]:
    owner = resolve(str(check["type"]))
    if not isinstance(owner, type):
        raise Unresolved(f"{check['type']} is not a type here")
    with _recorded_warnings() as messages:
        try:
            found = getattr(owner, str(check["name"]))
        except AttributeError as exc:
            return {"status": "missing", "message": str(exc)}
    note = " ".join(messages) or deprecation_note(found, owner.__module__.split(".", 1)[0])
    return {"status": "ok", "note": note}


def _check_choice(check: Mapping[str, Any]) -> dict[str, Any]:
    value = str(check["value"])
    choices = [str(c) for c in resolve(str(check["list"]))]
    if value in choices:
        return {"status": "ok", "note": None}
    for path in check.get("aliases", ()):
        try:
            aliases = resolve(str(path))
        except Unresolved:
            continue
        if isinstance(aliases, Mapping) and value in aliases:
            return {"status": "ok", "note": f"{value!r} is deprecated: use {aliases[value]!r} instead"}
    close = difflib.get_close_matches(value, choices, n=3, cutoff=0.5)
    return {"status": "missing", "message": f"{value!r} is not in {check['list']}", "close": close}


def _check_parse(check: Mapping[str, Any]) -> dict[str, Any]:
    parse = resolve(str(check["function"]))
    if not callable(parse):
        raise Unresolved(f"{check['function']} is not callable here")
    with _recorded_warnings() as messages:
        try:
            parse(str(check["value"]))
        except (ValueError, TypeError, KeyError) as exc:
            return {"status": "missing", "message": str(exc)}
    return {"status": "ok", "note": " ".join(messages) or None}


_KINDS = {"attr": _check_attr, "method": _check_method, "choice": _check_choice, "parse": _check_parse}


def _library_of(check: Mapping[str, Any]) -> str:
    """The module whose distribution the check is about."""
    return str(check.get("module") or check.get("type") or check.get("list") or check.get("function") or "")


def run_check(check: Mapping[str, Any]) -> dict[str, Any]:
    """One check's answer: its id, status, message or note, and the library's distribution and version."""
    answer: dict[str, Any] = {"id": check.get("id"), "message": None, "note": None}
    kind = _KINDS.get(str(check.get("probe")))
    try:
        if kind is None:
            raise Unresolved(f"unknown check kind {check.get('probe')!r}")
        answer.update(kind(check))
    except Unresolved as exc:
        answer.update(status="unresolved", message=str(exc))
    except Exception as exc:  # noqa: BLE001 - one odd check must not lose the answers to the others
        answer.update(status="unresolved", message=f"{type(exc).__name__}: {exc}")
    library = _library_of(check)
    answer["dist"], answer["version"] = _distribution(library) if library else (None, None)
    return answer


def probe(checks: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The answers to every check, with this interpreter's Python version."""
    return {
        "python": ".".join(str(p) for p in sys.version_info[:3]),
        "results": [run_check(c) for c in checks if isinstance(c, Mapping)],
    }


def main() -> int:
    try:
        checks = json.loads(sys.stdin.read() or "[]")
    except ValueError as exc:
        print(json.dumps({"error": f"checks are not JSON: {exc}"}))
        return 2
    if not isinstance(checks, list):
        print(json.dumps({"error": "checks must be a JSON list"}))
        return 2
    with contextlib.redirect_stdout(sys.stderr):  # what a library prints on import must not break the JSON
        answers = probe(checks)
    print(json.dumps(answers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
