"""Encoding kernel values into the object store and back: fast paths, pickle fallbacks, corruption, costs."""

from __future__ import annotations

import io
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
    encode_group,
    encode_value,
    fingerprint_value,
)
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


def test_lazy_numpy_decode_is_a_copy_on_write_memmap(store):
    arr = np.arange(LAZY_MIN_BYTES // 8 * 2, dtype=np.float64)
    encoded, back = roundtrip(arr, store, lazy=True)
    assert isinstance(back, np.memmap)
    np.testing.assert_array_equal(back, arr)
    back[:100] = -1.0
    assert back[0] == -1.0
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
    "integer column labels": lambda: pd.DataFrame(np.eye(3)),
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
}


@pytest.mark.parametrize("name", sorted(PICKLED_FRAMES))
def test_frames_arrow_would_change_are_pickled(store, name):
    frame = PICKLED_FRAMES[name]()
    encoded, back = roundtrip(frame, store)
    assert encoded.kind == "pickle"
    pd.testing.assert_frame_equal(back, frame, check_exact=True, check_freq=True)


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
    from nblift.snapshot import codec

    monkeypatch.setattr(codec, "_SERIALIZERS", ("dill",))
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
    for serializer in ("pickle", "cloudpickle", "dill"):
        assert f"{serializer}" in reason
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
