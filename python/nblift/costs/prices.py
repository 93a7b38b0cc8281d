"""Hourly rates of run targets: the `hourly_cost` a target sets, or its `instance_type` (and `cloud`, `spot`)
looked up in the dated GPU price table nblift ships (`prices.csv`, in the column layout of SkyPilot's catalog
plus a `Cloud` column; its first line says where the prices come from and when they were read).

A rate nblift cannot know is reported as missing with the reason; it is never guessed.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InvalidInput

PRICES_FILE = Path(__file__).with_name("prices.csv")
#: The settings every target table may hold (`[tool.nblift.ssh_hosts.NAME]`, `[...ray_clusters.NAME]`).
PRICE_KEYS: dict[str, type] = {
    "hourly_cost": float,
    "max_cost": float,
    "instance_type": str,
    "cloud": str,
    "spot": bool,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Priced:
    """What a target says about its price: a rate in USD per hour, or a machine to look up; `max_cost` is
    the budget of a run there unless the run gives its own."""

    hourly_cost: float | None = None
    max_cost: float | None = None
    instance_type: str = ""
    cloud: str = ""
    spot: bool = False
    #: The setting that holds `hourly_cost` where the target is configured (for messages).
    rate_name: str = "hourly_cost"


@dataclasses.dataclass(frozen=True)
class Price:
    """One row of the price table."""

    cloud: str
    instance_type: str
    accelerator: str
    count: int
    price: float | None
    spot_price: float | None
    region: str


@dataclasses.dataclass(frozen=True)
class PriceTable:
    note: str  # where the prices come from
    as_of: str | None  # the date they were read (YYYY-MM-DD)
    rows: tuple[Price, ...]


@dataclasses.dataclass(frozen=True)
class Rate:
    """A target's price: USD per hour, where the number comes from, and the table's date when it is one."""

    hourly: float
    source: str
    as_of: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


@functools.cache
def price_table(path: Path = PRICES_FILE) -> PriceTable:
    """The price table in `path` (its `#` line: the source and date; then a CSV header and rows)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    note = next((line.lstrip("# ").strip() for line in lines if line.startswith("#")), "")
    date = re.search(r"\d{4}-\d{2}-\d{2}", note)
    reader = csv.DictReader(line for line in lines if line.strip() and not line.startswith("#"))
    rows = tuple(
        Price(
            cloud=row["Cloud"].strip().lower(),
            instance_type=row["InstanceType"].strip(),
            accelerator=row.get("AcceleratorName", "").strip(),
            count=int(_number(row.get("AcceleratorCount")) or 0),
            price=_number(row.get("Price")),
            spot_price=_number(row.get("SpotPrice")),
            region=row.get("Region", "").strip(),
        )
        for row in reader
    )
    return PriceTable(note, date.group(0) if date else None, rows)


def rate_of(priced: Priced, where: str, table: PriceTable | None = None) -> tuple[Rate | None, str]:
    """The hourly rate of the target `where` names, or None and why there is none."""
    if priced.hourly_cost is not None:
        if priced.hourly_cost < 0:
            raise ConfigError(f"{where}: {priced.rate_name} is negative", hint="give USD per hour, e.g. 2.5")
        return Rate(float(priced.hourly_cost), f"{priced.rate_name} of {where}"), ""
    if not priced.instance_type:
        return None, f"no price for {where}: set hourly_cost (USD per hour) or instance_type in its table"
    table = table or price_table()
    wanted = priced.instance_type.lower()
    found = [
        row
        for row in table.rows
        if (row.instance_type or f"{row.accelerator}:{row.count}").lower() == wanted
        and (not priced.cloud or row.cloud == priced.cloud.lower())
    ]
    dated = f"the price table of {table.as_of}" if table.as_of else "the price table"
    if not found:
        return None, f"no price for {priced.instance_type} in {dated}: set hourly_cost for {where}"
    if len({row.cloud for row in found}) > 1:
        clouds = ", ".join(sorted({row.cloud for row in found}))
        raise ConfigError(
            f"{where}: {priced.instance_type} is listed by several clouds ({clouds})",
            hint="set cloud in the target's table",
        )
    row = found[0]
    value = row.spot_price if priced.spot else row.price
    kind = "spot" if priced.spot else "on-demand"
    if value is None:
        return None, f"no {kind} price for {row.cloud} {priced.instance_type} in {dated}: set hourly_cost"
    name = row.instance_type or f"{row.accelerator}:{row.count} (the GPUs alone)"
    source = f"{row.cloud} {name} {kind} in {row.region}, {dated}"
    return Rate(value, source, table.as_of), ""


def check_budget(budget: float | None) -> float | None:
    """A run's budget in USD as asked for (None: none); one that is not a positive number is InvalidInput."""
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not budget > 0:
        raise InvalidInput(f"budget {budget!r} is not a positive amount", hint="give USD, e.g. --budget 5")
    return float(budget)


def parse_budget(value: str | int | float | None) -> float | None:
    """A budget as typed (`5`, `"5"`, `"$5.50"`, empty: none) or given as a number; InvalidInput if it is
    not a positive amount."""
    if isinstance(value, str):
        text = value.strip().removeprefix("$").strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise InvalidInput(
                f"budget {value!r} is not an amount", hint="give USD, e.g. 5 or 12.50"
            ) from None
    return check_budget(value)
