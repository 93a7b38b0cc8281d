"""Per-column summaries of a table, the only thing drift tests read, cached by the table's content hash.

A numeric column is summarised in one pass, whatever its length:
- up to `EXACT_MAX` values: the sorted values themselves (tests on them are exact);
- few distinct values (at most `DISCRETE_MAX`): each value's count;
- otherwise a sketch: the `TAIL` lowest and highest values kept exactly (found from a fixed-seed sample of
  `SAMPLE` values), and `GRID` equal-width bins between them with their counts. Its CDF is exact at every
  kept tail value and at every bin edge, linear in between.
A categorical column (strings, booleans, categories) is summarised by each value's count.
Mean and standard deviation are exact.

Summaries live in `<state>/gates/summaries/<hash>.npz` (numpy arrays, no pickles), keyed by the table's
content hash and `FORMAT`; `STATS` counts columns summarised and tables read from the cache, so tests can tell
a reuse from a recomputation.
"""

from __future__ import annotations

import dataclasses
import io
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..fsutil import atomic_write, ensure_dir

if TYPE_CHECKING:
    import numpy as np

    from ..project import Project
    from .tables import Table

FORMAT = 1
EXACT_MAX = 5000
DISCRETE_MAX = 20
CATEGORIES_MAX = 5000
SAMPLE = 20_000
TAIL = 0.0005
GRID = 1024
OTHER = "(other)"


@dataclasses.dataclass
class SummaryStats:
    columns_computed: int = 0
    tables_loaded: int = 0
    tables_computed: int = 0
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        with self._lock:
            for key, value in counts.items():
                setattr(self, key, getattr(self, key) + value)

    def reset(self) -> None:
        with self._lock:
            self.columns_computed = self.tables_loaded = self.tables_computed = 0


STATS = SummaryStats()


@dataclasses.dataclass
class ColumnSummary:
    """One column. `kind` is "num" or "cat"; `shape` says how a numeric one is held: "exact", "discrete"
    or "sketch"."""

    name: str
    kind: str
    shape: str
    n: int
    nulls: int
    mean: float = float("nan")
    std: float = float("nan")
    lo: float = float("nan")
    hi: float = float("nan")
    arrays: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def minimum(self) -> float:
        a = self.arrays
        if self.shape == "exact" or self.shape == "discrete":
            key = "values" if self.shape == "exact" else "keys"
            return float(a[key][0]) if len(a[key]) else float("nan")
        return float(a["below"][0]) if len(a["below"]) else self.lo

    @property
    def maximum(self) -> float:
        a = self.arrays
        if self.shape == "exact" or self.shape == "discrete":
            key = "values" if self.shape == "exact" else "keys"
            return float(a[key][-1]) if len(a[key]) else float("nan")
        return float(a["above"][-1]) if len(a["above"]) else self.hi

    @property
    def n_unique(self) -> int | None:
        """Distinct values, when known exactly (None for a sketch: more than DISCRETE_MAX)."""
        if self.shape == "exact":
            import numpy as np

            v = self.arrays["values"]
            return int(len(v) and 1 + np.count_nonzero(np.diff(v)))
        if self.shape == "sketch":
            return None
        return len(self.arrays["keys"])

    def counts(self) -> dict[Any, int]:
        """Value -> count (categorical and discrete columns, and exact ones)."""
        import numpy as np

        if self.shape == "exact":
            keys, counts = np.unique(self.arrays["values"], return_counts=True)
        else:
            keys, counts = self.arrays["keys"], self.arrays["counts"]
        return {(k.item() if hasattr(k, "item") else k): int(c) for k, c in zip(keys, counts, strict=True)}

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """The fraction of values <= x (numeric columns)."""
        import numpy as np

        a, n = self.arrays, max(self.n, 1)
        if self.shape == "exact":
            return np.searchsorted(a["values"], x, side="right") / n
        if self.shape == "discrete":
            cum = np.concatenate([[0], np.cumsum(a["counts"])])
            return cum[np.searchsorted(a["keys"], x, side="right")] / n
        edges = np.linspace(self.lo, self.hi, GRID + 1)
        mid = np.interp(x, edges, np.concatenate([[0], np.cumsum(a["bins"])]))
        below = np.searchsorted(a["below"], x, side="right")
        above = np.searchsorted(a["above"], x, side="right")
        return (below + mid + above) / n

    def quantiles(self, u: np.ndarray) -> np.ndarray:
        """The values at fractions `u` (in (0, 1))."""
        import numpy as np

        a, n = self.arrays, max(self.n, 1)
        if self.shape == "exact":
            return a["values"][np.minimum((u * n).astype(np.int64), n - 1)]
        if self.shape == "discrete":
            cum = np.cumsum(a["counts"])
            return a["keys"][np.minimum(np.searchsorted(cum, u * n, side="right"), len(cum) - 1)]
        below, above = a["below"], a["above"]
        nb, nm = len(below), int(a["bins"].sum())
        xs = np.concatenate([below, np.linspace(self.lo, self.hi, GRID + 1), above])
        fs = np.concatenate(
            [
                np.arange(1, nb + 1),
                nb + np.concatenate([[0], np.cumsum(a["bins"])]),
                nb + nm + np.arange(1, len(above) + 1),
            ]
        ) / max(n, 1)
        return np.interp(u, fs, xs)

    def meta(self) -> dict[str, Any]:
        return {
            k: getattr(self, k) for k in ("name", "kind", "shape", "n", "nulls", "mean", "std", "lo", "hi")
        }


@dataclasses.dataclass
class TableSummary:
    digest: str
    rows: int
    columns: dict[str, ColumnSummary]
    cached: bool = False


def _numeric(name: str, column: Any) -> ColumnSummary:
    import numpy as np

    raw = np.asarray(column, dtype=np.float64)
    missing = np.isnan(raw)
    nulls = int(missing.sum())
    x = raw[~missing] if nulls else raw
    n = len(x)
    if n == 0:
        return ColumnSummary(name, "num", "exact", 0, nulls, arrays={"values": x})
    mean, std = float(x.mean()), float(x.std())
    if n <= EXACT_MAX:
        values = np.sort(x)
        if 1 + np.count_nonzero(np.diff(values)) > DISCRETE_MAX:
            return ColumnSummary(name, "num", "exact", n, nulls, mean, std, arrays={"values": values})
        keys, counts = np.unique(values, return_counts=True)
        return ColumnSummary(
            name, "num", "discrete", n, nulls, mean, std, arrays={"keys": keys, "counts": counts}
        )
    sample = np.sort(x[np.random.default_rng(0).integers(0, n, SAMPLE)])
    if 1 + np.count_nonzero(np.diff(sample)) <= DISCRETE_MAX:
        keys, counts = np.unique(x, return_counts=True)
        if len(keys) <= DISCRETE_MAX * 5:
            return ColumnSummary(
                name, "num", "discrete", n, nulls, mean, std, arrays={"keys": keys, "counts": counts}
            )
    k = int(TAIL * SAMPLE)
    lo, hi = float(sample[k]), float(sample[-k - 1])
    if hi <= lo:
        lo, hi = float(sample[0]), float(sample[-1]) + 1e-12 * max(1.0, abs(sample[-1]))
    slots = (x - lo) * ((GRID - 1e-6) / (hi - lo))
    np.floor(slots, out=slots)
    np.clip(slots, -1, GRID, out=slots)
    index = slots.astype(np.int64)
    index += 1
    binned = np.bincount(index, minlength=GRID + 2)
    below = np.sort(x[index == 0]) if binned[0] else x[:0]
    above = np.sort(x[index == GRID + 1]) if binned[-1] else x[:0]
    return ColumnSummary(
        name,
        "num",
        "sketch",
        n,
        nulls,
        mean,
        std,
        lo,
        hi,
        {"below": below, "above": above, "bins": binned[1:-1].astype(np.int64)},
    )


def _categorical(name: str, column: Any) -> ColumnSummary:
    import numpy as np
    import pandas as pd

    series = pd.Series(column)
    counts = series.value_counts(dropna=True)
    nulls = int(len(series) - counts.sum())
    keys = np.array([str(k) for k in counts.index], dtype=str)
    values = counts.to_numpy(dtype=np.int64)
    if len(keys) > CATEGORIES_MAX:
        rest = int(values[CATEGORIES_MAX - 1 :].sum())
        keys = np.append(keys[: CATEGORIES_MAX - 1], OTHER)
        values = np.append(values[: CATEGORIES_MAX - 1], rest)
    order = np.argsort(keys, kind="stable")
    return ColumnSummary(
        name,
        "cat",
        "discrete",
        int(values.sum()),
        nulls,
        arrays={"keys": keys[order], "counts": values[order]},
    )


def is_numeric(dtype: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def summarise_frame(frame: Any) -> dict[str, ColumnSummary]:
    """Summaries of every column of a DataFrame (columns on a small thread pool: numpy releases the GIL)."""
    import concurrent.futures
    import os

    def one(name: Any) -> ColumnSummary:
        column = frame[name]
        if is_numeric(column.dtype):
            return _numeric(str(name), column.to_numpy(dtype="float64", na_value=float("nan")))
        return _categorical(str(name), column)

    workers = min(4, os.cpu_count() or 1, max(1, len(frame.columns)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        found = list(pool.map(one, list(frame.columns)))
    STATS.add(columns_computed=len(found))
    return {c.name: c for c in found}


def _cache_file(project: Project, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return project.state_dir / "gates" / "summaries" / f"{algorithm}-{hexdigest}.v{FORMAT}.npz"


def _save(path: Path, summary: TableSummary) -> None:
    import numpy as np

    arrays: dict[str, np.ndarray] = {}
    metas = []
    for i, column in enumerate(summary.columns.values()):
        metas.append(column.meta())
        for key, value in column.arrays.items():
            arrays[f"{i}.{key}"] = value
    head = {"format": FORMAT, "digest": summary.digest, "rows": summary.rows, "columns": metas}
    arrays["meta"] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    ensure_dir(path.parent)
    atomic_write(path, buffer.getvalue())


def _load(path: Path, digest: str) -> TableSummary | None:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            head = json.loads(bytes(data["meta"]).decode())
            if head.get("format") != FORMAT or head.get("digest") != digest:
                return None
            columns = {}
            for i, meta in enumerate(head["columns"]):
                prefix = f"{i}."
                arrays = {k[len(prefix) :]: data[k] for k in data.files if k.startswith(prefix)}
                columns[meta["name"]] = ColumnSummary(**meta, arrays=arrays)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # damaged or from another format: computed again
    return TableSummary(digest, int(head["rows"]), columns, cached=True)


def summarise(project: Project | None, table: Table) -> TableSummary:
    """The table's summary: from the project's cache when its content hash was summarised before."""
    path = _cache_file(project, table.digest) if project is not None else None
    if path is not None and path.is_file():
        found = _load(path, table.digest)
        if found is not None:
            STATS.add(tables_loaded=1)
            return found
    frame = table.frame()
    summary = TableSummary(table.digest, len(frame), summarise_frame(frame))
    STATS.add(tables_computed=1)
    if path is not None:
        project.ensure_state_dir()  # type: ignore[union-attr]
        _save(path, summary)
    return summary
