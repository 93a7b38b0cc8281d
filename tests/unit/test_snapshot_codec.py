"""Encoding kernel values into the object store and back: fast paths, pickle fallbacks, corruption, costs."""

from __future__ import annotations

import io
import json
import mmap
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pandas as pd
import polars as pl
import pytest

from nblift.errors import NbliftError, NotFound, ObjectCorrupt
from nblift.snapshot.codec import (
    LAZY_MIN_BYTES,
    Encoded,
    Unstorable,
    decode,
    dropped_parts,
    encode_group,
    encode_value,
    fingerprint_value,
)
from nblift.snapshot.codec_loaders import LeftOut
from nblift.store import ObjectStore

HEAVY = ("numpy", "pandas", "pyarrow", "polars", "torch", "dill", "cloudpickle")


@pytest.fixture
def store(tmp_path):
    return ObjectStore(tmp_path / "state")


def flip_one_byte(path, offset: int = 0) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))


def roundtrip(value, store, *, lazy=True):
    encoded = encode_value(value, store)
    return encoded, decode(encoded, store, lazy=lazy)


def test_importing_the_snapshot_modules_imports_no_heavy_library(child_env):
    modules = ", ".join(f"nblift.snapshot.{m}" for m in ("codec", "groups", "redact", "signing"))
    code = (
        "import sys\n"
        f"import {modules}\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=child_env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# -- numpy ---------------------------------------------------------------------------------------------
ARRAYS = {
    "float64": np.linspace(0, 1, 101),
    "int32": np.arange(12, dtype=np.int32).reshape(3, 4),
    "bool": np.array([True, False, True]),
    "fortran": np.asfortranarray(np.arange(24.0).reshape(2, 3, 4)),
    "0-d": np.array(3.5),
    "empty": np.zeros((0, 3)),
    "slice view": np.arange(40)[3:30:4],
    "big-endian": np.arange(5, dtype=">i8"),
    "datetime64": np.arange(4).astype("M8[D]"),
    "unicode": np.array(["a", "bcd"]),
    "complex": np.array([1 + 2j, 3 - 4j]),
    "structured": np.array([(1, (2.0, 3.0)), (4, (5.0, 6.0))], dtype=[("a", "<i4"), ("b", "<f8", (2,))]),
    "aligned structured": np.zeros(3, dtype=np.dtype([("a", "u1"), ("b", "<f8")], align=True)),
}


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("name", sorted(ARRAYS))
def test_numpy_arrays_round_trip_as_raw_buffers(store, name, lazy):
    arr = ARRAYS[name]
    encoded, back = roundtrip(arr, store, lazy=lazy)
    assert encoded.kind == "numpy"
    assert len(encoded.objects) == 1
    assert encoded.size == arr.nbytes
    assert encoded.meta["shape"] == list(arr.shape)
    assert back.dtype == arr.dtype
    assert back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)
    assert back.flags.writeable
    assert type(back) is np.ndarray
    if arr.flags.c_contiguous or arr.flags.f_contiguous:  # a view comes back as its own C-ordered copy
        assert (back.flags.c_contiguous, back.flags.f_contiguous) == (
            arr.flags.c_contiguous,
            arr.flags.f_contiguous,
        )
    if name == "fortran":
        assert encoded.meta["fortran"] is True
        assert back.flags.f_contiguous


def test_object_dtype_array_is_pickled(store):
    arr = np.array(["a", 1, None, {"k": [1]}], dtype=object)
    encoded, back = roundtrip(arr, store)
    assert encoded.kind == "pickle"
    assert back.dtype == object
    assert list(back) == list(arr)


def test_numpy_meta_survives_json(store):
    """The orchestrator stores meta in a JSON manifest: tuples come back as lists."""
    import json

    arr = ARRAYS["structured"]
    encoded = encode_value(arr, store)
    rebuilt = Encoded(**{**encoded.__dict__, "meta": json.loads(json.dumps(encoded.meta))})
    np.testing.assert_array_equal(decode(rebuilt, store), arr)


def test_numpy_meta_asking_for_an_object_dtype_is_refused(store):
    encoded = encode_value(np.zeros(4, dtype=np.int64), store)
    forged = Encoded(**{**encoded.__dict__, "meta": {**encoded.meta, "dtype": "|O"}})
    with pytest.raises(NbliftError, match="object-dtype"):
        decode(forged, store, lazy=False)


def mapped_by(arr: np.ndarray) -> object:
    """What an array's memory finally belongs to."""
    owner: object = arr
    while isinstance(owner, np.ndarray) and owner.base is not None:
        owner = owner.base
    return owner.obj if isinstance(owner, memoryview) else owner


@pytest.mark.parametrize("order", ["C", "F"])
def test_lazy_numpy_decode_is_an_exact_ndarray_over_a_copy_on_write_mapping(store, order):
    arr = np.asarray(np.arange(LAZY_MIN_BYTES // 8 * 2, dtype=np.float64).reshape(-1, 8), order=order)
    encoded, back = roundtrip(arr, store, lazy=True)
    assert type(back) is np.ndarray  # not np.memmap
    assert isinstance(mapped_by(back), mmap.mmap)
    assert back.flags.writeable
    assert back.flags.c_contiguous == arr.flags.c_contiguous
    assert back.flags.f_contiguous == arr.flags.f_contiguous
    np.testing.assert_array_equal(back, arr)
    back[:100] = -1.0
    assert back[0, 0] == -1.0
    assert store.verify(encoded.objects[0])
    np.testing.assert_array_equal(decode(encoded, store, lazy=False), arr)


@pytest.mark.parametrize("lazy", [True, False])
def test_a_flipped_byte_in_an_array_object_raises_object_corrupt(store, lazy):
    encoded = encode_value(np.arange(LAZY_MIN_BYTES // 4, dtype=np.int64), store)
    oid = encoded.objects[0]
    flip_one_byte(store.path_of(oid), 1000)
    with pytest.raises(ObjectCorrupt, match=oid):
        decode(encoded, store, lazy=lazy)


def test_a_truncated_or_missing_array_object_is_reported(store):
    encoded = encode_value(np.arange(100), store)
    path = store.path_of(encoded.objects[0])
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(ObjectCorrupt, match=encoded.objects[0]):
        decode(encoded, store)
    path.unlink()
    with pytest.raises(NotFound, match=encoded.objects[0]):
        decode(encoded, store)


def test_equal_content_gives_equal_fingerprints(store):
    a = encode_value(np.arange(1000), store)
    b = encode_value(np.arange(1000), store)
    c = encode_value(np.arange(1000).reshape(10, 100), store)
    d = encode_value(np.arange(1, 1001), store)
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint  # same bytes, other shape
    assert a.fingerprint != d.fingerprint


# -- pandas --------------------------------------------------------------------------------------------
def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [1.5, np.nan, 3.0],
            "cat": pd.Categorical(["x", "y", "x"]),
            "ordered": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
            "s": pd.Series(["a", None, "c"], dtype="str"),
            "n": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([True, None, False], dtype="boolean"),
            "t": pd.date_range("2024-03-30", periods=3, tz="Europe/Paris"),
            "td": pd.to_timedelta([1, 2, 3], unit="s"),
        },
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )


FRAMES = {
    "mixed dtypes": mixed_frame,
    "range index from 5": lambda: pd.DataFrame({"a": [1.0, 2.0]}, index=pd.RangeIndex(5, 7)),
    "multiindex columns": lambda: pd.DataFrame(
        np.arange(4.0).reshape(2, 2), columns=pd.MultiIndex.from_tuples([("a", "x"), ("a", "y")])
    ),
    "multiindex rows": lambda: pd.DataFrame(
        {"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    ),
    "integer column labels": lambda: pd.DataFrame(np.eye(3), columns=pd.Index([0, 1, 2])),
    "empty": lambda: pd.DataFrame({"a": pd.Series([], dtype="float64")}),
}


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("name", sorted(FRAMES))
def test_dataframes_round_trip_through_arrow(store, name, lazy):
    frame = FRAMES[name]()
    encoded, back = roundtrip(frame, store, lazy=lazy)
    assert encoded.kind == "pandas"
    assert encoded.meta == {"container": "frame"}
    pd.testing.assert_frame_equal(back, frame, check_exact=True)


def test_a_pandas_object_is_an_arrow_ipc_file(store):
    import pyarrow as pa

    encoded = encode_value(mixed_frame(), store)
    table = pa.ipc.open_file(pa.py_buffer(store.get_bytes(encoded.objects[0]))).read_all()
    assert table.num_rows == 3


PICKLED_FRAMES = {
    "mixed-type object column": lambda: pd.DataFrame({"m": [1, "a", None]}),
    "lists in an object column": lambda: pd.DataFrame({"o": [[1, 2], [3]]}),
    "object bools": lambda: pd.DataFrame({"o": pd.Series([True, False], dtype=object)}),
    "index with freq": lambda: pd.DataFrame(
        {"a": [1, 2, 3]}, index=pd.date_range("2024", periods=3, freq="D")
    ),
    "duplicate columns": lambda: pd.DataFrame([[1, 2]], columns=["a", "a"]),
    "range columns (Arrow gives an Index)": lambda: pd.DataFrame(np.eye(3)),
}


@pytest.mark.parametrize("name", sorted(PICKLED_FRAMES))
def test_frames_arrow_would_change_are_pickled(store, name):
    frame = PICKLED_FRAMES[name]()
    encoded, back = roundtrip(frame, store)
    assert encoded.kind == "pickle"
    assert_same_pandas(back, frame)


@pytest.mark.parametrize("name", ["price", None, 3])
def test_series_round_trip_with_their_name(store, name):
    series = pd.Series([1.0, 2.0, np.nan], index=pd.Index(["a", "b", "c"], name="key"), name=name)
    encoded, back = roundtrip(series, store)
    assert encoded.kind == "pandas"
    pd.testing.assert_series_equal(back, series, check_exact=True)


def test_a_series_with_a_tuple_name_is_pickled(store):
    series = pd.Series(pd.Categorical(["a", "b"]), name=("x", 1))
    encoded, back = roundtrip(series, store)
    assert encoded.kind == "pickle"
    pd.testing.assert_series_equal(back, series)


# -- polars --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("lazy", [True, False])
def test_polars_frames_and_series_round_trip(store, lazy):
    frame = pl.DataFrame(
        {"a": [1, 2, None], "s": ["x", None, "z"], "c": pl.Series(["u", "v", "u"], dtype=pl.Categorical)}
    )
    encoded, back = roundtrip(frame, store, lazy=lazy)
    assert encoded.kind == "polars"
    assert back.equals(frame)
    assert back.schema == frame.schema
    encoded, back = roundtrip(frame["s"], store, lazy=lazy)
    assert encoded.kind == "polars"
    assert back.name == "s"
    assert back.equals(frame["s"])


# -- pickle --------------------------------------------------------------------------------------------
def test_an_array_inside_a_dict_is_stored_out_of_band_and_deduplicated(store):
    arr = np.random.default_rng(0).random(10 * 2**20 // 8)  # 10 MB
    value = {"weights": arr, "config": {"lr": 0.1, "layers": [1, 2, 3]}}
    encoded = encode_value(value, store)
    assert encoded.kind == "pickle"
    assert encoded.meta["buffers"] == 1
    assert len(encoded.objects) == 2
    assert store.path_of(encoded.objects[1]).stat().st_size == arr.nbytes
    assert store.path_of(encoded.objects[0]).stat().st_size < 4096
    before = store.stats()
    written = store.bytes_written
    again = encode_value({"weights": arr.copy(), "config": {"lr": 0.1, "layers": [1, 2, 3]}}, store)
    assert store.stats() == before
    assert store.bytes_written == written
    assert again.fingerprint == encoded.fingerprint
    back = decode(encoded, store)
    np.testing.assert_array_equal(back["weights"], arr)
    assert back["weights"].flags.writeable
    back["weights"][:10] = 0  # a lazy buffer is copy-on-write: the store is untouched
    assert store.verify(encoded.objects[1])
    assert back["config"] == value["config"]


def test_a_corrupt_pickle_buffer_is_reported(store):
    encoded = encode_value({"a": np.arange(1000)}, store)
    flip_one_byte(store.path_of(encoded.objects[1]))
    with pytest.raises(ObjectCorrupt, match=encoded.objects[1]):
        decode(encoded, store)


def test_a_lambda_and_a_local_class_go_through_cloudpickle(store):
    class Local:
        def __init__(self) -> None:
            self.v = [1, 2]

    encoded, back = roundtrip(lambda x: x * 3, store)
    assert encoded.kind == "pickle"
    assert encoded.meta["serializer"] == "cloudpickle"
    assert back(2) == 6
    encoded, back = roundtrip(Local(), store)
    assert encoded.meta["serializer"] == "cloudpickle"
    assert back.v == [1, 2]


def test_notebook_defined_functions_are_stored_by_value(store, monkeypatch):
    """Plain pickle stores `__main__.f` by name, which a fresh kernel cannot load: cloudpickle is used."""
    main = sys.modules["__main__"]
    namespace: dict = {"__name__": "__main__"}
    exec("def nb_double(x):\n    return 2 * x\n", namespace)  # a function defined as a notebook does
    func = namespace["nb_double"]
    monkeypatch.setattr(main, "nb_double", func, raising=False)
    encoded = encode_value(func, store)
    assert encoded.meta["serializer"] == "cloudpickle"
    monkeypatch.delattr(main, "nb_double")
    assert decode(encoded, store)(4) == 8


def test_dill_is_the_last_resort_and_keeps_buffers_out_of_band(store, monkeypatch):
    from nblift.snapshot import codec_pickle

    monkeypatch.setattr(codec_pickle, "_SERIALIZERS", ("dill",))
    value = {"arr": np.arange(1000.0), "f": lambda: 7}
    encoded, back = roundtrip(value, store)
    assert encoded.meta == {"serializer": "dill", "buffers": 1}
    np.testing.assert_array_equal(back["arr"], value["arr"])
    assert back["f"]() == 7
    with pytest.raises(Unstorable, match="lock"):
        encode_value({"lock": threading.Lock()}, store)  # dill alone would copy the lock


def generator():
    yield 1


UNSTORABLE = {
    "generator": (lambda: generator(), "generator"),
    "socket": (lambda: socket.socket(), "socket"),
    "sqlite3 connection": (lambda: sqlite3.connect(":memory:"), "sqlite3.Connection"),
    "lock": (lambda: threading.Lock(), "lock"),
    "rlock": (lambda: threading.RLock(), "RLock"),
    "open text file": (lambda: open(__file__), "TextIOWrapper"),  # noqa: SIM115
    "open binary file": (lambda: open(__file__, "rb"), "BufferedReader"),  # noqa: SIM115
    "lock inside a dict": (lambda: {"state": [threading.Lock()]}, "lock"),
    "file inside an object": (lambda: types.SimpleNamespace(fh=open(__file__)), "TextIOWrapper"),  # noqa: SIM115
}


@pytest.mark.parametrize("name", sorted(UNSTORABLE))
def test_process_bound_values_are_unstorable_with_a_precise_reason(store, name):
    make, type_word = UNSTORABLE[name]
    value = make()
    try:
        with pytest.raises(Unstorable) as info:
            encode_value(value, store)
    finally:
        for closable in (value, getattr(value, "fh", None)):
            if hasattr(closable, "close"):
                closable.close()
    reason = info.value.message
    assert reason.startswith("cannot pickle")
    assert type_word in reason
    # said what it is: refused at once when it is the value itself, or by each serializer when it is inside
    assert "which belongs to this process" in reason
    assert info.value.hint
    assert store.stats().objects == 0  # a failed serializer stores nothing


def test_bytesio_is_storable(store):
    _, back = roundtrip(io.BytesIO(b"abc"), store)
    assert back.getvalue() == b"abc"


# -- groups --------------------------------------------------------------------------------------------
def test_a_group_keeps_aliases_and_shared_objects_shared(store):
    a = [1]
    b = a
    c = {"x": a}
    encoded = encode_group({"c": c, "a": a, "b": b}, store)
    assert encoded.kind == "group"
    assert encoded.meta["names"] == ["a", "b", "c"]
    back = decode(encoded, store)
    assert back["b"] is back["a"]
    assert back["c"]["x"] is back["a"]
    back["a"].append(2)
    assert back["c"]["x"] == [1, 2]


def test_a_group_with_arrays_stores_them_out_of_band(store):
    arr = np.arange(100_000, dtype=np.float64)
    holder = [arr]
    encoded = encode_group({"x": holder, "y": arr}, store)
    assert encoded.meta["buffers"] == 1
    back = decode(encoded, store)
    assert back["x"][0] is back["y"]
    np.testing.assert_array_equal(back["y"], arr)


def test_an_unstorable_group_raises_unstorable(store):
    lock = threading.Lock()
    with pytest.raises(Unstorable, match="lock"):
        encode_group({"a": [lock], "b": lock}, store)


# -- decode guards -------------------------------------------------------------------------------------
def test_unknown_kinds_and_serializers_are_refused(store):
    encoded = encode_value({"a": 1}, store)
    with pytest.raises(NbliftError, match="unknown encoding kind"):
        decode(Encoded(**{**encoded.__dict__, "kind": "exotic"}), store)
    forged = Encoded(**{**encoded.__dict__, "meta": {"serializer": "os", "buffers": 0}})
    with pytest.raises(NbliftError, match="unknown serializer"):
        decode(forged, store)


# -- torch (a stand-in module: torch is not installed here) --------------------------------------------
def fake_torch(monkeypatch, cuda: bool):
    import pickle as pickle_module

    torch = types.ModuleType("torch")

    class Tensor:
        def __init__(self, data, device="cpu", requires_grad=False):
            self.data, self.device, self.requires_grad = data, device, requires_grad

        def detach(self):
            return Tensor(self.data, self.device)

        def cpu(self):
            return Tensor(self.data, "cpu", self.requires_grad)

        def requires_grad_(self, flag):
            self.requires_grad = flag
            return self

    loads: list[dict] = []

    def save(tensor, fh):
        pickle_module.dump((tensor.data, tensor.device), fh)

    def load(fh, map_location, weights_only):
        loads.append({"map_location": map_location, "weights_only": weights_only})
        data, _ = pickle_module.load(fh)
        return Tensor(data, map_location)

    Tensor.__module__ = "torch"
    torch.Tensor, torch.save, torch.load = Tensor, save, load
    torch.cuda = types.SimpleNamespace(is_available=lambda: cuda)
    torch.dtype, torch.device = type("dtype", (), {}), type("device", (), {})
    monkeypatch.setitem(sys.modules, "torch", torch)
    return torch, loads


def test_tensors_use_torch_save_and_load_onto_the_available_device(store, monkeypatch):
    torch, loads = fake_torch(monkeypatch, cuda=True)
    tensor = torch.Tensor([1, 2, 3], device="cuda:0", requires_grad=True)
    encoded = encode_value(tensor, store)
    assert encoded.kind == "torch"
    assert encoded.meta == {"device": "cuda:0", "requires_grad": True}
    back = decode(encoded, store)
    assert back.data == [1, 2, 3]
    assert back.device == "cuda"
    assert back.requires_grad
    assert decode(encoded, store, device="cpu").device == "cpu"
    assert [call["map_location"] for call in loads] == ["cuda", "cpu"]
    assert all(call["weights_only"] is False for call in loads)


# -- cheap fingerprints --------------------------------------------------------------------------------
def test_array_fingerprint_follows_every_element():
    arr = np.random.default_rng(1).random(20 * 2**20 // 8)  # 20 MB
    start = time.perf_counter()
    first = fingerprint_value(arr)
    elapsed = time.perf_counter() - start
    print(f"\nfingerprint_value of a 20 MB float64 array: {elapsed * 1000:.1f} ms")
    assert first is not None
    assert fingerprint_value(arr) == first
    assert fingerprint_value(arr.copy()) == first
    arr[len(arr) // 2] += 1e-9
    assert fingerprint_value(arr) != first
    arr[len(arr) // 2] -= 1e-9
    assert fingerprint_value(arr) == first
    assert fingerprint_value(arr.reshape(-1, 8)) != first
    assert fingerprint_value(arr.astype(np.float32)) != first


def test_array_fingerprint_covers_views_and_order():
    arr = np.arange(100.0).reshape(10, 10)
    assert fingerprint_value(arr[:, ::2]) is not None
    assert fingerprint_value(arr) != fingerprint_value(np.asfortranarray(arr))
    assert fingerprint_value(np.array(["a", 1], dtype=object)) is None


def test_frame_fingerprint_follows_values_index_labels_and_dtypes():
    frame = mixed_frame()
    first = fingerprint_value(frame)
    assert first is not None
    assert fingerprint_value(mixed_frame()) == first
    changes = {
        "int cell": lambda f: f.__setitem__("i", [1, 2, 4]),
        "float cell": lambda f: f.__setitem__("f", [1.5, 2.0, 3.0]),
        "category": lambda f: f.__setitem__("cat", pd.Categorical(["x", "x", "x"], categories=["x", "y"])),
        "categories": lambda f: f.__setitem__("cat", f["cat"].cat.rename_categories(["x", "z"])),
        "string": lambda f: f.__setitem__("s", pd.Series(["a", None, "d"], dtype="str", index=f.index)),
        "nullable": lambda f: f.__setitem__("n", pd.array([1, 2, 3], dtype="Int64")),
        "timezone": lambda f: f.__setitem__("t", f["t"].dt.tz_convert("UTC")),
        "index": lambda f: setattr(f, "index", pd.Index(["r1", "r2", "r4"], name="row")),
        "index name": lambda f: setattr(f.index, "name", "other"),
        "column label": lambda f: setattr(f, "columns", [*f.columns[:-1], "renamed"]),
        "dtype": lambda f: f.__setitem__("i", f["i"].astype("int32")),
    }
    for what, change in changes.items():
        changed = mixed_frame()
        change(changed)
        assert fingerprint_value(changed) != first, what


def test_series_and_polars_fingerprints():
    series = pd.Series(np.arange(1000.0), name="x")
    assert fingerprint_value(series) == fingerprint_value(series.copy())
    assert fingerprint_value(series) != fingerprint_value(series.rename("y"))
    frame = pl.DataFrame({"a": [1, 2, 3], "s": ["x", "y", "z"]})
    first = fingerprint_value(frame)
    assert first is not None
    assert fingerprint_value(frame.clone()) == first
    assert fingerprint_value(frame.with_columns(pl.Series("s", ["x", "y", "w"]))) != first
    assert fingerprint_value(frame["s"]) != fingerprint_value(frame["a"])


def test_values_without_a_cheap_fingerprint_give_none():
    assert fingerprint_value({"a": 1}) is None
    assert fingerprint_value("text") is None
    assert fingerprint_value(pd.DataFrame({"o": [object(), 1]})) is None
    with_attrs = pd.DataFrame({"a": [1]})
    with_attrs.attrs["source"] = "x.csv"
    assert fingerprint_value(with_attrs) is None


def test_fast_path_costs_are_printed(store):
    """Not a benchmark: prints what the fast paths cost on this machine (no assertion on time)."""
    rng = np.random.default_rng(2)
    rows = 200_000
    frame = pd.DataFrame(
        {
            "i": rng.integers(0, 1000, rows),
            "f": rng.random(rows),
            "c": pd.Categorical(rng.choice(["a", "b", "c"], rows)),
            "s": pd.Series([f"row{i}" for i in range(rows)], dtype="str"),
        }
    )
    arr = rng.random(20 * 2**20 // 8)
    for label, value in (("20 MB float64 array", arr), (f"{rows}-row frame", frame)):
        start = time.perf_counter()
        fingerprint_value(value)
        fp = time.perf_counter() - start
        start = time.perf_counter()
        encoded = encode_value(value, store)
        enc = time.perf_counter() - start
        start = time.perf_counter()
        decode(encoded, store)
        dec = time.perf_counter() - start
        costs = f"fingerprint {fp * 1000:.1f} ms, encode {enc * 1000:.1f} ms, lazy decode {dec * 1000:.1f} ms"
        print(f"\n{label}: {costs}")


# -- fidelity: read-only arrays ------------------------------------------------------------------------
def read_only(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


READ_ONLY = {
    "small": lambda: read_only(np.arange(10.0)),
    "large": lambda: read_only(np.arange(LAZY_MIN_BYTES // 4, dtype=np.float64)),
    "fortran": lambda: read_only(np.asfortranarray(np.arange(24.0).reshape(4, 6))),
    "large fortran": lambda: read_only(np.asfortranarray(np.ones((512, 600)))),
    "0-d": lambda: read_only(np.array(2.5)),
    "structured": lambda: read_only(ARRAYS["structured"].copy()),
    "view": lambda: read_only(np.arange(40.0)[3:30:4]),
    "object": lambda: read_only(np.array(["a", 1, None], dtype=object)),
}


def assert_same_array(back, arr) -> None:
    assert type(back) is np.ndarray
    assert back.dtype == arr.dtype
    assert back.shape == arr.shape
    assert back.flags.writeable == arr.flags.writeable
    if arr.flags.c_contiguous or arr.flags.f_contiguous:
        assert (back.flags.c_contiguous, back.flags.f_contiguous) == (
            arr.flags.c_contiguous,
            arr.flags.f_contiguous,
        )
    np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("name", sorted(READ_ONLY))
def test_read_only_arrays_come_back_read_only(store, name, lazy):
    arr = READ_ONLY[name]()
    assert_same_array(decode(encode_value(arr, store), store, lazy=lazy), arr)


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("name", sorted(READ_ONLY))
def test_read_only_arrays_inside_pickled_values_stay_read_only(store, name, lazy):
    arr = READ_ONLY[name]()
    writeable = np.arange(6.0)[::2]
    encoded = encode_value({"ro": arr, "rw": writeable, "nested": [arr]}, store)
    assert encoded.kind == "pickle"
    back = decode(encoded, store, lazy=lazy)
    assert_same_array(back["ro"], arr)
    assert_same_array(back["rw"], writeable)
    assert back["nested"][0] is back["ro"]
    group = decode(encode_group({"a": arr, "b": [arr]}, store), store, lazy=lazy)
    assert_same_array(group["a"], arr)


def test_the_writeable_flag_is_part_of_the_fingerprint(store):
    arr = np.arange(100.0)
    first = fingerprint_value(arr)
    writeable = encode_value(arr, store)
    arr.flags.writeable = False
    assert fingerprint_value(arr) != first
    assert encode_value(arr, store).fingerprint != writeable.fingerprint
    arr.flags.writeable = True
    assert fingerprint_value(arr) == first
    assert "readonly" not in writeable.meta  # encodings of writeable arrays are as before


# -- fidelity: pandas ----------------------------------------------------------------------------------
def dtype_id(dtype) -> tuple:
    return (type(dtype), str(dtype), getattr(dtype, "storage", None), repr(getattr(dtype, "na_value", None)))


def assert_same_index(back, orig) -> None:
    assert type(back) is type(orig), (type(back), type(orig))
    assert list(back.names) == list(orig.names)
    assert getattr(back, "freq", None) == getattr(orig, "freq", None)
    if isinstance(orig, pd.MultiIndex):
        for back_level, orig_level in zip(back.levels, orig.levels, strict=True):
            assert_same_index(back_level, orig_level)
    else:
        assert dtype_id(back.dtype) == dtype_id(orig.dtype)
    pd.testing.assert_index_equal(back, orig, exact=True, check_exact=True, check_categorical=True)


def assert_same_pandas(back, orig) -> None:
    assert type(back) is type(orig)
    if isinstance(orig, pd.DataFrame):
        pd.testing.assert_frame_equal(
            back,
            orig,
            check_exact=True,
            check_index_type=True,
            check_column_type=True,
            check_freq=True,
            check_flags=True,
        )
        assert_same_index(back.columns, orig.columns)
        assert [dtype_id(d) for d in back.dtypes] == [dtype_id(d) for d in orig.dtypes]
    else:
        pd.testing.assert_series_equal(
            back, orig, check_exact=True, check_index_type=True, check_freq=True, check_flags=True
        )
        assert dtype_id(back.dtype) == dtype_id(orig.dtype)
        assert type(back.name) is type(orig.name) and back.name == orig.name
    assert_same_index(back.index, orig.index)
    assert back.attrs == orig.attrs
    assert back.flags.allows_duplicate_labels == orig.flags.allows_duplicate_labels


INDEXES = {
    "range": lambda: pd.RangeIndex(2, 8, 2),
    "int": lambda: pd.Index([3, 1, 2]),
    "named int": lambda: pd.Index([3, 1, 2], name="id"),
    "float": lambda: pd.Index([1.5, 2.5, 3.5]),
    "str": lambda: pd.Index(["a", "b", "c"]),
    "object": lambda: pd.Index(["a", 1, None], dtype=object),
    "datetime tz freq": lambda: pd.date_range("2024-03-31", periods=3, freq="h", tz="Europe/Paris"),
    "datetime freq": lambda: pd.date_range("2024-01-01", periods=3, freq="D"),
    "datetime no freq": lambda: pd.DatetimeIndex(["2024-01-01", "2024-01-05", "2024-01-02"]),
    "timedelta freq": lambda: pd.timedelta_range("1s", periods=3, freq="s"),
    "period": lambda: pd.period_range("2024-01", periods=3, freq="M"),
    "interval": lambda: pd.interval_range(0, 3),
    "interval closed left": lambda: pd.IntervalIndex.from_breaks([0.0, 0.5, 1.0, 2.0], closed="left"),
    "categorical ordered": lambda: pd.CategoricalIndex(["a", "b", "a"], categories=["b", "a"], ordered=True),
    "multi": lambda: pd.MultiIndex.from_arrays(
        [["a", "a", "b"], pd.period_range("2024-01-01", periods=3, freq="D")], names=["k", "day"]
    ),
}


def with_index(index, container: str):
    series = pd.Series([1.0, 2.0, 3.0], index=index, name="v")
    if container == "series":
        return series
    if container == "frame":
        return series.to_frame()
    return pd.DataFrame([[1, 2, 3]], columns=index)


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("container", ["series", "frame", "columns"])
@pytest.mark.parametrize("name", sorted(INDEXES))
def test_every_index_kind_round_trips_exactly(store, name, container, lazy):
    value = with_index(INDEXES[name](), container)
    assert_same_pandas(decode(encode_value(value, store), store, lazy=lazy), value)


EXTENSION_ARRAYS = {
    "Int64": lambda: pd.array([1, None, 3], dtype="Int64"),
    "boolean": lambda: pd.array([True, None, False], dtype="boolean"),
    "string python": lambda: pd.array(["a", None, "c"], dtype=pd.StringDtype("python")),
    "string pyarrow": lambda: pd.array(["a", None, "c"], dtype="string[pyarrow]"),
    "str": lambda: pd.array(["a", None, "c"], dtype="str"),
    "category ordered": lambda: pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
    "datetime ns tz": lambda: pd.date_range("2024-03-31", periods=3, freq="h", tz="Europe/Paris", unit="ns"),
    "timedelta": lambda: pd.to_timedelta([1, 2, 3], unit="s"),
    "period": lambda: pd.period_range("2024-01", periods=3, freq="M").array,
    "interval": lambda: pd.interval_range(0, 3).array,
    "sparse": lambda: pd.arrays.SparseArray([0, 0, 1]),
    "int64 pyarrow": lambda: pd.array([1, None, 3], dtype="int64[pyarrow]"),
    "float32": lambda: np.array([1.5, np.nan, 3.0], dtype=np.float32),
}


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("name", sorted(EXTENSION_ARRAYS))
def test_every_extension_dtype_round_trips_exactly(store, name, lazy):
    values = EXTENSION_ARRAYS[name]()
    frame = pd.DataFrame({"c": values, "n": [1.0, 2.0, 3.0]}, index=pd.Index(["x", "y", "z"], name="row"))
    series = pd.Series(values, name="s")
    for value in (frame, series):
        assert_same_pandas(decode(encode_value(value, store), store, lazy=lazy), value)


def test_frames_arrow_keeps_still_take_the_arrow_path(store):
    frame = mixed_frame()
    frame["p"] = pd.period_range("2024-01", periods=3, freq="M")
    frame["iv"] = pd.interval_range(0, 3).array
    encoded, back = roundtrip(frame, store)
    assert encoded.kind == "pandas"
    assert_same_pandas(back, frame)
    series = pd.Series([1.0, 2.0], index=pd.period_range("2024-01", periods=2, freq="M"), name="sales")
    encoded, back = roundtrip(series, store)
    assert encoded.kind == "pandas"
    assert_same_pandas(back, series)


def test_a_datetime_index_keeps_its_freq_and_a_series_its_name(store):
    series = pd.Series([1, 2, 3], index=pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC"), name="n")
    _, back = roundtrip(series, store)
    assert back.index.freq == "D"
    assert back.name == "n"
    assert_same_pandas(back, series)


def test_attrs_and_flags_are_kept(store):
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    frame.attrs.update(source="data.csv", rows=2)
    encoded, back = roundtrip(frame, store)
    assert encoded.kind == "pickle"
    assert back.attrs == {"source": "data.csv", "rows": 2}
    assert_same_pandas(back, frame)
    strict = pd.DataFrame({"x": [1.0]}).set_flags(allows_duplicate_labels=False)
    _, back = roundtrip(strict, store)
    assert back.flags.allows_duplicate_labels is False
    series = pd.Series([1.0], name="s")
    series.attrs["unit"] = "kg"
    _, back = roundtrip(series, store)
    assert back.attrs == {"unit": "kg"} and back.name == "s"


def test_period_and_interval_indexes_decode_in_a_process_without_pandas_imported(store, child_env, tmp_path):
    """A fresh kernel imports pyarrow before pandas: pandas' Arrow types must be registered first."""
    values = {
        "period series": pd.Series([1.0, 2.0], index=pd.period_range("2024-01", periods=2, freq="M")),
        "interval frame": pd.DataFrame({"v": [1, 2]}, index=pd.interval_range(0, 2)),
        "period column": pd.DataFrame({"p": pd.period_range("2024-01-01", periods=2, freq="D")}),
        "freq": pd.Series([1.0, 2.0], index=pd.date_range("2024-01-01", periods=2, freq="D", tz="UTC")),
    }
    encodings = {name: encode_value(value, store).__dict__ for name, value in values.items()}
    assert [enc["kind"] for enc in encodings.values()] == ["pandas", "pandas", "pandas", "pickle"]
    listing = tmp_path / "encodings.json"
    listing.write_text(json.dumps(encodings))
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from nblift.store import ObjectStore\n"
        "from nblift.snapshot.codec import Encoded, decode\n"
        "assert 'pandas' not in sys.modules\n"
        f"store = ObjectStore(Path({str(store.objects_dir.parent)!r}))\n"
        f"encodings = json.load(open({str(listing)!r}))\n"
        "out = {}\n"
        "for name, data in encodings.items():\n"
        "    v = decode(Encoded(**data), store)\n"
        "    dtypes = [str(d) for d in v.dtypes] if hasattr(v, 'columns') else [str(v.dtype)]\n"
        "    freq = getattr(v.index, 'freqstr', None)\n"
        "    out[name] = [type(v.index).__name__, str(v.index.dtype), dtypes, freq]\n"
        "print(json.dumps(out))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {
        "period series": ["PeriodIndex", "period[M]", ["float64"], "M"],
        "interval frame": ["IntervalIndex", "interval[int64, right]", ["int64"], None],
        "period column": ["RangeIndex", "int64", ["period[D]"], None],
        "freq": ["DatetimeIndex", "datetime64[us, UTC]", ["float64"], "D"],
    }


@pytest.mark.parametrize("name", sorted(INDEXES))
def test_index_kind_fingerprints_follow_content(name):
    value = with_index(INDEXES[name](), "frame")
    first = fingerprint_value(value)
    if first is None:
        assert name == "object"
        return
    assert fingerprint_value(with_index(INDEXES[name](), "frame")) == first
    assert fingerprint_value(value.copy(deep=True)) == first
    changed = value.copy(deep=True)
    changed.iloc[0, 0] = 99.0
    assert fingerprint_value(changed) != first
    renamed = value.copy(deep=True)
    renamed.index = renamed.index.set_names(["other"] * renamed.index.nlevels)
    assert fingerprint_value(renamed) != first
    assert fingerprint_value(with_index(INDEXES[name](), "columns")) != first


def test_fingerprints_tell_apart_index_kinds_freq_dtypes_attrs_and_flags():
    values = [1.0, 2.0, 3.0]
    dates = pd.date_range("2024-01-01", periods=3, freq="D")
    variants = {
        "range": pd.Series(values, index=pd.RangeIndex(1, 4)),
        "int index": pd.Series(values, index=pd.Index([0, 1, 2])),
        "int32 index": pd.Series(values, index=pd.Index([0, 1, 2], dtype="int32")),
        "freq": pd.Series(values, index=dates),
        "no freq": pd.Series(values, index=pd.DatetimeIndex(list(dates))),
        "period": pd.Series(values, index=dates.to_period("D")),
        "interval right": pd.Series(values, index=pd.interval_range(0, 3)),
        "interval left": pd.Series(values, index=pd.interval_range(0, 3, closed="left")),
        "categorical": pd.Series(values, index=pd.CategoricalIndex(["a", "b", "c"])),
        "ordered categorical": pd.Series(values, index=pd.CategoricalIndex(["a", "b", "c"], ordered=True)),
        "string python": pd.Series(pd.array(["a", "b", "c"], dtype=pd.StringDtype("python"))),
        "string pyarrow": pd.Series(pd.array(["a", "b", "c"], dtype="string[pyarrow]")),
        "str": pd.Series(pd.array(["a", "b", "c"], dtype="str")),
        "Int64": pd.Series(pd.array([1, 2, 3], dtype="Int64")),
        "int64 pyarrow": pd.Series(pd.array([1, 2, 3], dtype="int64[pyarrow]")),
        "no duplicates": pd.Series(values).set_flags(allows_duplicate_labels=False),
        "plain": pd.Series(values),
        "named": pd.Series(values, name="v"),
    }
    fingerprints = {name: fingerprint_value(value) for name, value in variants.items()}
    assert None not in fingerprints.values(), fingerprints
    assert len(set(fingerprints.values())) == len(fingerprints)
    frame = pd.DataFrame([[1, 2, 3]])
    relabelled = frame.copy()
    relabelled.columns = pd.Index([0, 1, 2])
    assert fingerprint_value(frame) != fingerprint_value(relabelled)  # RangeIndex vs Index columns
    with_attrs = pd.Series(values)
    with_attrs.attrs["unit"] = "kg"
    assert fingerprint_value(with_attrs) is None


# -- values stored without their unstorable parts ------------------------------------------------------
def running():
    yield 1


class DesignInfo:
    """Like patsy's design info: plain data next to something process-bound."""

    def __init__(self) -> None:
        self.terms = ["x"]
        self.lock = threading.Lock()


def test_a_frame_whose_attrs_hold_an_unstorable_object_is_stored_without_it(store):
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    frame.attrs.update(design=DesignInfo(), steps=running(), source="data.csv")
    encoded = encode_value(frame, store)
    parts = dropped_parts(encoded)
    assert [p.split(":", 1)[0] for p in parts] == ["attrs['design']", "attrs['steps']"]
    assert "lock" in parts[0] and "generator" in parts[1]
    assert encoded.meta["dropped"] == parts
    back = decode(encoded, store)
    assert type(back) is pd.DataFrame
    pd.testing.assert_frame_equal(back, pd.DataFrame({"x": [1.0, 2.0]}), check_exact=True)  # (pandas
    # deep-copies attrs in most operations: on `frame` they would raise)
    assert back.attrs["source"] == "data.csv"
    assert isinstance(back.attrs["design"], LeftOut) and "lock" in back.attrs["design"].reason
    assert isinstance(frame.attrs["steps"], types.GeneratorType)  # the kernel's value is untouched


PARTIAL = {
    "dict": (lambda: {"gen": running(), "lr": 0.1}, ["['gen']"], lambda b: b["lr"] == 0.1),
    "list": (lambda: [1, running(), "a"], ["[1]"], lambda b: b[0] == 1 and b[2] == "a"),
    "tuple": (lambda: (running(), 2), ["[0]"], lambda b: type(b) is tuple and b[1] == 2),
    "object": (lambda: types.SimpleNamespace(lock=threading.Lock(), n=3), ["lock"], lambda b: b.n == 3),
    "two levels": (
        lambda: {"state": {"lock": threading.Lock(), "step": 7}, "name": "run"},
        ["['state']['lock']"],
        lambda b: b["state"]["step"] == 7 and b["name"] == "run",
    ),
    "deeper is left out whole": (
        lambda: {"a": {"b": {"c": running()}, "x": 1}},
        ["['a']['b']"],
        lambda b: b["a"]["x"] == 1,
    ),
}


@pytest.mark.parametrize("name", sorted(PARTIAL))
def test_containers_are_stored_without_their_unstorable_parts(store, name):
    make, paths, check = PARTIAL[name]
    value = make()
    encoded = encode_value(value, store)
    assert [p.split(":", 1)[0] for p in dropped_parts(encoded)] == paths
    back = decode(encoded, store)
    assert type(back) is type(value)
    assert check(back)


def test_shared_parts_stay_shared_when_a_part_is_left_out(store):
    inner = {"gen": running(), "v": [1]}
    encoded = encode_value({"a": inner, "b": inner, "c": inner["v"]}, store)
    assert len(dropped_parts(encoded)) == 1
    back = decode(encoded, store)
    assert back["a"] is back["b"]
    assert back["a"]["v"] is back["c"]


def test_a_group_is_stored_without_the_unstorable_parts_of_its_variables(store):
    shared = [1, 2]
    encoded = encode_group({"a": {"gen": running(), "xs": shared}, "b": shared}, store)
    assert [p.split(":", 1)[0] for p in dropped_parts(encoded)] == ["a['gen']"]
    back = decode(encoded, store)
    assert back["a"]["xs"] is back["b"]


def test_whole_values_are_never_left_out(store):
    for value in ({"gen": running()}, [running(), threading.Lock()], running()):
        with pytest.raises(Unstorable):
            encode_value(value, store)
    with pytest.raises(Unstorable, match="generator"):
        encode_group({"a": {"x": 1, "gen": running()}, "g": running()}, store)
    assert dropped_parts(encode_value({"a": 1}, store)) == []


# -- notebook functions and classes --------------------------------------------------------------------
def notebook(code: str) -> dict:
    """A namespace with `code` run in it, as a kernel runs cells in `user_ns`."""
    namespace: dict = {"__name__": "__main__"}
    exec(code, namespace)
    return namespace


BUMP = (
    "import math\n"
    "cfg = {'lr': 0.1}\n"
    "def bump(by=0.4):\n"
    "    cfg['lr'] += by\n"
    "    return math.floor(cfg['lr'])\n"
)


def test_a_notebook_function_is_bound_to_the_namespace_it_is_restored_into(store):
    ns = notebook(BUMP)
    enc_cfg = encode_value(ns["cfg"], store, namespace=ns)
    enc_bump = encode_value(ns["bump"], store, namespace=ns)
    assert enc_bump.meta["serializer"] == "cloudpickle"
    assert enc_bump.meta["namespace"] is True
    fresh: dict = {"__name__": "__main__"}
    fresh["cfg"] = decode(enc_cfg, store, namespace=fresh)
    bump = fresh["bump"] = decode(enc_bump, store, namespace=fresh)
    assert bump.__globals__ is fresh
    assert bump() == 0
    assert fresh["cfg"] == {"lr": 0.5}  # the restored cfg, not a copy
    assert fresh["math"] is sys.modules["math"]  # modules it uses are added where missing
    assert ns["cfg"] == {"lr": 0.1}


def test_a_namespace_function_pickles_to_the_same_bytes_whatever_its_globals_hold(store):
    ns = notebook(BUMP)
    first = encode_value(ns["bump"], store, namespace=ns)
    assert encode_value(ns["bump"], store, namespace=ns) == first
    ns["cfg"]["lr"] = 0.9
    ns["unrelated"] = list(range(10))
    assert encode_value(ns["bump"], store, namespace=ns).fingerprint == first.fingerprint


def test_closures_defaults_and_groups_with_a_namespace(store):
    ns = notebook(
        "def make(k):\n"
        "    def inner(x, *, y=2):\n"
        "        '''doc'''\n"
        "        return x * k * y + offset\n"
        "    return inner\n"
        "mul = make(3)\n"
        "offset = 1\n"
        "cfg = {'lr': 0.1}\n"
        "def bump():\n"
        "    cfg['lr'] = 0.5\n"
    )
    fresh: dict = {"__name__": "__main__", "offset": 1}
    mul = decode(encode_value(ns["mul"], store, namespace=ns), store, namespace=fresh)
    assert mul(2) == 13 and mul(2, y=1) == 7 and mul.__doc__ == "doc" and mul.__globals__ is fresh
    group = encode_group({"cfg": ns["cfg"], "bump": ns["bump"]}, store, namespace=ns)
    fresh.update(decode(group, store, namespace=fresh))
    fresh["bump"]()
    assert fresh["cfg"] == {"lr": 0.5}


def test_a_namespace_encoding_needs_a_namespace_to_decode(store):
    ns = notebook(BUMP)
    encoded = encode_value(ns["bump"], store, namespace=ns)
    with pytest.raises(NbliftError, match="namespace"):
        decode(encoded, store)
    unmarked = Encoded(**{**encoded.__dict__, "meta": {**encoded.meta, "namespace": False}})
    with pytest.raises(NbliftError, match="namespace"):
        decode(unmarked, store)


def test_without_a_namespace_functions_carry_their_globals_as_before(store):
    ns = notebook(BUMP)
    encoded = encode_value(ns["bump"], store)
    assert "namespace" not in encoded.meta
    bump = decode(encoded, store)
    assert bump() == 0
    assert bump.__globals__["cfg"] == {"lr": 0.5}
    assert ns["cfg"] == {"lr": 0.1}


def encode_in_child(make, store: ObjectStore, namespace: dict) -> Encoded:
    """Encode in a forked child, as a background snapshot does."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            enc = encode_value(make(), store, namespace=namespace)
            os.write(write, json.dumps(enc.__dict__).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        data = fh.read()
    os.waitpid(pid, 0)
    assert data, "the child failed to encode"
    return Encoded(**json.loads(data))


def test_a_notebook_class_keeps_its_identity_across_snapshots_taken_in_children(store):
    ns = notebook(
        "class Acc:\n"
        "    def __init__(self):\n"
        "        self.n = 0\n"
        "    def add(self, k=1):\n"
        "        self.n += k\n"
        "        return self\n"
    )
    enc_class = encode_in_child(lambda: ns["Acc"], store, ns)
    enc_acc = encode_in_child(lambda: ns["Acc"]().add(2), store, ns)
    assert encode_in_child(lambda: ns["Acc"], store, ns) == enc_class  # the same bytes every time
    fresh: dict = {"__name__": "__main__"}
    acc_class = decode(enc_class, store, namespace=fresh)
    acc = decode(enc_acc, store, namespace=fresh)
    assert acc_class is not ns["Acc"]
    assert type(acc) is acc_class
    assert isinstance(acc, acc_class)
    assert acc.add().n == 3
    assert acc_class.add.__globals__ is fresh


def test_pickled_bytes_of_a_class_and_its_instances_are_stable(store):
    ns = notebook("class Point:\n    def __init__(self, x):\n        self.x = x\n")
    cls = encode_value(ns["Point"], store, namespace=ns)
    first = encode_value(ns["Point"](1), store, namespace=ns)  # caches __slotnames__ on the class
    assert encode_value(ns["Point"](1), store, namespace=ns) == first
    assert encode_value(ns["Point"], store, namespace=ns) == cls
    assert decode(first, store, namespace={}).x == 1


def test_restored_functions_and_classes_encode_to_the_stored_bytes_in_another_process(
    store, child_env, tmp_path
):
    """What `verify` relies on: decode into a fresh namespace elsewhere, encode again, same fingerprint."""
    ns = notebook(
        BUMP + "class Acc:\n"
        "    step = 1\n"
        "    def add(self, k=1):\n"
        "        self.n = getattr(self, 'n', 0) + k\n"
        "        return self\n"
    )
    values = {"bump": ns["bump"], "Acc": ns["Acc"], "acc": ns["Acc"]().add(2), "cfg": ns["cfg"]}
    encodings = {name: encode_value(value, store, namespace=ns).__dict__ for name, value in values.items()}
    listing = tmp_path / "encodings.json"
    listing.write_text(json.dumps(encodings))
    code = (
        "import json\n"
        "from pathlib import Path\n"
        "from nblift.store import ObjectStore\n"
        "from nblift.snapshot.codec import Encoded, decode, encode_value\n"
        f"store = ObjectStore(Path({str(store.objects_dir.parent)!r}))\n"
        f"encodings = json.loads(Path({str(listing)!r}).read_text())\n"
        "ns = {'__name__': '__main__'}\n"
        "for name, data in encodings.items():\n"
        "    ns[name] = decode(Encoded(**data), store, namespace=ns)\n"
        "assert isinstance(ns['acc'], ns['Acc']) and ns['bump']() == 0 and ns['cfg']['lr'] == 0.5\n"
        "same = {n: encode_value(ns[n], store, namespace=ns).fingerprint == d['fingerprint']\n"
        "        for n, d in encodings.items() if n != 'cfg'}\n"
        "print(json.dumps(same))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"bump": True, "Acc": True, "acc": True}


# -- decode builds a new value every time --------------------------------------------------------------
def mutate(value) -> None:
    if isinstance(value, np.ndarray):
        value[0] = -1.0
    elif isinstance(value, pd.DataFrame):
        value.loc[0, "x"] = -1.0
    elif isinstance(value, dict):
        value["w"][0] = -1.0
        value["k"].append(1)
    else:
        value.append(1)


EQUAL_CONTENT = {
    "small array": lambda: np.arange(5.0),
    "large array": lambda: np.arange(LAZY_MIN_BYTES // 4, dtype=np.float64),
    "frame": lambda: pd.DataFrame({"x": [1.0, 2.0]}),
    "large frame": lambda: pd.DataFrame({"x": np.arange(LAZY_MIN_BYTES // 4, dtype=np.float64)}),
    "dict with an array": lambda: {"w": np.arange(LAZY_MIN_BYTES // 4, dtype=np.float64), "k": []},
    "list": lambda: [1, 2],
}


@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("name", sorted(EQUAL_CONTENT))
def test_equal_content_is_stored_once_but_decoded_into_separate_objects(store, name, lazy):
    first = encode_value(EQUAL_CONTENT[name](), store)
    second = encode_value(EQUAL_CONTENT[name](), store)
    assert first.fingerprint == second.fingerprint
    a, b = decode(first, store, lazy=lazy), decode(second, store, lazy=lazy)
    assert a is not b
    mutate(a)
    expected = EQUAL_CONTENT[name]()
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(b, expected)
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(b, expected)
    elif isinstance(expected, dict):
        np.testing.assert_array_equal(b["w"], expected["w"])
        assert b["k"] == []
    else:
        assert b == expected
    assert all(store.verify(oid) for oid in first.objects)


def test_a_matplotlib_figure_is_left_out_with_the_reason(store: ObjectStore) -> None:
    """A figure can take seconds to pickle at every snapshot, and is a drawing: never stored, said why."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(range(100_000))
    try:
        for value in (fig, ax, ax.lines[0]):
            with pytest.raises(Unstorable, match=r"matplotlib figure.*re-run the cell that drew it"):
                encode_value(value, store)
        assert store.bytes_written == 0
    finally:
        plt.close(fig)


def test_notebook_classes_are_stored_by_value_where_dill_is_not_installed():
    """A moved kernel's or a runner's environment may lack dill: cloudpickle still stores a class the
    notebook defined (by value), instead of a reference to `__main__` that no other kernel could load."""
    import subprocess
    import sys

    code = (
        "import sys\nsys.modules['dill'] = None\n"  # `import dill` fails, as where it is not installed
        "import __main__\n"
        "class Point:\n    def __init__(self, x):\n        self.x = x\n"
        "__main__.Point = Point\n"
        "from nblift.snapshot.codec_pickle import pickled\n"
        "serializer, main, _, _ = pickled(Point(3), vars(__main__))\n"
        "print(serializer, b'_make_skeleton_class' in main)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.split() == ["cloudpickle", "True"]
