"""nblift's drift report beside Evidently's data drift preset, on the same two tables, in one run.

    python benchmarks/bench_drift.py [--rows 200000] [--numeric 50] [--categorical 10] [--evidently PYTHON]

Two passes: a large one (defaults: 200,000 rows; Evidently picks Wasserstein for numbers and
Jensen-Shannon for categories) and a small one (1,000 rows: Kolmogorov-Smirnov and chi-squared). Each pass
writes both tables as Parquet, then times, from the files, nblift (`drift.compare` plus the static HTML
report, cold summary cache) and Evidently (`Report([DataDriftPreset()])` run plus its HTML report). It prints
both times, their ratio, nblift's time again with the summaries cached, and how many per-column verdicts
agree (target: all of them, and nblift at least 3x faster on the large pass).

Evidently needs a pandas older than the one nblift's environment has, so it is not installed beside
nblift: it runs in its own virtual environment, made with
`uv venv /tmp/evvenv && uv pip install -p /tmp/evvenv/bin/python evidently "pandas<3"`, as a subprocess
(--evidently names its Python; default /tmp/evvenv/bin/python). Its legacy report API is used because it
returns each column's test, score and verdict.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

EVIDENTLY = r"""
import json, sys, time
import pandas as pd
t0 = time.perf_counter()
ref, cur = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
t_read = time.perf_counter()
from evidently.legacy.metric_preset import DataDriftPreset
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report
t1 = time.perf_counter()
numeric = [c for c in ref.columns if c.startswith("n")]
categorical = [c for c in ref.columns if c.startswith("c")]
report = Report(metrics=[DataDriftPreset()])
report.run(reference_data=ref, current_data=cur,
           column_mapping=ColumnMapping(numerical_features=numeric, categorical_features=categorical))
result = report.as_dict()
report.save_html(sys.argv[3])
t2 = time.perf_counter()
columns = {}
for metric in result["metrics"]:
    for name, col in (metric["result"].get("drift_by_columns") or {}).items():
        columns[name] = {
            "test": col["stattest_name"], "value": col["drift_score"], "drifted": col["drift_detected"]
        }
print(json.dumps({"seconds": (t_read - t0) + (t2 - t1), "import_seconds": t1 - t_read, "columns": columns}))
"""

NAMES = {
    "wasserstein": "Wasserstein distance (normed)",
    "jensenshannon": "Jensen-Shannon distance",
    "ks": "K-S p_value",
    "chisquare": "chi-square p_value",
}


def tables(rows: int, numeric: int, categorical: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current tables: a fifth of the columns shifted a little, a fifth a lot."""
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    for i in range(numeric):
        shift = 0.0 if i % 5 < 3 else (0.05 if i % 5 == 3 else 0.5)
        ref[f"n{i}"] = rng.normal(10 * i, 1 + i % 3, rows)
        cur[f"n{i}"] = rng.normal(10 * i + shift * (1 + i % 3), 1 + i % 3, rows)
    levels = np.array([f"v{k}" for k in range(6)])
    for i in range(categorical):
        p = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
        q = p if i % 3 else np.array([0.15, 0.25, 0.2, 0.1, 0.1, 0.2])
        ref[f"c{i}"] = rng.choice(levels, rows, p=p)
        cur[f"c{i}"] = rng.choice(levels, rows, p=q)
    return pd.DataFrame(ref), pd.DataFrame(cur)


def run_nblift(folder: Path, ref: Path, cur: Path) -> tuple[float, float, dict[str, dict[str, object]]]:
    from nblift.gates import drift
    from nblift.gates.report import write_html
    from nblift.project import Project

    project_dir = Path(tempfile.mkdtemp(dir=folder))
    (project_dir / "pyproject.toml").write_text('[project]\nname = "bench"\n')
    project = Project.discover(project_dir)
    warm_up = pd.DataFrame({"n": np.arange(50.0), "c": ["a", "b"] * 25})
    drift.compare(None, warm_up, warm_up)  # imports (scipy, pyarrow) are not counted, as for Evidently
    started = time.perf_counter()
    result = drift.compare(project, str(ref), str(cur))
    write_html(result, folder / "nblift.html")
    cold = time.perf_counter() - started
    started = time.perf_counter()
    again = drift.compare(project, str(ref), str(cur))
    write_html(again, folder / "nblift-again.html")
    warm = time.perf_counter() - started
    assert again.cached == (True, True)
    return (
        cold,
        warm,
        {c.column: {"test": c.test, "value": c.value, "drifted": c.drifted} for c in result.columns},
    )


def one_pass(label: str, rows: int, args: argparse.Namespace, folder: Path) -> bool:
    ref, cur = tables(rows, args.numeric, args.categorical, seed=rows)
    ref_path, cur_path = folder / f"{label}-ref.parquet", folder / f"{label}-cur.parquet"
    ref.to_parquet(ref_path)
    cur.to_parquet(cur_path)
    cold, warm, mine = run_nblift(folder, ref_path, cur_path)
    out = subprocess.run(
        [args.evidently, "-c", EVIDENTLY, str(ref_path), str(cur_path), str(folder / "evidently.html")],
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    shared = [
        c
        for c in mine
        if c in theirs["columns"] and theirs["columns"][c]["test"] == NAMES.get(mine[c]["test"])
    ]
    agree = [c for c in shared if bool(mine[c]["drifted"]) == bool(theirs["columns"][c]["drifted"])]
    worst = max(
        (abs(float(mine[c]["value"]) - float(theirs["columns"][c]["value"])) for c in shared), default=0.0
    )
    evidently_s = theirs["seconds"]
    print(f"{label}: {rows:,} rows x {args.numeric + args.categorical} columns")
    print(f"  tests: {sorted({mine[c]['test'] for c in mine})}")
    print(f"  nblift (cold summaries, + HTML): {cold:7.2f} s")
    print(f"  nblift (summaries cached, + HTML): {warm:7.2f} s")
    imported = f"its import, {theirs['import_seconds']:.1f} s, not counted"
    print(f"  Evidently DataDriftPreset (+ HTML): {evidently_s:7.2f} s  ({imported})")
    print(f"  ratio Evidently / nblift: {evidently_s / cold:5.1f}x cold, {evidently_s / warm:5.1f}x cached")
    print(
        f"  verdicts: {len(agree)} of {len(shared)} shared columns agree;"
        f" largest score difference {worst:.2g}"
    )
    drifted = sorted(c for c in mine if mine[c]["drifted"])
    print(
        f"  drifted (nblift): {len(drifted)}: {', '.join(drifted[:12])}{' ...' if len(drifted) > 12 else ''}"
    )
    return len(agree) == len(shared) == len(mine)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--numeric", type=int, default=50)
    parser.add_argument("--categorical", type=int, default=10)
    parser.add_argument("--evidently", default="/tmp/evvenv/bin/python", help="a Python with evidently")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        ok = one_pass("large", args.rows, args, Path(tmp))
        ok = one_pass("small", 1000, args, Path(tmp)) and ok
    print("same verdicts on every shared column" if ok else "VERDICTS DIFFER (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
