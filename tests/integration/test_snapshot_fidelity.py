"""Values come back from a real kernel's snapshots as they were: types, dtypes, index kinds, flags, identity.

One kernel takes two background snapshots (each written by its own forked child), a fresh kernel restores
them; every test then looks at the restored kernel (module-scoped: kernels are slow to start).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from kernel_helpers import Kernel

pytestmark = pytest.mark.integration

SOURCE = """
%load_ext nblift
import numpy as np, pandas as pd
a = pd.DataFrame({'x': [1.0, 2.0]}); b = a.copy()
u = np.arange(5.0); w = u.copy()
sales = pd.Series([1.0, 2.0, 3.0], index=pd.period_range('2024-01', periods=3, freq='M'), name='sales')
ro = np.arange(10.0); ro.flags.writeable = False
big = np.arange(300_000, dtype='float64').reshape(600, 500)
fbig = np.asfortranarray(big)
daily = pd.Series([1, 2, 3], index=pd.date_range('2024-01-01', periods=3, freq='D', tz='UTC'), name='daily')
bins = pd.DataFrame({'v': [1, 2, 3]}, index=pd.interval_range(0, 3))
meta = pd.DataFrame({'x': [1, 2]}); meta.attrs['source'] = 'data.csv'
price = pd.Series([1.5, 2.5], name='price')
steps = pd.DataFrame({'x': [1.0, 2.0]}); steps.attrs['gen'] = (i for i in range(3))
cfg = {'lr': 0.1}
def bump():
    cfg['lr'] = 0.5
class Acc:
    def __init__(self):
        self.n = 0
    def add(self, k=1):
        self.n += k
        return self
"""

_DEV_ENV = ("MLFLOW_TRACKING_URI", "JPY_SESSION_NAME")


def _background_snapshot(k: Kernel, message: str) -> dict:
    """A snapshot written by a forked child, as after any cell; its report once it has landed."""
    k.run(f"_r = get_ipython().run_line_magic('lift', '--json snapshot -m {message}')")
    assert k.value("_r.data['state']") == "saving"
    k.run(
        "from nblift.snapshot.verbs import snapshotter; _done = snapshotter(get_ipython()).collect(wait=True)"
    )
    return k.value(
        "{'id': _done.id, 'changed': _done.changed, 'unstorable': _done.unstorable,"
        " 'warnings': _done.warnings}"
    )


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kernel, dict, dict]]:
    """(the restored kernel, the first snapshot's report, the second's)."""
    root = tmp_path_factory.mktemp("fidelity")
    project = root / "proj"
    project.mkdir()
    # snapshot_verify: each snapshot re-encodes everything and compares with what it stored
    env = {"NBLIFT_SECRET_FILE": str(root / "keys" / "mine"), "NBLIFT_SNAPSHOT_VERIFY": "true"}
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("NBLIFT_") or name in _DEV_ENV:
                mp.delenv(name)
        first, second = _take_snapshots(project, env)
        fresh = Kernel(project, env)
    try:
        fresh.run("%load_ext nblift")
        fresh.run(f"%lift restore {first['id']}")
        fresh.run(f"%lift restore {second['id']} --only acc")
        yield fresh, first, second
    finally:
        fresh.shutdown()


def _take_snapshots(project: Path, env: dict[str, str]) -> tuple[dict, dict]:
    source = Kernel(project, env)
    try:
        source.run(SOURCE)
        first = _background_snapshot(source, "first")
        source.run("acc = Acc().add(2)")
        second = _background_snapshot(source, "second")
    finally:
        source.shutdown()
    return first, second


def test_snapshots_verify_and_the_restored_namespace_matches(snapshots) -> None:
    kernel, first, second = snapshots
    for report in (first, second):
        assert [w for w in report["warnings"] if w.startswith("verify:")] == []
    # everything restored from the first snapshot re-encodes to what it stored; only `acc`, restored from
    # the second, differs from the first
    verb = f"--json snapshots verify {first['id']}"
    result = kernel.value(f"get_ipython().run_line_magic('lift', {verb!r}).data")
    assert [d["name"] for d in result["differences"]] == ["acc"], result
    assert result["checked"] > 10


def test_equal_values_come_back_as_distinct_objects(snapshots) -> None:
    kernel, _, _ = snapshots
    assert kernel.value("[a is not b, u is not w]") == [True, True]
    kernel.run("a.loc[0, 'x'] = -1.0; u[0] = -1.0")
    assert kernel.value("[float(b.loc[0, 'x']), float(w[0])]") == [1.0, 0.0]


def test_arrays_keep_their_type_and_flags(snapshots) -> None:
    kernel, _, _ = snapshots
    assert kernel.value("[type(big).__name__, type(fbig).__name__]") == ["ndarray", "ndarray"]
    assert kernel.value("[big.flags.writeable, big.flags.c_contiguous, fbig.flags.f_contiguous]") == [
        True,
        True,
        True,
    ]
    assert kernel.value("[float(big.sum()), bool((fbig == big).all()), big.shape == (600, 500)]") == [
        44999850000.0,
        True,
        True,
    ]
    assert kernel.value("[ro.flags.writeable, ro.tolist() == list(range(10))]") == [False, True]


def test_pandas_index_kinds_freq_attrs_and_names_are_kept(snapshots) -> None:
    kernel, _, _ = snapshots
    assert kernel.value("[type(sales.index).__name__, str(sales.index.dtype), sales.name]") == [
        "PeriodIndex",
        "period[M]",
        "sales",
    ]
    assert kernel.value("[type(daily.index).__name__, daily.index.freqstr, str(daily.index.tz)]") == [
        "DatetimeIndex",
        "D",
        "UTC",
    ]
    assert kernel.value("[type(bins.index).__name__, str(bins.index.dtype)]") == [
        "IntervalIndex",
        "interval[int64, right]",
    ]
    assert kernel.value("[meta.attrs, price.name]") == [{"source": "data.csv"}, "price"]
    kernel.run(
        "import pandas as pd\n"
        "exact = dict(check_exact=True, check_index_type=True, check_freq=True, check_flags=True)\n"
        "pd.testing.assert_series_equal(sales, pd.Series([1.0, 2.0, 3.0], name='sales',"
        " index=pd.period_range('2024-01', periods=3, freq='M')), **exact)\n"
        "pd.testing.assert_series_equal(daily, pd.Series([1, 2, 3], name='daily',"
        " index=pd.date_range('2024-01-01', periods=3, freq='D', tz='UTC')), **exact)\n"
        "pd.testing.assert_frame_equal(bins, pd.DataFrame({'v': [1, 2, 3]},"
        " index=pd.interval_range(0, 3)), **exact)\n"
    )


def test_a_frame_with_an_unstorable_attr_is_restored_without_it(snapshots) -> None:
    kernel, first, _ = snapshots
    assert "steps" not in first["unstorable"]
    assert kernel.value("[steps['x'].tolist(), type(steps.attrs['gen']).__name__]") == [[1.0, 2.0], "LeftOut"]


def test_a_notebook_class_keeps_its_identity_across_snapshots(snapshots) -> None:
    kernel, _, second = snapshots
    assert "Acc" not in second["changed"]  # an unchanged class pickles to the same bytes in every child
    assert kernel.value("[isinstance(acc, Acc), type(acc) is Acc, acc.n, acc.add().n]") == [True, True, 2, 3]


def test_a_notebook_function_works_on_the_restored_namespace(snapshots) -> None:
    kernel, _, second = snapshots
    assert "bump" not in second["changed"]
    assert kernel.value("bump.__globals__ is globals()") is True
    kernel.run("bump()")
    assert kernel.value("cfg['lr']") == 0.5
