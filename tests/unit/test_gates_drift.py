"""Drift tests on summaries: the same numbers as scipy on the raw data (exactly for small samples, closely
for sketches), a shifted column found and a stable one not, per-column tests and thresholds, a wide table of
1,000,000 rows x 200 columns, and summaries reused from the cache by content hash."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from nblift.errors import InvalidInput
from nblift.gates import drift, summaries
from nblift.gates.drift import ColumnRule, DriftOptions
from nblift.project import Project


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "d"\n')
    return Project.discover(tmp_path)


def _by_column(result):
    return {c.column: c for c in result.columns}


def test_small_samples_use_ks_and_chisquare_exactly(project):
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 800), "c": rng.choice(list("abc"), 800, p=[0.5, 0.3, 0.2])})
    cur = pd.DataFrame({"x": rng.normal(0.4, 1, 600), "c": rng.choice(list("abc"), 600, p=[0.2, 0.3, 0.5])})
    cols = _by_column(drift.compare(project, ref, cur))
    assert cols["x"].test == "ks" and cols["c"].test == "chisquare"
    assert cols["x"].value == pytest.approx(stats.ks_2samp(ref["x"], cur["x"])[1])
    observed = cur["c"].value_counts().reindex(list("abc")).to_numpy()
    expected = ref["c"].value_counts().reindex(list("abc")).to_numpy() * 600 / 800
    assert cols["c"].value == pytest.approx(stats.chisquare(observed, expected)[1])
    assert cols["x"].drifted and cols["c"].drifted


def test_large_samples_use_wasserstein_and_jensenshannon_close_to_scipy(project):
    rng = np.random.default_rng(2)
    n = 200_000
    ref = pd.DataFrame(
        {"x": rng.lognormal(0, 1, n), "y": rng.normal(0, 1, n), "c": rng.choice(list("abcd"), n)}
    )
    cur = pd.DataFrame(
        {
            "x": rng.lognormal(0.2, 1, n),
            "y": rng.normal(0, 1, n),
            "c": rng.choice(list("abcd"), n, p=[0.4, 0.2, 0.2, 0.2]),
        }
    )
    cols = _by_column(drift.compare(project, ref, cur))
    assert {c.test for c in cols.values()} == {"wasserstein", "jensenshannon"}
    exact = stats.wasserstein_distance(ref["x"], cur["x"]) / ref["x"].std(ddof=0)
    assert cols["x"].value == pytest.approx(exact, rel=0.02)
    assert cols["x"].drifted and not cols["y"].drifted
    p = ref["c"].value_counts(normalize=True).sort_index().to_numpy()
    q = cur["c"].value_counts(normalize=True).sort_index().to_numpy()
    assert cols["c"].value == pytest.approx(distance.jensenshannon(p, q), rel=1e-9)
    assert cols["c"].drifted


def test_psi_on_request_and_per_column_thresholds(project):
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"a": rng.normal(0, 1, 5000), "b": rng.normal(0, 1, 5000)})
    cur = pd.DataFrame({"a": rng.normal(0.5, 1, 5000), "b": rng.normal(0.5, 1, 5000)})
    options = DriftOptions(ColumnRule("psi"), {"b": ColumnRule(threshold=10.0)})
    cols = _by_column(drift.compare(project, ref, cur, options))
    assert cols["a"].test == cols["b"].test == "psi"
    assert cols["a"].value == pytest.approx(cols["b"].value, rel=0.5) and cols["a"].value > 0.15
    assert cols["a"].drifted and not cols["b"].drifted  # the same shift, b's threshold is lenient


def test_missing_columns_and_kind_changes_are_drift(project):
    ref = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0), "gone": np.arange(50.0)})
    cur = pd.DataFrame({"a": np.arange(50.0), "b": [str(i) for i in range(50)], "new": np.arange(50.0)})
    result = drift.compare(project, ref, cur)
    cols = _by_column(result)
    assert not cols["a"].drifted
    assert cols["b"].drifted and "num in the reference, cat now" in cols["b"].detail
    assert cols["gone"].drifted and cols["new"].drifted and not result.passed
    with pytest.raises(InvalidInput, match="in neither table"):
        drift.compare(project, ref, cur, DriftOptions(columns={"nope": ColumnRule("ks")}))
    with pytest.raises(InvalidInput, match="ks needs numbers"):
        words = pd.DataFrame({"w": list("ab") * 25})
        drift.compare(project, words, words, DriftOptions(columns={"w": ColumnRule("ks")}))


def test_max_share_tolerates_some_drift(project):
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({k: rng.normal(0, 1, 3000) for k in "abcd"})
    cur = ref.assign(a=ref["a"] + 1)
    assert not drift.compare(project, ref, cur).passed
    assert drift.compare(project, ref, cur, DriftOptions(max_share=0.25)).passed


def test_wide_table_completes_and_repeat_reuses_cached_summaries(project):
    rows, columns = 1_000_000, 200
    rng = np.random.default_rng(5)
    base_ref = rng.standard_normal((rows, 20), dtype=np.float32)
    base_cur = rng.standard_normal((rows, 20), dtype=np.float32)
    names = [f"f{i}" for i in range(columns)]
    scale = np.float32(1.0)
    ref = pd.DataFrame(
        {n: base_ref[:, i % 20] * scale + np.float32(i) for i, n in enumerate(names)}, copy=False
    )
    cur = pd.DataFrame(
        {n: base_cur[:, i % 20] * scale + np.float32(i) for i, n in enumerate(names)}, copy=False
    )
    cur["f7"] = cur["f7"] + np.float32(0.5)
    summaries.STATS.reset()
    first = drift.compare(project, ref, cur)
    assert first.drifted == ["f7"] and len(first.columns) == columns
    assert summaries.STATS.tables_computed == 2 and summaries.STATS.columns_computed == 2 * columns
    assert first.cached == (False, False)
    assert len(list((project.state_dir / "gates" / "summaries").glob("*.npz"))) == 2

    again = drift.compare(project, ref, cur)
    assert again.cached == (True, True)
    assert summaries.STATS.tables_loaded == 2 and summaries.STATS.columns_computed == 2 * columns
    assert [c.to_json() for c in again.columns] == [c.to_json() for c in first.columns]


def test_file_tables_are_hashed_through_the_persistent_cache(project):
    rng = np.random.default_rng(6)
    path = project.root / "ref.parquet"
    pd.DataFrame({"a": rng.normal(0, 1, 2000)}).to_parquet(path)
    pd.DataFrame({"a": rng.normal(0, 1, 2000)}).to_csv(project.root / "cur.csv", index=False)
    summaries.STATS.reset()
    drift.compare(project, "ref.parquet", "cur.csv")
    result = drift.compare(project, str(path), "cur.csv")
    assert result.cached == (True, True) and summaries.STATS.tables_computed == 2
    with pytest.raises(InvalidInput, match="cannot tell its format"):
        drift.compare(project, "ref.parquet", "pyproject.toml")


def test_a_recorded_data_version_is_read_from_the_dvc_cache(project):
    import hashlib

    from nblift.errors import NotFound

    old = pd.DataFrame({"a": np.arange(3000.0)}).to_csv(index=False).encode()
    md5 = hashlib.md5(old, usedforsecurity=False).hexdigest()
    cached = project.root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    cached.parent.mkdir(parents=True)
    cached.write_bytes(old)
    pd.DataFrame({"a": np.arange(3000.0) + 1500}).to_csv(project.root / "data.csv", index=False)
    result = drift.compare(project, f"data.csv@{md5[:8]}", "data.csv")
    assert result.reference_digest == f"md5:{md5}" and result.drifted == ["a"]
    with pytest.raises(NotFound, match="not in the DVC cache"):
        drift.compare(project, "data.csv@0123456789abcdef", "data.csv")
