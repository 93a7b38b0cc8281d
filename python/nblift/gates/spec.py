"""The quality gates of a promotion policy, as declared in the settings (parsed without importing anything
heavy):

    [tool.nblift.promotion.champion.data]
    schema = "gates/schema.yaml"          # `nblift gates infer-schema data/train.csv -o gates/schema.yaml`
    data = "data/eval.csv"                # the data the candidate is evaluated on

    [tool.nblift.promotion.champion.behaviour]
    cases = "gates/behaviour.py"          # functions marked @invariance, @directional, @minimum_functionality
    data = "data/eval.csv"
    drop = ["label"]                      # columns the model does not take
    tolerance = 0.01                      # for cases that set none

    [tool.nblift.promotion.champion.drift]
    reference = "data/train.csv"          # a path, or PATH@VERSION (a recorded DVC version)
    current = "data/eval.csv"
    test = "auto"                         # or ks, chisquare, wasserstein, jensenshannon, psi
    max_share = 0.0                       # fail when more than this share of columns drift
    columns = {income = {test = "psi", threshold = 0.2}, id = {skip = true}}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, InvalidInput

KINDS = ("data", "behaviour", "drift")
_KEYS = {
    "data": ({"schema", "data"}, {"schema", "data"}),
    "behaviour": ({"cases", "data"}, {"cases", "data", "drop", "tolerance"}),
    "drift": (
        {"reference", "current"},
        {"reference", "current", "test", "threshold", "max_share", "columns"},
    ),
}


@dataclasses.dataclass(frozen=True)
class GateSpec:
    kind: str
    settings: Mapping[str, Any]

    @property
    def label(self) -> str:
        s = self.settings
        if self.kind == "data":
            return f"{s['schema']} on {s['data']}"
        if self.kind == "behaviour":
            return f"{s['cases']} on {s['data']}"
        return f"{s['current']} against {s['reference']}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label, **dict(self.settings)}


def _path(value: Any, where: str, key: str) -> str:
    text = str(value) if isinstance(value, str) else ""
    bare = text.split("@", 1)[0]
    if not text or bare.startswith("/") or ".." in bare.split("/"):
        raise ConfigError(
            f"{where}: {key} must be a path inside the project", hint=f'{key} = "data/eval.csv"'
        )
    return text


def parse_gate(kind: str, table: Any, where: str) -> GateSpec:
    where = f"{where}, {kind} gate"
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table", hint=f"[tool.nblift.promotion.ALIAS.{kind}]")
    required, allowed = _KEYS[kind]
    missing, unknown = required - set(table), set(table) - allowed
    if missing or unknown:
        problem = (f"needs {', '.join(sorted(missing))}" if missing else "") + (
            f"{'; ' if missing else ''}unknown key(s) {', '.join(sorted(unknown))}" if unknown else ""
        )
        raise ConfigError(f"{where}: {problem}", hint=f"keys: {', '.join(sorted(allowed))}")
    for key in ("schema", "data", "cases", "reference", "current"):
        if key in table:
            _path(table[key], where, key)
    if kind == "behaviour":
        drop = table.get("drop", [])
        if not isinstance(drop, list) or not all(isinstance(c, str) for c in drop):
            raise ConfigError(f"{where}: drop must be a list of column names", hint='drop = ["label"]')
        tolerance = table.get("tolerance", 0.0)
        if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or tolerance < 0:
            raise ConfigError(f"{where}: tolerance must be a number >= 0", hint="tolerance = 0.01")
    if kind == "drift":
        from .drift import options_from

        try:
            options_from(table, where)
        except InvalidInput as exc:
            raise ConfigError(exc.message, hint=exc.hint) from None
    return GateSpec(kind, dict(table))


def parse_gates(table: Mapping[str, Any], where: str) -> tuple[GateSpec, ...]:
    return tuple(parse_gate(kind, table[kind], where) for kind in KINDS if kind in table)
