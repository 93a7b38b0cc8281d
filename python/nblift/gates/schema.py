"""The data gate: a pandera schema inferred from training data, saved as YAML for people to edit, and checked
against the data a candidate is evaluated on.

Inference keeps pandera's dtype and nullability, bounds numbers by the observed range widened by `MARGIN` of
its width each way (new data rarely hits the training extremes exactly), and adds the allowed values of
text columns with at most `CATEGORIES_MAX` distinct values, so an unseen category is a violation.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound
from ..fsutil import atomic_write, ensure_dir

if TYPE_CHECKING:
    from ..project import Project

CATEGORIES_MAX = 50
#: Inferred numeric ranges are the training data's, widened by this share of their width each way.
MARGIN = 0.1
EXAMPLES = 5


def _pandera() -> Any:
    try:
        import pandera.pandas as pa
    except ImportError:
        raise InvalidInput(
            "the data gate needs pandera",
            hint='install nblift with the gates extra: pip install "nblift[gates]"',
        ) from None
    return pa


def _widened(column: Any) -> tuple[float, float] | None:
    """The observed range widened by `MARGIN` of its width each way (whole numbers for integer columns;
    never below 0 for a column that had no negative value)."""
    import math

    import pandas as pd

    values = column.dropna()
    if values.empty:
        return None
    low, high = float(values.min()), float(values.max())
    margin = MARGIN * (high - low)
    if pd.api.types.is_integer_dtype(column.dtype):
        margin = math.ceil(margin)
    lower, upper = low - margin, high + margin
    if low >= 0:
        lower = max(lower, 0.0)
    if pd.api.types.is_integer_dtype(column.dtype):
        return int(lower), int(upper)
    return lower, upper


def infer(frame: Any) -> Any:
    """A pandera DataFrameSchema describing `frame`."""
    import pandas as pd

    pa = _pandera()
    schema = pa.infer_schema(frame.reset_index(drop=True))
    schema.index = None
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column.dtype) or pd.api.types.is_datetime64_any_dtype(column.dtype):
            continue
        if pd.api.types.is_numeric_dtype(column.dtype):
            bounds = _widened(column)
            if bounds is not None:
                schema = schema.update_column(name, checks=[pa.Check.ge(bounds[0]), pa.Check.le(bounds[1])])
            continue
        values = column.dropna().unique()
        if 0 < len(values) <= CATEGORIES_MAX:
            allowed = sorted(str(v) for v in values)
            schema = schema.update_column(name, checks=[pa.Check.isin(allowed)])
    return schema


def infer_file(project: Project | None, data: Any, out: Path) -> dict[str, Any]:
    """Infer the schema of a data file (or `PATH@VERSION`) and write it as YAML to `out`."""
    from .tables import open_table

    table = open_table(project, data)
    frame = table.frame()
    schema = infer(frame)
    text = schema.to_yaml()
    ensure_dir(out.parent)
    atomic_write(out, text.encode())
    return {
        "schema": str(out),
        "data": table.label,
        "digest": table.digest,
        "rows": len(frame),
        "columns": {str(k): str(v.dtype) for k, v in schema.columns.items()},
    }


def load(path: Path) -> Any:
    pa = _pandera()
    if not path.is_file():
        raise NotFound(f"no schema at {path}", hint="write one with `nblift gates infer-schema DATA -o PATH`")
    try:
        return pa.DataFrameSchema.from_yaml(path.read_text(encoding="utf-8"))
    except Exception as exc:  # noqa: BLE001 - pandera raises many kinds for a bad file: say which file
        raise InvalidInput(
            f"{path} is not a pandera schema: {exc}", hint="fix the YAML or infer it again"
        ) from None


def check(schema: Any, frame: Any) -> dict[str, Any]:
    """Validate `frame`: passed, and per failing check its column, the check, how many rows broke it and
    a few of the failing values."""
    pa = _pandera()
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        failures = []
        for (column, check_name), group in cases.groupby(
            [cases["column"].fillna("(table)"), cases["check"].astype(str)], sort=True
        ):
            examples = [str(v) for v in group["failure_case"].head(EXAMPLES)]
            failures.append(
                {"column": str(column), "check": check_name, "count": len(group), "examples": examples}
            )
        return {"passed": False, "rows": len(frame), "failures": failures}
    except pa.errors.SchemaError as exc:
        return {
            "passed": False,
            "rows": len(frame),
            "failures": [{"column": "(table)", "check": str(exc)[:300], "count": 1, "examples": []}],
        }
    return {"passed": True, "rows": len(frame), "failures": []}


def describe(evidence: dict[str, Any]) -> str:
    if evidence["passed"]:
        return f"{evidence['rows']} rows match the schema"
    parts = [
        f"{f['column']}: {f['check']} ({f['count']} rows, e.g. {', '.join(f['examples'][:3])})"
        if f["examples"]
        else f"{f['column']}: {f['check']}"
        for f in evidence["failures"]
    ]
    return "schema violated: " + "; ".join(parts)
