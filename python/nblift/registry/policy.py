"""Promotion policy: what a model version needs before a gated alias (such as `champion`) may point at it.

In the project's settings, one table per gated alias:

    [tool.nblift.promotion.champion]
    metrics = ["accuracy >= 0.9", "accuracy >= current.accuracy", "rmse <= current.rmse * 1.05"]
    checks = ["checks/validate_model.ipynb"]   # notebooks that must SUCCEED when run with model_uri=...
    approvals = 1                              # distinct approvers needed
    approvers = ["alice", "bob"]               # who may approve (default: anyone)
    allow_self_approval = false                # may the person who registered the version approve it?

Quality gates (data, behaviour, drift) are sub-tables of the alias's table: see `nblift.gates.spec`.

`current.NAME` is the metric of the version that holds the alias now.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigError
from ..gates.spec import KINDS as QUALITY_KINDS
from ..gates.spec import GateSpec, parse_gates
from ..project import Project

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_METRIC = r"[A-Za-z_][\w.\-/]*"
_RULE = re.compile(
    rf"^\s*(?P<metric>{_METRIC})\s*(?P<op>>=|<=|==|!=|>|<)\s*(?:"
    rf"(?P<number>{_NUMBER})|current\.(?P<other>{_METRIC})(?:\s*(?P<arith>[-+*])\s*(?P<k>{_NUMBER}))?"
    rf")\s*$"
)
_KEYS = {"metrics", "checks", "approvals", "approvers", "allow_self_approval", *QUALITY_KINDS}


@dataclasses.dataclass(frozen=True)
class MetricRule:
    text: str
    metric: str
    op: str
    number: float | None  # a threshold, or None when comparing with the current holder
    other: str | None
    arith: str | None
    k: float | None

    def bound(self, current: float) -> float:
        """The right-hand side against the current holder's value."""
        if self.arith is None or self.k is None:
            return current
        return {"+": current + self.k, "-": current - self.k, "*": current * self.k}[self.arith]


@dataclasses.dataclass(frozen=True)
class Policy:
    alias: str
    metrics: tuple[MetricRule, ...]
    checks: tuple[str, ...]
    approvals: int
    approvers: tuple[str, ...]
    allow_self_approval: bool
    quality: tuple[GateSpec, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "metrics": [r.text for r in self.metrics],
            "checks": list(self.checks),
            "approvals": self.approvals,
            "approvers": list(self.approvers),
            "allow_self_approval": self.allow_self_approval,
            "quality": [g.to_json() for g in self.quality],
        }


def parse_rule(text: str, where: str) -> MetricRule:
    match = _RULE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(
            f"{where}: {text!r} is not a metric rule",
            hint="write e.g. 'accuracy >= 0.9' or 'loss <= current.loss * 1.05'",
        )
    number = match["number"]
    return MetricRule(
        text=text.strip(),
        metric=match["metric"],
        op=match["op"],
        number=float(number) if number is not None else None,
        other=match["other"],
        arith=match["arith"],
        k=float(match["k"]) if match["k"] is not None else None,
    )


def parse_policy(alias: str, table: Mapping[str, Any]) -> Policy:
    where = f"promotion policy for {alias!r}"
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}", hint=f"known: {', '.join(sorted(_KEYS))}"
        )

    def strings(key: str) -> tuple[str, ...]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of strings", hint=f'{key} = ["..."]')
        return tuple(value)

    approvals = table.get("approvals", 0)
    if not isinstance(approvals, int) or isinstance(approvals, bool) or approvals < 0:
        raise ConfigError(f"{where}: approvals must be a whole number >= 0", hint="approvals = 1")
    self_ok = table.get("allow_self_approval", False)
    if not isinstance(self_ok, bool):
        raise ConfigError(
            f"{where}: allow_self_approval must be true or false", hint="allow_self_approval = false"
        )
    for check in strings("checks"):
        if check.startswith("/") or ".." in check.split("/") or not check.endswith(".ipynb"):
            raise ConfigError(
                f"{where}: check {check!r} must be a notebook path inside the project",
                hint='checks = ["checks/validate.ipynb"]',
            )
    return Policy(
        alias=alias,
        metrics=tuple(parse_rule(r, where) for r in strings("metrics")),
        checks=strings("checks"),
        approvals=approvals,
        approvers=strings("approvers"),
        allow_self_approval=self_ok,
        quality=parse_gates(table, where),
    )


def policies(project: Project) -> dict[str, Policy]:
    return {alias: parse_policy(alias, table) for alias, table in project.settings.promotion.items()}


def policy_for(project: Project, alias: str) -> Policy | None:
    table = project.settings.promotion.get(alias)
    return None if table is None else parse_policy(alias, table)
