"""Behaviour cases, written as small functions in the project's cases module and marked with these
decorators (importing this module imports nothing heavy):

    from nblift.gates import directional, invariance, minimum_functionality

    @invariance(tolerance=0.01)
    def city_spelling(data):                 # the evaluation data in, a perturbed copy out
        return data.assign(city=data["city"].str.upper())

    @directional("increase")
    def more_income_more_credit(data):
        return data.assign(income=data["income"] * 1.5)

    @minimum_functionality(min_pass=0.9)
    def obvious_cases(data):                 # (inputs, expected predictions)
        rows = data[data["income"] > 200_000]
        return rows, [1] * len(rows)

Each row of the case counts as passed when: invariance, the prediction moved by at most `tolerance` (equal,
for labels); directional, it moved the stated way (by more than -`tolerance`); minimum functionality, it
equals the expected value (within `tolerance` for numbers). A case passes when at least `min_pass` of its
rows pass (default: all of them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

KINDS = ("invariance", "directional", "minimum_functionality")
DIRECTIONS = ("increase", "decrease")
MARK = "__nblift_case__"


@dataclasses.dataclass(frozen=True)
class Case:
    kind: str
    name: str
    func: Callable[[Any], Any]
    tolerance: float
    min_pass: float
    direction: str | None = None


def _check(tolerance: float, min_pass: float) -> None:
    if tolerance < 0:
        raise ValueError("tolerance must be >= 0")
    if not 0 <= min_pass <= 1:
        raise ValueError("min_pass must be between 0 and 1")


def _mark(kind: str, tolerance: float, min_pass: float, direction: str | None = None) -> Callable[..., Any]:
    _check(tolerance, min_pass)

    def decorate(func: Callable[[Any], Any]) -> Callable[[Any], Any]:
        setattr(func, MARK, Case(kind, func.__name__, func, float(tolerance), float(min_pass), direction))
        return func

    return decorate


def invariance(*, tolerance: float = 0.0, min_pass: float = 1.0) -> Callable[..., Any]:
    """The prediction must not change (by more than `tolerance`) under the function's perturbation."""
    return _mark("invariance", tolerance, min_pass)


def directional(direction: str, *, tolerance: float = 0.0, min_pass: float = 1.0) -> Callable[..., Any]:
    """The prediction must move `direction` ("increase" or "decrease") under the perturbation."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}")
    return _mark("directional", tolerance, min_pass, direction)


def minimum_functionality(*, tolerance: float = 0.0, min_pass: float = 1.0) -> Callable[..., Any]:
    """The function returns (inputs, expected): the predictions must equal the expected values."""
    return _mark("minimum_functionality", tolerance, min_pass)


def cases_in(namespace: dict[str, Any]) -> list[Case]:
    """The marked functions of a module's namespace, in the order they were written."""
    return [getattr(v, MARK) for v in namespace.values() if callable(v) and hasattr(v, MARK)]
