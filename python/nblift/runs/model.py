"""A run's types, in one place: its state, its specification, the handle a backend returns and the run as
every front door shows it.

The specification (`RunSpec`) is the only thing written for a run (`request.json` in its record) and the
only thing a runner reads: the service builds it from what a door received, a backend that sends the run
elsewhere writes a copy with its own `tracking` (`RunSpec.with_tracking`), and the runner reads it back
with `RunSpec.read`. Nothing adds private keys to it. Kept import-light: the runner on a target imports it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The specification's file in a run folder (the name older records used, kept so they stay readable).
SPEC_FILE = "request.json"


class RunState(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    LOST = "LOST"

    @property
    def terminal(self) -> bool:
        return self not in {RunState.PENDING, RunState.RUNNING}


class SpecError(ValueError):
    """A run specification that is not what this nblift writes (a damaged or foreign file)."""


def _typed(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if key not in data or data[key] is None:
        if default is ...:
            raise SpecError(f"the run specification has no {key!r}")
        return default
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise SpecError(f"the run specification's {key!r} is a {type(value).__name__}")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


@dataclasses.dataclass(frozen=True)
class TrackingSpec:
    """Where the run's MLflow run is recorded: an embedded store in the project folder `project`, or the
    tracking server `uri`; in the experiment `experiment` (None: the project's default).

    `at_home`: the store is a stand-in in a remote run folder, and the MLflow run is better recorded at home
    from what the run folder brings back (events, executed notebook, artifacts). The runner then leaves
    MLflow alone unless the notebook logs to MLflow itself (its kernel needs a run to log into)."""

    project: str | None = None
    uri: str | None = None
    experiment: str | None = None
    at_home: bool = False

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in (None, False)}

    @classmethod
    def from_json(cls, data: object) -> TrackingSpec:
        if not isinstance(data, Mapping):
            raise SpecError("the run specification's 'tracking' is not an object")
        return cls(
            project=_typed(data, "project", str, None),
            uri=_typed(data, "uri", str, None),
            experiment=_typed(data, "experiment", str, None),
            at_home=_typed(data, "at_home", bool, False),
        )


#: The share of a run's budget at which it says so (the runner's `budget.warning`, the doors' warning).
BUDGET_WARN_AT = 0.8


@dataclasses.dataclass(frozen=True)
class CostSpec:
    """What the run costs by the hour where it goes (`hourly`, USD; None: unknown, with `source` saying why)
    and the most it may cost (`budget`, USD): the runner stops it there (TIMED_OUT, reason "budget")."""

    hourly: float | None = None
    source: str = ""
    as_of: str | None = None  # the price table's date, when the rate comes from it
    budget: float | None = None
    expected_seconds: float | None = None  # the estimate's duration, when one was made
    estimate: str = ""  # the estimate as every door showed it at launch

    @property
    def budget_seconds(self) -> float | None:
        """How long the run may go before the budget is spent (None: no budget, or free)."""
        if self.budget is None or not self.hourly:
            return None
        return self.budget / self.hourly * 3600

    def cost_of(self, seconds: float) -> float | None:
        return None if self.hourly is None else round(self.hourly * max(seconds, 0.0) / 3600, 6)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: object) -> CostSpec | None:
        if data is None:
            return None
        if not isinstance(data, Mapping):
            raise SpecError("the run specification's 'cost' is not an object")
        number = (int, float)
        hourly, budget = _typed(data, "hourly", number, None), _typed(data, "budget", number, None)
        expected = _typed(data, "expected_seconds", number, None)
        return cls(
            hourly=None if hourly is None else float(hourly),
            source=_typed(data, "source", str, ""),
            as_of=_typed(data, "as_of", str, None),
            budget=None if budget is None else float(budget),
            expected_seconds=None if expected is None else float(expected),
            estimate=_typed(data, "estimate", str, ""),
        )


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Everything a runner needs to execute one run, and everything that was asked for it."""

    id: str
    notebook: str  # relative to the project (and to the bundle's root)
    backend: str  # `KIND` or `KIND:TARGET`
    bundle: str  # the bundle's object id in the object store
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    timeout: float | None = None  # seconds
    run_name: str = ""
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    tracking: TrackingSpec = dataclasses.field(default_factory=TrackingSpec)
    created: float = dataclasses.field(default_factory=time.time)
    bundle_new_bytes: int = 0
    submission_id: str | None = None
    cost: CostSpec | None = None
    #: The data manifest of the run's inputs (`nblift.data.manifest`, JSON) when it was launched.
    data: dict[str, Any] | None = None
    #: A remote target fetches URI inputs (S3, lakeFS, ...) from their source instead of from home.
    data_from_source: bool = False
    #: The run this one continues from its last checkpoint (`nblift run --resume RUN`): the backend brings
    #: that run's checkpoint along and the runner goes on from the cell after it.
    resume_from: str | None = None

    def with_tracking(self, tracking: TrackingSpec) -> RunSpec:
        """The same run, recorded elsewhere (a backend's copy for its target)."""
        return dataclasses.replace(self, tracking=tracking)

    def to_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "tracking": self.tracking.to_json(),
            "cost": self.cost.to_json() if self.cost else None,
        }

    @classmethod
    def from_json(cls, data: object) -> RunSpec:
        if not isinstance(data, Mapping):
            raise SpecError("the run specification is not an object")
        timeout = _typed(data, "timeout", (int, float), None)
        return cls(
            id=_typed(data, "id", str),
            notebook=_typed(data, "notebook", str),
            backend=_typed(data, "backend", str),
            bundle=_typed(data, "bundle", str),
            parameters=dict(_typed(data, "parameters", dict, {})),
            timeout=None if timeout is None else float(timeout),
            run_name=_typed(data, "run_name", str, ""),
            tags={str(k): str(v) for k, v in _typed(data, "tags", dict, {}).items()},
            tracking=TrackingSpec.from_json(_typed(data, "tracking", dict, {})),
            created=float(_typed(data, "created", (int, float), 0.0)),
            bundle_new_bytes=int(_typed(data, "bundle_new_bytes", int, 0)),
            submission_id=_typed(data, "submission_id", str, None),
            cost=CostSpec.from_json(data.get("cost")),
            data=_typed(data, "data", dict, None),
            data_from_source=_typed(data, "data_from_source", bool, False),
            resume_from=_typed(data, "resume_from", str, None),
        )

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1)

    @classmethod
    def read(cls, folder: Path) -> RunSpec:
        """The specification in run folder `folder` (OSError, SpecError when missing or damaged)."""
        try:
            data = json.loads((folder / SPEC_FILE).read_bytes())
        except ValueError as exc:
            raise SpecError(f"the run specification is not JSON: {exc}") from None
        return cls.from_json(data)


@dataclasses.dataclass(frozen=True)
class RunHandle:
    """Identifies one started run on one backend; `details` is JSON-ready and kept in the record."""

    backend: str
    run_id: str
    native_id: str
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunHandle:
        return cls(str(data["backend"]), str(data["run_id"]), str(data["native_id"]), dict(data["details"]))


@dataclasses.dataclass
class RunInfo:
    """One run as every front door shows it."""

    id: str
    notebook: str
    backend: str
    state: str
    parameters: dict[str, Any]
    created: float
    started: float | None
    finished: float | None
    error: dict[str, Any] | None
    mlflow: dict[str, Any] | None
    executed: str | None
    bundle: str
    timeout: float | None
    #: USD: `hourly` rate and its `source`, `budget`, the `estimate` made at launch, and what it `spent`
    #: (the final cost once it ended, else so far); None: nothing known of its price.
    cost: dict[str, Any] | None = None

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.finished or time.time()) - self.started

    def to_json(self) -> dict[str, Any]:
        from .params import value_text

        texts = {k: value_text(v) for k, v in self.parameters.items()}
        return {**dataclasses.asdict(self), "duration": self.duration, "parameter_text": texts}
