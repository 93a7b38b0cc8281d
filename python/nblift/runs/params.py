"""Run parameters and durations as users type them (`-p lr=0.01`, `--timeout 1h30m`), checked once.

Parameter names become Python assignments in the injected cell, so each must be a plain identifier;
values are JSON-like (numbers, booleans, null, strings, lists, objects), written into the cell by papermill.

Text a person typed (`-p` on the command line and in `%lift run`, a field of the Run on... dialog) becomes a
value here and nowhere else: `parse_value` is the one parser, and `value_text` writes a value back as text
that `parse_value` reads as the same value (the dialog shows it; the browser parses nothing).
"""

from __future__ import annotations

import ast
import json
import keyword
import math
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


def _plain(value: Any) -> Any:
    """`value` (from `ast.literal_eval`) as a JSON-like value (tuples become lists), or a ValueError."""
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v) for k, v in value.items()}
    raise ValueError(f"not a JSON-like value: {type(value).__name__}")


def parse_value(text: str) -> Any:
    """A typed value from what a person typed, as Python would read it in the parameters cell.

    JSON (`3`, `0.1`, `true`, `"3"`, `[1, 2]`) and Python literals (`'a'`, `True`, `None`, `['a', 1]`,
    `(1, 2)` as a list) are values; `true`/`false`/`null`/`none` in any case too; anything else (`resnet`,
    `a b`, `1e`) is the text itself, as typed.
    """
    stripped = text.strip()
    if len(stripped) <= MAX_VALUE_CHARS:
        try:
            value = json.loads(stripped)
            if not (isinstance(value, float) and not math.isfinite(value)):  # NaN, Infinity: kept as text
                return value
        except ValueError:
            pass
        try:
            return _plain(ast.literal_eval(stripped))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
    lowered = stripped.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    return text


def value_text(value: Any) -> str:
    """`value` as text that `parse_value` reads back as the same value (a string as typed where it can)."""
    if isinstance(value, str):
        read = parse_value(value)
        if type(read) is str and read == value:
            return value
    return json.dumps(value, ensure_ascii=False)


def parse_texts(texts: object) -> dict[str, Any]:
    """`{"lr": "0.1", "name": "'resnet'"}` (name -> text as typed: the dialog's fields) -> parameters."""
    if not isinstance(texts, Mapping) or not all(isinstance(v, str) for v in texts.values()):
        raise InvalidInput(
            "parameter_text must be an object of name: text", hint='e.g. {"lr": "0.1", "name": "resnet"}'
        )
    return check_parameters({check_name(k): parse_value(v) for k, v in texts.items()})


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
