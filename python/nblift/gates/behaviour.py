"""The behaviour gate: the project's behaviour cases (see `cases`) run against a candidate's `predict`.

The cases module is a Python file in the project, loaded fresh for each run; each marked function gets the
evaluation data and returns a perturbed copy (invariance, directional) or `(inputs, expected)` (minimum
functionality). The evidence names every case, how many rows passed, and the first rows that did not.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound
from .cases import Case, cases_in

EXAMPLES = 5


def load_cases(path: Path) -> list[Case]:
    if not path.is_file():
        raise NotFound(f"no behaviour cases at {path}", hint="write them in a .py file in the project")
    name = f"nblift_behaviour_cases_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InvalidInput(f"{path} is not a Python module", hint="behaviour cases go in a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the project's code: report where it failed
        raise InvalidInput(
            f"cannot import {path}: {type(exc).__name__}: {exc}", hint="fix the cases module"
        ) from None
    finally:
        sys.modules.pop(name, None)
    found = cases_in(vars(module))
    if not found:
        raise InvalidInput(
            f"{path} has no behaviour cases",
            hint="mark functions with @invariance, @directional or @minimum_functionality from nblift.gates",
        )
    return found


def _predict(model: Any, inputs: Any) -> Any:
    import numpy as np

    predictions = np.asarray(model.predict(inputs))
    return predictions.reshape(len(predictions), -1)[:, 0] if predictions.ndim > 1 else predictions


def _numeric(values: Any) -> bool:
    return values.dtype.kind in "biuf"


def _rows_ok(case: Case, before: Any, after: Any) -> Any:
    import numpy as np

    if case.kind == "invariance":
        if _numeric(before) and _numeric(after):
            return np.abs(after.astype(float) - before.astype(float)) <= case.tolerance
        return before == after
    if not (_numeric(before) and _numeric(after)):
        raise InvalidInput(
            f"case {case.name}: a directional case needs numeric predictions (scores or probabilities)",
            hint="make the model's predict return numbers, or use an invariance case",
        )
    moved = after.astype(float) - before.astype(float)
    return moved >= -case.tolerance if case.direction == "increase" else moved <= case.tolerance


def run_case(case: Case, model: Any, data: Any) -> dict[str, Any]:
    import numpy as np

    evidence: dict[str, Any] = {
        "case": case.name,
        "kind": case.kind,
        "direction": case.direction,
        "tolerance": case.tolerance,
        "min_pass": case.min_pass,
    }
    try:
        if case.kind == "minimum_functionality":
            inputs, expected = case.func(data.copy())
            expected = np.asarray(expected)
            got = _predict(model, inputs)
            if len(got) != len(expected):
                raise InvalidInput(
                    f"case {case.name}: {len(expected)} expected values for {len(got)} inputs",
                    hint="return (inputs, expected) of the same length",
                )
            if _numeric(got) and _numeric(expected):
                ok = np.abs(got.astype(float) - expected.astype(float)) <= case.tolerance
            else:
                ok = got.astype(str) == expected.astype(str)
            before, after = expected, got
        else:
            perturbed = case.func(data.copy())
            if len(perturbed) != len(data):
                raise InvalidInput(
                    f"case {case.name}: returned {len(perturbed)} rows for {len(data)}",
                    hint="return a perturbed copy of the data, row for row",
                )
            before, after = _predict(model, data), _predict(model, perturbed)
            ok = _rows_ok(case, before, after)
    except InvalidInput as exc:
        return {**evidence, "passed": False, "rows": 0, "failed_rows": 0, "error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the project's case or the model failed: that is a verdict
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return {
            **evidence,
            "passed": False,
            "rows": 0,
            "failed_rows": 0,
            "error": f"{type(exc).__name__}: {exc} (line {where.lineno} of {Path(where.filename).name})",
        }
    rows = len(ok)
    bad = np.flatnonzero(~np.asarray(ok, dtype=bool))
    share = (rows - len(bad)) / rows if rows else 0.0
    label = "expected" if case.kind == "minimum_functionality" else "before"
    result = "got" if case.kind == "minimum_functionality" else "after"
    return {
        **evidence,
        "passed": rows > 0 and share >= case.min_pass,
        "rows": rows,
        "failed_rows": len(bad),
        "pass_share": share,
        "examples": [
            {"row": int(i), label: _plain(before[i]), result: _plain(after[i])} for i in bad[:EXAMPLES]
        ],
        **({} if rows else {"error": "the case produced no rows"}),
    }


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def run(model: Any, data: Any, cases_path: Path, tolerance: float | None = None) -> dict[str, Any]:
    """Every case of the module; `tolerance` (the policy's) applies to cases that set none."""
    import dataclasses

    results = []
    for case in load_cases(cases_path):
        if tolerance is not None and case.tolerance == 0.0:
            case = dataclasses.replace(case, tolerance=float(tolerance))
        results.append(run_case(case, model, data))
    return {"passed": all(r["passed"] for r in results), "rows": len(data), "cases": results}


def describe(evidence: dict[str, Any]) -> str:
    failed = [c for c in evidence["cases"] if not c["passed"]]
    if not failed:
        return f"{len(evidence['cases'])} case(s) passed on {evidence['rows']} rows"
    parts = []
    for c in failed:
        if c.get("error"):
            parts.append(f"{c['case']} ({c['kind']}): {c['error']}")
        else:
            parts.append(
                f"{c['case']} ({c['kind']}) broken on {c['failed_rows']} of {c['rows']} rows"
                f" (needs {c['min_pass']:.0%} to pass)"
            )
    return "; ".join(parts)
