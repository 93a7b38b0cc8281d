"""Cheap content fingerprints for change detection, computed without pickling (see `fingerprint_value`)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from ..store import new_hasher
from .codec_base import quiet
from .codec_numpy import array_bytes, plain_array
from .codec_numpy import fingerprint_parts as numpy_parts
from .pandas_codec import dtype_key, index_structure, pandas_types, structure
from .signing import canonical_json


def fingerprint_value(value: object) -> str | None:
    """A content fingerprint computed without pickling, for change detection; None when there is no cheap
    one (the caller then encodes). Covers plain-dtype numpy arrays (and their writeable flag), pandas
    frames/series whose columns and index are numpy-typed or Arrow-convertible (numbers, bools,
    datetimes, categoricals, strings, nullable, period and interval dtypes) and polars frames/series.
    Equal for equal content; differs when any element, index class, dtype, freq, name or flag changes
    (a value with `attrs` has none). A value with equal content but another memory layout may get
    another fingerprint: re-encoding it then stores nothing new."""
    parts = _fingerprint_parts(value)
    if parts is None:
        return None
    header, buffers = parts
    hasher = new_hasher(sum(len(b) for b in buffers))
    hasher.update(canonical_json(header))
    for buffer in buffers:
        hasher.update(len(buffer).to_bytes(8, "little"))
        hasher.update(buffer)
    return hasher.hexdigest()


def _fingerprint_parts(value: object) -> tuple[list[Any], list[memoryview]] | None:
    if plain_array(value):
        return numpy_parts(value)
    types_ = pandas_types()
    if types_ is not None and type(value) in types_:
        return _pandas_parts(value)
    pl = sys.modules.get("polars")
    if pl is not None and hasattr(pl, "DataFrame") and type(value) in (pl.DataFrame, pl.Series):
        return _polars_parts(value)
    return None


def _plain_labels(labels: Iterable[object]) -> list[Any] | None:
    """Labels as JSON (str, int, float, bool, None, or tuples of those), or None if any is something else."""
    out: list[Any] = []
    for label in labels:
        items = label if isinstance(label, tuple) else (label,)
        if not all(x is None or isinstance(x, str | int | float) for x in items):
            return None
        out.append(list(label) if isinstance(label, tuple) else label)
    return out


def _values_parts(values: Any, dtype: Any) -> tuple[list[Any], list[memoryview]] | None:
    """Header and buffers of one column/index's values (`.array`, with the owner's `.dtype`): the numpy
    buffer, or the Arrow buffers of its Arrow form, else None (object values have no cheap fingerprint)."""
    import numpy as np

    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        return None
    if isinstance(dtype, np.dtype):
        arr = np.asarray(values)
        if not plain_array(arr):
            return None
        data, fortran = array_bytes(arr)
        return [dtype_key(dtype), list(arr.shape), fortran], [data]
    try:
        import pyarrow as pa

        with quiet():  # categoricals, tz datetimes, strings, nullables, periods, intervals
            header, buffers = _arrow_parts(pa.array(values))
    except Exception:  # noqa: BLE001 - no Arrow form (or no pyarrow): no cheap fingerprint
        return None
    return [dtype_key(dtype), *header], buffers


def _arrow_parts(array: Any) -> tuple[list[Any], list[memoryview]]:
    """Header and buffers of a pyarrow Array/ChunkedArray (dictionaries and children included)."""
    chunks = getattr(array, "chunks", None)
    header: list[Any] = [str(array.type)]
    buffers: list[memoryview] = []
    for chunk in chunks if chunks is not None else [array]:
        header.append([chunk.offset, len(chunk), chunk.null_count])
        buffers += [memoryview(b) for b in chunk.buffers() if b is not None]
        dictionary = getattr(chunk, "dictionary", None)
        if dictionary is not None:
            sub_header, sub_buffers = _arrow_parts(dictionary)
            header.append(sub_header)
            buffers += sub_buffers
    return header, buffers


def _index_parts(index: Any, *, labels_ok: bool = False) -> tuple[list[Any], list[memoryview]] | None:
    """Header and buffers of an index; `labels_ok`: an object index of plain labels goes in the header as
    JSON (for column labels, which are few) instead of having no fingerprint."""
    import numpy as np
    import pandas as pd

    names = _plain_labels(index.names)
    if names is None:
        return None
    kind = index_structure(index)
    if isinstance(index, pd.RangeIndex):
        return [kind, index.start, index.stop, index.step, names], []
    if isinstance(index, pd.MultiIndex):
        header: list[Any] = [kind, names]
        buffers: list[memoryview] = []
        for part in [*index.levels, *index.codes]:
            sub = _index_parts(part) if isinstance(part, pd.Index) else _values_parts(part, part.dtype)
            if sub is None:
                return None
            header.append(sub[0])
            buffers += sub[1]
        return header, buffers
    if labels_ok and isinstance(index.dtype, np.dtype) and index.dtype.kind == "O":
        plain = _plain_labels(index)
        return None if plain is None else ([kind, names, plain], [])
    sub = _values_parts(index.array, index.dtype)
    if sub is None:
        return None
    return [kind, names, *sub[0]], sub[1]


def _pandas_parts(value: Any) -> tuple[list[Any], list[memoryview]] | None:
    import pandas as pd

    if value.attrs:
        return None
    frame = isinstance(value, pd.DataFrame)
    labels = _plain_labels([value.name]) if not frame else None
    index = _index_parts(value.index)
    columns = _index_parts(value.columns, labels_ok=True) if frame else ([], [])
    if index is None or columns is None or (not frame and labels is None):
        return None
    header: list[Any] = ["pandas", structure(value), labels, index[0], columns[0]]
    buffers = [*index[1], *columns[1]]
    series = [value.iloc[:, i] for i in range(value.shape[1])] if frame else [value]
    for column in series:
        sub = _values_parts(column.array, column.dtype)
        if sub is None:
            return None
        header.append(sub[0])
        buffers += sub[1]
    return header, buffers


def _polars_parts(value: Any) -> tuple[list[Any], list[memoryview]] | None:
    try:
        table = value.to_arrow()
    except Exception:  # noqa: BLE001 - Object columns and the like: no cheap fingerprint
        return None
    if hasattr(table, "columns"):
        header: list[Any] = ["polars", "frame", list(table.column_names)]
        buffers: list[memoryview] = []
        for column in table.columns:
            sub_header, sub_buffers = _arrow_parts(column)
            header.append(sub_header)
            buffers += sub_buffers
        return header, buffers
    sub_header, sub_buffers = _arrow_parts(table)
    return ["polars", "series", value.name, sub_header], sub_buffers
