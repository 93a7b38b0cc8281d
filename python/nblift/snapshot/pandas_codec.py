"""The "pandas" encoding: a DataFrame/Series as an uncompressed Arrow IPC file.

Arrow is used only when it gives the value back exactly: same index and columns classes per level
(a PeriodIndex stays a PeriodIndex, a RangeIndex a RangeIndex), same dtypes (storage of strings
included), same `freq`, names, values and flags. Anything else is pickled (pandas' pickles keep all of
it, `attrs` included): object columns, frames with `attrs`, flags Arrow drops, an index whose `freq`
Arrow would lose, Sparse columns...

`structure()` is the shape of a frame that is not its values; the cheap fingerprint uses it as well, so
a change of index class, freq or dtype changes the fingerprint.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from ..store import ObjectStore
from .codec_base import Encoded, EncodedLike, encoded, put, quiet, require_verified

_PANDAS_SAMPLE_ROWS = 64
_SERIES_COLUMN = "__nblift_series__"


def pandas_types() -> tuple[type, type] | None:
    """(DataFrame, Series) when the user imported pandas, else None."""
    pd = sys.modules.get("pandas")
    return (pd.DataFrame, pd.Series) if pd is not None and hasattr(pd, "DataFrame") else None


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _json_scalar(value: object) -> bool:
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def dtype_key(dtype: Any) -> str:
    """A dtype as text that tells apart what `str(dtype)` does not (string storage and NA value)."""
    parts = [type(dtype).__name__, str(dtype)]
    for attr in ("storage", "na_value", "ordered"):
        if hasattr(dtype, attr):
            parts.append(f"{attr}={getattr(dtype, attr)!r}")
    return " ".join(parts)


def index_structure(index: Any) -> list[Any]:
    """Class, dtype, names and freq of an index (of each level of a MultiIndex)."""
    import pandas as pd

    names = [repr(name) for name in index.names]
    if isinstance(index, pd.MultiIndex):
        return ["MultiIndex", names, [index_structure(level) for level in index.levels]]
    return [type(index).__name__, dtype_key(index.dtype), names, getattr(index, "freqstr", None)]


def structure(value: Any) -> list[Any]:
    """What a frame or series is apart from its values: classes, dtypes, names, freq, flags."""
    import pandas as pd

    flags = [value.flags.allows_duplicate_labels]
    if isinstance(value, pd.DataFrame):
        dtypes = [dtype_key(dt) for dt in value.dtypes]
        return ["frame", index_structure(value.index), index_structure(value.columns), dtypes, flags]
    return ["series", index_structure(value.index), dtype_key(value.dtype), repr(value.name), flags]


def _has_object_dtype(frame: Any) -> bool:
    """Object values, index or column labels (Arrow would guess their type, or stringify labels)."""
    import numpy as np

    def level_dtypes(index: Any) -> list[Any]:
        return [index.dtype] if index.nlevels == 1 else list(index.dtypes)

    dtypes = [*frame.dtypes, *level_dtypes(frame.index), *level_dtypes(frame.columns)]
    return any(isinstance(dt, np.dtype) and dt.kind == "O" for dt in dtypes)


def arrow_keeps(frame: Any) -> bool:
    """Whether Arrow gives `frame` back exactly. Object columns are refused up front (Arrow would guess a
    type from the values: lists come back as arrays, bools as bool dtype); the rest is checked on a sample
    of rows, since Arrow's conversion of typed columns depends only on their dtype and index classes."""
    import pandas as pd

    if frame.attrs or not frame.flags.allows_duplicate_labels or _has_object_dtype(frame):
        return False
    sample = frame.iloc[:_PANDAS_SAMPLE_ROWS]
    try:
        with quiet():
            back = to_arrow(sample).to_pandas()
        pd.testing.assert_frame_equal(
            back,
            sample,
            check_exact=True,
            check_freq=True,
            check_flags=True,
            check_index_type=True,
            check_column_type=True,
        )
        return structure(back) == structure(sample) and not back.attrs
    except Exception:  # noqa: BLE001 - whatever Arrow cannot do (or does differently): pickle instead
        return False


def to_arrow(frame: Any) -> Any:
    import pyarrow as pa

    with quiet():
        return pa.Table.from_pandas(frame)


def _ipc_file(table: Any) -> Any:
    """`table` as uncompressed Arrow IPC *file* bytes (a pyarrow Buffer)."""
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def encode_pandas(value: Any, store: ObjectStore) -> Encoded | None:
    types_ = pandas_types()
    if types_ is None or type(value) not in types_:
        return None
    if type(value) is types_[0]:
        frame, meta = value, {"container": "frame"}
    else:
        if not _json_scalar(value.name) or value.attrs or not value.flags.allows_duplicate_labels:
            return None
        frame, meta = value.to_frame(name=_SERIES_COLUMN), {"container": "series", "name": value.name}
    if "pyarrow" not in sys.modules and not _importable("pyarrow"):
        return None
    if not arrow_keeps(frame):
        return None
    try:
        data = _ipc_file(to_arrow(frame))
    except Exception:  # noqa: BLE001 - the sample converted, the whole frame did not: pickle instead
        return None
    return encoded(value, "pandas", [put(store, data)], meta)


def _arrow_source(store: ObjectStore, oid: str, lazy: bool) -> Any:
    import pyarrow as pa

    if lazy:
        require_verified(store, oid)
        return pa.memory_map(str(store.path_of(oid)))
    return pa.py_buffer(store.get_bytes(oid))


def _register_pandas_arrow_types() -> None:
    """pandas' Arrow extension types (period, interval), registered as pandas' own readers do: a file
    read before that gives their storage instead (a PeriodIndex would come back as integer ordinals)."""
    try:
        import pandas.core.arrays.arrow.extension_types
    except ImportError:  # another pandas: converting a period array registers them
        import pandas as pd

        with contextlib.suppress(Exception):
            pd.array([0], dtype="period[D]").__arrow_array__()
            pd.interval_range(0, 1).array.__arrow_array__()


def decode_pandas(enc: EncodedLike, store: ObjectStore, lazy: bool) -> Any:
    import pyarrow as pa

    _register_pandas_arrow_types()

    table = pa.ipc.open_file(_arrow_source(store, enc.objects[0], lazy)).read_all()
    with quiet():
        frame = table.to_pandas()
    if enc.meta.get("container") != "series":
        return frame
    series = frame[_SERIES_COLUMN]
    series.name = enc.meta.get("name")
    return series
