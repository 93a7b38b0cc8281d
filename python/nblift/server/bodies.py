"""The JSON bodies the REST routes take, as typed dataclasses, and the one function that reads them.

A body is checked before anything runs: unknown fields, missing required ones and wrong types are a 400
that names the field and what to send, so a malformed request never reaches the core (or the disk).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, TypeVar, Union

from ..errors import InvalidInput

B = TypeVar("B")


@dataclasses.dataclass(frozen=True)
class EmptyBody:
    """A route that takes no fields (an empty body or `{}`)."""


@dataclasses.dataclass(frozen=True)
class LaunchBody:
    """POST /runs. `parameter_text` is what a person typed per parameter (the dialog's fields), parsed on the
    server by the same parser as `-p NAME=VALUE`; `parameters` are typed JSON values (for programs)."""

    notebook: str
    parameters: dict[str, Any] | None = None
    parameter_text: dict[str, str] | None = None
    backend: str | None = None
    timeout: str | int | float | None = None
    submission_id: str | None = None
    budget: str | int | float | None = None  # USD: what a person typed, or a number


@dataclasses.dataclass(frozen=True)
class ResumeBody:
    """POST /runs/ID/resume: new limits for the resumed run (None: the earlier run's)."""

    timeout: str | int | float | None = None
    budget: str | int | float | None = None


@dataclasses.dataclass(frozen=True)
class KernelBody:
    """A route that acts on a notebook's running kernel (its interpreter, not its variables)."""

    kernel: str


@dataclasses.dataclass(frozen=True)
class AliasBody:
    alias: str
    version: str | int | None  # null removes the alias


@dataclasses.dataclass(frozen=True)
class PromoteBody:
    alias: str = "champion"
    override_reason: str | None = None


@dataclasses.dataclass(frozen=True)
class CheckBody:
    alias: str = "champion"


@dataclasses.dataclass(frozen=True)
class DecisionBody:
    alias: str = "champion"
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class CardBody:
    fields: dict[str, str]


_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false", dict: "an object"}


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is Any:
        return True
    if origin is dict:
        _, item = typing.get_args(hint)
        return isinstance(value, dict) and all(_matches(v, item) for v in value.values())
    if hint is bool:
        return isinstance(value, bool)
    if hint in (int, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    names = [_NAMES.get(typing.get_origin(a) or a, getattr(a, "__name__", str(a))) for a in args]
    return " or ".join(dict.fromkeys(names)) + (" or null" if type(None) in typing.get_args(hint) else "")


def read_body(cls: type[B], data: dict[str, Any]) -> B:
    """`data` (a JSON object) as a `cls`, or InvalidInput naming the unknown, missing or wrong field."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        takes = ", ".join(fields) or "no fields"
        raise InvalidInput(
            f"unknown field {unknown[0]!r} in the request body", hint=f"this route takes: {takes}"
        )
    for name, field in fields.items():
        if name not in data:
            required = field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            if required:
                raise InvalidInput(
                    f"the request body needs {name!r}", hint=f'send "{name}": {_describe(hints[name])}'
                )
            continue
        if not _matches(data[name], hints[name]):
            raise InvalidInput(
                f"{name} must be {_describe(hints[name])}, not {type(data[name]).__name__}",
                hint=f'send "{name}": {_describe(hints[name])}',
            )
    return cls(**data)
