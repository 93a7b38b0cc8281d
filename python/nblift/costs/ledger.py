"""`nblift costs`: what this project's runs cost, summed per month, user and notebook (from the run records:
each records its rate at launch and what it spent)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any

from ..errors import InvalidInput, NotFound
from ..project import Project

GROUPS = ("month", "user", "notebook")


@dataclasses.dataclass(frozen=True)
class LedgerRow:
    key: dict[str, str]  # group -> value
    runs: int
    cost: float


@dataclasses.dataclass(frozen=True)
class Ledger:
    by: tuple[str, ...]
    rows: tuple[LedgerRow, ...]
    total: float
    runs: int
    unpriced: int  # runs whose target had no price (not in the sums)

    def to_json(self) -> dict[str, Any]:
        return {
            "by": list(self.by),
            "rows": [{**r.key, "runs": r.runs, "cost": round(r.cost, 4)} for r in self.rows],
            "total": round(self.total, 4),
            "runs": self.runs,
            "unpriced": self.unpriced,
        }


def check_groups(text: str) -> tuple[str, ...]:
    by = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [b for b in by if b not in GROUPS]
    if unknown or not by:
        raise InvalidInput(f"cannot group costs by {text!r}", hint=f"use any of {', '.join(GROUPS)}")
    return by


def ledger(project: Project, by: tuple[str, ...] = GROUPS, month: str | None = None) -> Ledger:
    """The project's run costs summed per `by` (of month, user, notebook), newest month first; `month`
    (YYYY-MM) keeps one month."""
    from ..runs.records import RunRecord, iter_records

    sums: dict[tuple[str, ...], list[float]] = {}
    runs = unpriced = 0
    for folder in iter_records(project.state_dir):
        with contextlib.suppress(NotFound, OSError, ValueError):
            record = RunRecord(folder)
            info = record.info()
            when = time.strftime("%Y-%m", time.localtime(info.started or info.created))
            if month is not None and when != month:
                continue
            if info.started is None:
                continue  # never ran: cost nothing
            runs += 1
            spent = (info.cost or {}).get("spent")
            if spent is None:
                unpriced += 1
                continue
            values = {
                "month": when,
                "user": record.spec.tags.get("mlflow.user", "?"),
                "notebook": info.notebook,
            }
            entry = sums.setdefault(tuple(values[b] for b in by), [0, 0.0])
            entry[0] += 1
            entry[1] += float(spent)
    order = sorted(
        sums.items(), key=lambda kv: (kv[0][by.index("month")] if "month" in by else "", -kv[1][1])
    )
    if "month" in by:
        order.sort(key=lambda kv: kv[0][by.index("month")], reverse=True)
    rows = tuple(LedgerRow(dict(zip(by, key, strict=True)), int(n), cost) for key, (n, cost) in order)
    return Ledger(by, rows, sum(r.cost for r in rows), runs, unpriced)
