"""Per-column drift tests between a reference table and a current one, computed from their summaries.

Tests (the names the policy, the CLI and the JSON use) and their default thresholds:

- `ks`: two-sample Kolmogorov-Smirnov p-value; drift when p <= 0.05;
- `chisquare`: chi-squared p-value of the current counts against the reference proportions; drift when
  p < 0.05;
- `wasserstein`: Wasserstein-1 distance divided by the reference's standard deviation; drift when >= 0.1;
- `jensenshannon`: Jensen-Shannon distance (natural log) of the two distributions; drift when >= 0.1;
- `psi`: population stability index; drift when >= 0.1 (only on request).

`auto` picks as Evidently's data drift preset does: with at most 1,000 reference values, `ks` for a numeric
column with more than 5 distinct values and `chisquare` otherwise; above that, `wasserstein` for a numeric
column with more than 5 distinct values and `jensenshannon` otherwise (Evidently's z-test for two-valued
columns is `chisquare` here). Numeric columns with more than 20 distinct values are binned for
`chisquare`, `jensenshannon` and `psi` into Sturges bins over the joint range, as Evidently bins them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np

    from ..project import Project
    from .summaries import ColumnSummary

TESTS = ("ks", "chisquare", "wasserstein", "jensenshannon", "psi")
THRESHOLDS = {"ks": 0.05, "chisquare": 0.05, "wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.1}
P_VALUES = frozenset({"ks", "chisquare"})
SMALL = 1000
_QUANTILES = 20_000


@dataclasses.dataclass
class ColumnRule:
    test: str = "auto"
    threshold: float | None = None
    skip: bool = False


@dataclasses.dataclass
class DriftOptions:
    """Which test and threshold each column gets, and how many drifted columns fail the verdict."""

    default: ColumnRule = dataclasses.field(default_factory=ColumnRule)
    columns: dict[str, ColumnRule] = dataclasses.field(default_factory=dict)
    #: The verdict fails when more than this share of the compared columns drifted (0: any one).
    max_share: float = 0.0

    def rule(self, column: str) -> ColumnRule:
        mine = self.columns.get(column)
        if mine is None:
            return self.default
        return ColumnRule(
            mine.test if mine.test != "auto" else self.default.test,
            mine.threshold if mine.threshold is not None else self.default.threshold,
            mine.skip,
        )


def check_test(test: str, where: str) -> str:
    if test != "auto" and test not in TESTS:
        raise InvalidInput(f"{where}: unknown drift test {test!r}", hint=f"tests: auto, {', '.join(TESTS)}")
    return test


def options_from(table: Mapping[str, Any], where: str) -> DriftOptions:
    """DriftOptions from a policy table: `test`, `threshold`, `max_share`, `columns = {NAME = {test,
    threshold, skip}}`."""

    def rule(raw: Mapping[str, Any], at: str) -> ColumnRule:
        unknown = set(raw) - {"test", "threshold", "skip"}
        if unknown:
            raise InvalidInput(
                f"{at}: unknown key(s) {', '.join(sorted(unknown))}", hint="test, threshold, skip"
            )
        threshold = raw.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
            raise InvalidInput(f"{at}: threshold must be a number", hint="threshold = 0.1")
        return ColumnRule(
            check_test(str(raw.get("test", "auto")), at),
            None if threshold is None else float(threshold),
            bool(raw.get("skip", False)),
        )

    columns = table.get("columns", {})
    if not isinstance(columns, Mapping) or not all(isinstance(v, Mapping) for v in columns.values()):
        raise InvalidInput(
            f"{where}: columns must be a table of tables", hint='columns = {age = {test = "psi"}}'
        )
    share = table.get("max_share", 0.0)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise InvalidInput(f"{where}: max_share must be a number from 0 to 1", hint="max_share = 0.0")
    return DriftOptions(
        rule({k: v for k, v in table.items() if k in ("test", "threshold")}, where),
        {str(k): rule(v, f"{where}, column {k}") for k, v in columns.items()},
        float(share),
    )


@dataclasses.dataclass
class ColumnDrift:
    column: str
    kind: str
    test: str
    value: float | None
    threshold: float
    drifted: bool
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        value = self.value
        return {
            **dataclasses.asdict(self),
            "value": None if value is None or math.isnan(value) else (1e308 if math.isinf(value) else value),
        }


@dataclasses.dataclass
class DriftResult:
    reference: str
    current: str
    reference_digest: str
    current_digest: str
    rows: tuple[int, int]
    columns: list[ColumnDrift]
    max_share: float
    cached: tuple[bool, bool]
    seconds: float
    report: str | None = None
    summaries: Any = dataclasses.field(default=None, repr=False)

    @property
    def drifted(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def share(self) -> float:
        return len(self.drifted) / len(self.columns) if self.columns else 0.0

    @property
    def passed(self) -> bool:
        return self.share <= self.max_share if self.max_share > 0 else not self.drifted

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "drift",
            "passed": self.passed,
            "reference": {"table": self.reference, "digest": self.reference_digest, "rows": self.rows[0]},
            "current": {"table": self.current, "digest": self.current_digest, "rows": self.rows[1]},
            "drifted": self.drifted,
            "share": self.share,
            "max_share": self.max_share,
            "summaries_cached": {"reference": self.cached[0], "current": self.cached[1]},
            "seconds": round(self.seconds, 3),
            "report": self.report,
            "columns": [c.to_json() for c in self.columns],
        }


def _distinct(ref: ColumnSummary, cur: ColumnSummary) -> int | None:
    if ref.n_unique is None or cur.n_unique is None:
        return None
    return len(set(ref.counts()) | set(cur.counts()))


def pick_test(ref: ColumnSummary, cur: ColumnSummary) -> str:
    """Evidently's default choice (see the module docstring)."""
    distinct = _distinct(ref, cur) if ref.kind == "num" else None
    few = distinct is not None and distinct <= 5
    if ref.n <= SMALL:
        return "ks" if ref.kind == "num" and not few else "chisquare"
    return "wasserstein" if ref.kind == "num" and not few else "jensenshannon"


def _binned(ref: ColumnSummary, cur: ColumnSummary) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both columns over shared categories (or Sturges bins of the joint range)."""
    import numpy as np

    if ref.kind == "cat" or (ref.n_unique is not None and ref.n_unique <= 20):
        mine, theirs = ref.counts(), cur.counts()
        keys = sorted(set(mine) | set(theirs), key=lambda k: (str(type(k)), k))
        return (
            np.array([mine.get(k, 0) for k in keys], dtype=float),
            np.array([theirs.get(k, 0) for k in keys], dtype=float),
        )
    low, high = min(ref.minimum, cur.minimum), max(ref.maximum, cur.maximum)
    bins = max(1, math.ceil(math.log2(ref.n + cur.n) + 1)) if high > low else 1
    edges = np.linspace(low, high, bins + 1)

    def counts(s: ColumnSummary) -> np.ndarray:
        cdf = s.cdf(edges[1:])
        cdf[-1] = 1.0
        return np.diff(np.concatenate([[0.0], cdf])) * s.n

    return counts(ref), counts(cur)


def _fill_zeros(p: np.ndarray) -> np.ndarray:
    import numpy as np

    nonzero = p[p != 0]
    if len(nonzero) == 0:
        return p
    small = nonzero.min()
    return np.where(p == 0, small / 1e6 if small <= 1e-4 else 1e-4, p)


def run_test(test: str, ref: ColumnSummary, cur: ColumnSummary) -> float:
    import numpy as np
    from scipy import stats
    from scipy.spatial import distance

    if test in ("ks", "wasserstein") and ref.kind != "num":
        raise InvalidInput(f"column {ref.name}: {test} needs numbers", hint="use chisquare or jensenshannon")
    exact = ref.shape == "exact" and cur.shape == "exact"
    if test == "ks":
        if exact:
            return float(stats.ks_2samp(ref.arrays["values"], cur.arrays["values"])[1])
        points = np.unique(np.concatenate([ref.quantiles(_grid()), cur.quantiles(_grid())]))
        d = float(np.max(np.abs(ref.cdf(points) - cur.cdf(points))))
        en = ref.n * cur.n / (ref.n + cur.n)
        return float(stats.kstwo.sf(d, max(1, round(en))))
    if test == "wasserstein":
        norm = max(ref.std, 0.001)
        if exact:
            return float(stats.wasserstein_distance(ref.arrays["values"], cur.arrays["values"])) / norm
        u = _grid()
        return float(np.mean(np.abs(ref.quantiles(u) - cur.quantiles(u)))) / norm
    r, c = _binned(ref, cur)
    if test == "chisquare":
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = r * (cur.n / max(ref.n, 1))
            if np.any((expected == 0) & (c > 0)):
                return 0.0  # values the reference never had: as far from it as can be
            keep = expected > 0
            return float(stats.chisquare(c[keep], expected[keep] * c[keep].sum() / expected[keep].sum())[1])
    p, q = r / max(r.sum(), 1), c / max(c.sum(), 1)
    if test == "jensenshannon":
        return float(distance.jensenshannon(p, q))
    p, q = _fill_zeros(p), _fill_zeros(q)
    return float(np.sum((p - q) * np.log(p / q)))


def _grid() -> np.ndarray:
    import numpy as np

    return (np.arange(_QUANTILES) + 0.5) / _QUANTILES


def column_drift(name: str, ref: ColumnSummary, cur: ColumnSummary, rule: ColumnRule) -> ColumnDrift:
    if ref.kind != cur.kind:
        threshold = rule.threshold if rule.threshold is not None else 0.0
        return ColumnDrift(
            name, ref.kind, rule.test, None, threshold, True, f"{ref.kind} in the reference, {cur.kind} now"
        )
    if ref.n == 0 or cur.n == 0:
        which = "reference" if ref.n == 0 else "current table"
        return ColumnDrift(name, ref.kind, rule.test, None, 0.0, cur.n != ref.n, f"no values in the {which}")
    test = pick_test(ref, cur) if rule.test == "auto" else rule.test
    threshold = THRESHOLDS[test] if rule.threshold is None else rule.threshold
    value = run_test(test, ref, cur)
    drifted = (
        value <= threshold if test == "ks" else value < threshold if test in P_VALUES else value >= threshold
    )
    word = "p-value" if test in P_VALUES else "distance" if test != "psi" else "PSI"
    return ColumnDrift(name, ref.kind, test, value, threshold, bool(drifted), f"{word} {value:.4g}")


def compare(
    project: Project | None,
    reference: Any,
    current: Any,
    options: DriftOptions | None = None,
    *,
    base: Path | None = None,
) -> DriftResult:
    """Drift of every column of `current` from `reference` (paths, `PATH@VERSION`s or DataFrames; relative
    paths from `base` when given)."""
    from .summaries import summarise
    from .tables import open_table

    options = options or DriftOptions()
    started = time.perf_counter()
    ref_table = open_table(project, reference, label="reference", base=base)
    cur_table = open_table(project, current, label="current", base=base)
    ref = summarise(project, ref_table)
    cur = summarise(project, cur_table)
    unknown = set(options.columns) - set(ref.columns) - set(cur.columns)
    if unknown:
        raise InvalidInput(
            f"column(s) {', '.join(sorted(unknown))} named in the drift options are in neither table",
            hint=f"columns: {', '.join(list(ref.columns)[:20])}",
        )
    verdicts = []
    for name, summary in ref.columns.items():
        rule = options.rule(name)
        if rule.skip:
            continue
        if name not in cur.columns:
            verdicts.append(
                ColumnDrift(name, summary.kind, rule.test, None, 0.0, True, "missing from current")
            )
            continue
        verdicts.append(column_drift(name, summary, cur.columns[name], rule))
    for name in cur.columns:
        if name not in ref.columns and not options.rule(name).skip:
            verdicts.append(
                ColumnDrift(name, cur.columns[name].kind, "auto", None, 0.0, True, "not in the reference")
            )
    return DriftResult(
        ref_table.label,
        cur_table.label,
        ref.digest,
        cur.digest,
        (ref.rows, cur.rows),
        verdicts,
        options.max_share,
        (ref.cached, cur.cached),
        time.perf_counter() - started,
        summaries=(ref, cur),
    )
