"""What a run will cost, said before it starts: the target's hourly rate times the expected duration, the
median of this notebook's earlier successful runs on the same target (the Python side decides; every door
shows the same `Estimate`). A rate or a duration nblift does not know is said, never guessed."""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InvalidInput, NotFound, ObjectCorrupt
from ..project import Project
from ..runs.model import CostSpec
from .prices import Priced, Rate, check_budget, rate_of

#: Earlier runs an estimate looks at (the newest of them).
HISTORY = 20


@dataclasses.dataclass(frozen=True)
class Estimate:
    """The cost of one run of `notebook` on `backend`, as known before it starts."""

    notebook: str
    backend: str
    rate: Rate | None
    no_rate: str  # why there is no rate
    expected_seconds: float | None
    basis: str  # where the duration comes from, or why there is none
    budget: float | None  # USD: the run's, else the target's max_cost

    @property
    def cost(self) -> float | None:
        if self.rate is None or self.expected_seconds is None:
            return None
        return round(self.rate.hourly * self.expected_seconds / 3600, 4)

    @property
    def budget_seconds(self) -> float | None:
        return self.spec().budget_seconds

    def spec(self) -> CostSpec:
        """The run specification's cost part."""
        rate = self.rate
        return CostSpec(
            hourly=rate.hourly if rate else None,
            source=rate.source if rate else self.no_rate,
            as_of=rate.as_of if rate else None,
            budget=self.budget,
            expected_seconds=self.expected_seconds,
            estimate=estimate_text(self),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "notebook": self.notebook,
            "backend": self.backend,
            "hourly": self.rate.hourly if self.rate else None,
            "rate_source": self.rate.source if self.rate else self.no_rate,
            "prices_as_of": self.rate.as_of if self.rate else None,
            "expected_seconds": self.expected_seconds,
            "basis": self.basis,
            "cost": self.cost,
            "budget": self.budget,
            "text": estimate_text(self),
        }


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f} s"
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def estimate_text(estimate: Estimate) -> str:
    """One line every door prints: `~$1.20 (2 h 30 min at $0.48/h: median of 3 runs; prices of ...)`."""
    rate = estimate.rate
    if rate is None:
        text = f"cost unknown: {estimate.no_rate}"
    elif estimate.expected_seconds is None:
        text = f"${rate.hourly:.2f}/h ({rate.source}); duration unknown: {estimate.basis}"
    else:
        text = (
            f"~${estimate.cost:.2f} ({_duration(estimate.expected_seconds)} at ${rate.hourly:.2f}/h: "
            f"{estimate.basis}; {rate.source})"
        )
    if estimate.budget is not None:
        text += f"; budget ${estimate.budget:.2f}"
        if rate is not None and rate.hourly > 0:
            text += f" (stops after {_duration(estimate.budget / rate.hourly * 3600)})"
    return text


def expected_seconds(project: Project, notebook: str, backend: str) -> tuple[float | None, str]:
    """The median duration of `notebook`'s newest successful runs on `backend` (relative path, as runs
    record it), and what it rests on."""
    from ..runs.records import RunRecord, iter_records

    durations: list[tuple[float, float]] = []  # (created, seconds)
    for folder in iter_records(project.state_dir):
        with contextlib.suppress(NotFound, OSError, ValueError):
            info = RunRecord(folder).info()
            if (
                info.notebook == notebook
                and info.backend == backend
                and info.state == "SUCCEEDED"
                and info.duration is not None
            ):
                durations.append((info.created, info.duration))
    if not durations:
        seconds, basis = _from_snapshot(project, notebook)
        none = f"no earlier successful run of {notebook} on {backend}"
        return seconds, basis if seconds is not None else f"{none}{'; ' + basis if basis else ''}"
    newest = [seconds for _, seconds in sorted(durations, reverse=True)[:HISTORY]]
    count = len(newest)
    return statistics.median(newest), f"median of {count} earlier run{'s' if count > 1 else ''}"


def _from_snapshot(project: Project, notebook: str) -> tuple[float | None, str]:
    """The time the notebook's code cells took when they last ran, from its newest snapshot's history (the
    cell hook times each cell): None and why when a cell was not timed there, or "" with no snapshot."""
    import json

    from ..environment.notebook import cells_of, source_of
    from ..snapshot import manifest as mf
    from ..snapshot.history import timed_cells
    from ..store import ObjectStore

    try:
        sources = [source_of(c) for c in cells_of(project.root / notebook) if c.get("cell_type") == "code"]
    except InvalidInput:
        return None, ""
    name = Path(notebook).name
    for manifest in mf.list_manifests(project.state_dir):
        if manifest.get("notebook_path") != name or not manifest.get("history_object"):
            continue
        with contextlib.suppress(NotFound, ObjectCorrupt, OSError, ValueError):
            history = json.loads(ObjectStore(project.state_dir).get_bytes(manifest["history_object"]))
            seconds, timed = timed_cells(history, sources)
            if seconds is None:
                code = sum(1 for s in sources if s.strip())
                return None, f"its last snapshot timed {timed} of its {code} code cells"
            return seconds, f"its cells' times in its last snapshot ({manifest['id']})"
        break
    return None, ""


def estimate(
    project: Project,
    notebook: str,
    backend: str,
    budget: float | None = None,
    *,
    priced: tuple[Priced, str] | None = None,
) -> Estimate:
    """The estimate for a run of `notebook` (relative to the project) on `backend` with `budget` (USD;
    default: the target's `max_cost`). A budget needs a rate: without one it is an error that says how to
    give the target a price. `priced`: the price and where it is set, for a launcher that is not one of
    nblift's backends (default: the backend's target)."""
    from ..runs.service import backend_for

    priced, where = priced or backend_for(project, backend).price()
    rate, no_rate = rate_of(priced, where)
    budget = check_budget(budget)
    if budget is None and priced.max_cost is not None:
        if priced.max_cost <= 0:
            raise ConfigError(f"{where}: max_cost must be positive (USD)", hint="e.g. max_cost = 20")
        budget = float(priced.max_cost)
    if budget is not None and (rate is None or rate.hourly <= 0):
        why = no_rate or f"{where} costs nothing by the hour"
        raise ConfigError(f"a budget needs a price: {why}", hint=f"set {priced.rate_name} for {where}")
    seconds, basis = expected_seconds(project, notebook, backend)
    return Estimate(notebook, backend, rate, no_rate, seconds, basis, budget)


def estimate_for(
    project: Project, notebook: Path, backend: str | None = None, budget: float | None = None
) -> Estimate:
    """`estimate` for a notebook path (inside the project) and a backend (default: the project's)."""
    root = project.root.resolve()
    try:
        rel = notebook.resolve().relative_to(root).as_posix()
    except ValueError:
        raise InvalidInput(
            f"{notebook} is outside the project {root}", hint="run notebooks that live in the project"
        ) from None
    return estimate(project, rel, backend or project.settings.default_backend, budget)
