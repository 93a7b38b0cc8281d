"""Run parameters and durations as users type them (`-p lr=0.01`, `--timeout 1h30m`), checked once.

Parameter names become Python assignments in the injected cell, so each must be a plain identifier;
values are JSON-like (numbers, booleans, null, strings, lists, objects), written into the cell by papermill.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidInput

_DURATION = re.compile(
    r"(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?"
)
_UNITS = (86400, 3600, 60, 1)
MAX_VALUE_CHARS = 100_000


def check_name(name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise InvalidInput(
            f"parameter name {name!r} is not a Python identifier",
            hint="use names such as learning_rate or epochs, as in the notebook's parameters cell",
        )
    return name


def _check_value(name: str, value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, list):
        return [_check_value(name, v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _check_value(name, v) for k, v in value.items()}
    raise InvalidInput(
        f"parameter {name} has a value of type {type(value).__name__}",
        hint="use numbers, true/false, null, strings, lists or objects",
    )


def check_parameters(parameters: object) -> dict[str, Any]:
    """Parameters as a dict of identifier -> JSON-like value, or InvalidInput saying what is wrong."""
    if not isinstance(parameters, Mapping):
        raise InvalidInput("parameters must be an object of name: value", hint='e.g. {"epochs": 3}')
    checked = {check_name(k): _check_value(k, v) for k, v in parameters.items()}
    if len(json.dumps(checked)) > MAX_VALUE_CHARS:
        raise InvalidInput(
            "the parameters are too large", hint="pass a path to a file instead of its contents"
        )
    return checked


def parse_value(text: str) -> Any:
    """`3` -> 3, `0.1` -> 0.1, `true` -> True, `null` -> None, `[1,2]` -> [1, 2], anything else a string."""
    try:
        return json.loads(text)
    except ValueError:
        lowered = text.strip().lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("none", "null"):
            return None
        return text


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """`["lr=0.1", "name=resnet"]` -> `{"lr": 0.1, "name": "resnet"}`."""
    parameters: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(
                f"parameter {item!r} has no value", hint="write it as NAME=VALUE, e.g. -p epochs=3"
            )
        parameters[check_name(name.strip())] = parse_value(value)
    return check_parameters(parameters)


def parse_duration(text: str | float | None) -> float | None:
    """`90` or `90s` -> 90.0, `30m` -> 1800.0, `1h30m` -> 5400.0, `2d` -> 172800.0; None stays None."""
    if text is None or text == "":
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        match = _DURATION.fullmatch(str(text).strip().lower())
        if match is None or not any(match.groups()):
            raise InvalidInput(f"{text!r} is not a duration", hint="write e.g. 90s, 30m, 2h or 1h30m")
        seconds = sum(float(g) * u for g, u in zip(match.groups(), _UNITS, strict=True) if g)
    if seconds <= 0:
        raise InvalidInput(f"duration {text!r} is not positive", hint="write e.g. 30m or 2h")
    return seconds
