"""Co-variable grouping: names whose values share a mutable object are stored together."""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import logging
import math
import os
import time

import numpy as np
import pandas as pd
import pytest

from nblift.errors import InvalidInput
from nblift.snapshot.groups import TRUNCATED, group_variables, reachable_ids


def groups(**namespace):
    return group_variables(namespace, namespace)


def test_aliases_are_grouped():
    a = [1]
    assert groups(a=a, b=a, c={"x": a}, d=[2]) == [["a", "b", "c"], ["d"]]


def test_an_array_and_a_list_holding_it_are_grouped():
    arr = np.arange(10)
    assert groups(x=[arr], y=arr, z=np.arange(10)) == [["x", "y"], ["z"]]


def test_views_of_one_buffer_are_grouped():
    base = np.zeros(100)
    assert groups(v1=base[:10], v2=base[10:][::2], other=np.zeros(100)) == [["other"], ["v1", "v2"]]
    assert groups(base=base, view=base.reshape(10, 10).T) == [["base", "view"]]


def test_arrays_over_one_bytearray_are_grouped():
    buffer = bytearray(80)
    assert groups(a=np.frombuffer(buffer, dtype=np.int64), b=np.frombuffer(buffer, dtype=np.uint8)) == [
        ["a", "b"]
    ]


def test_shared_objects_inside_instances_are_found():
    class Plain:
        pass

    class Slotted:
        __slots__ = ("items",)

    @dataclasses.dataclass
    class Record:
        items: list

    shared = {"k": 1}
    p, s = Plain(), Slotted()
    p.items = [shared]
    s.items = (shared,)
    namespace = {
        "p": p,
        "s": s,
        "r": Record([shared]),
        "od": collections.OrderedDict(a=shared),
        "lonely": Plain(),
    }
    assert group_variables(namespace, namespace) == [["lonely"], ["od", "p", "r", "s"]]


class Colour(enum.Enum):
    RED = 1


def test_shared_singletons_and_atoms_do_not_glue_variables():
    def make():
        return {
            "module": os,
            "np": np,
            "function": print,
            "builtin": math.sqrt,
            "partial_target": functools.partial(max, 1).func,
            "dtype": np.dtype("float64"),
            "scalar type": np.float64,
            "class": dict,
            "none": None,
            "ints": [1, 2, 3, 256],
            "strings": ("a", "hello"),
            "bytes": b"xy",
            "enum": Colour.RED,
            "logger": logging.getLogger("nblift.test"),
            "nan": float("nan"),
            "empty tuple": (),
            "pandas NA": pd.NA,
            "category dtype": pd.CategoricalDtype(["a"]),
        }

    assert groups(d1=make(), d2=make(), i1=1, i2=1, s1="x", s2="x", n1=None, n2=None) == [
        ["d1"],
        ["d2"],
        ["i1"],
        ["i2"],
        ["n1"],
        ["n2"],
        ["s1"],
        ["s2"],
    ]


def test_two_names_for_one_function_or_tuple_are_aliases():
    def f():
        return 1

    t = (1, 2)
    assert groups(f=f, g=f, t=t, u=t) == [["f", "g"], ["t", "u"]]


def test_frames_are_leaves():
    frame = pd.DataFrame({"a": np.arange(5)})
    ids = reachable_ids({"frame": frame})
    assert id(frame) in ids
    assert groups(frame=frame, holder={"f": frame}, other=pd.DataFrame({"a": [1]})) == [
        ["frame", "holder"],
        ["other"],
    ]


def test_an_object_array_is_not_walked():
    strings = np.array([f"s{i}" for i in range(1_000_000)], dtype=object)
    start = time.perf_counter()
    ids = reachable_ids(strings)
    elapsed = time.perf_counter() - start
    assert ids == frozenset({id(strings)})
    assert elapsed < 1.0  # walking a million strings would take far longer than a dict lookup


def test_the_walk_stops_at_its_limit_and_says_so():
    big = [[i] for i in range(1000)]
    ids = reachable_ids(big, limit=100)
    assert TRUNCATED in ids
    assert id(big) in ids
    complete = reachable_ids(big)
    assert TRUNCATED not in complete
    assert all(id(item) in complete for item in big)
    huge = list(range(1_000_000))
    assert reachable_ids(huge) == frozenset({id(huge), TRUNCATED})


def test_a_truncated_variable_is_still_grouped_with_its_aliases():
    big = [[i] for i in range(1000)]
    namespace = {"big": big, "alias": big, "other": [1]}
    assert group_variables(namespace, namespace, limit=10) == [["alias", "big"], ["other"]]


def test_cycles_terminate():
    a: list = []
    a.append(a)
    b = {"self": None}
    b["self"] = b
    assert groups(a=a, b=b) == [["a"], ["b"]]


def test_only_the_requested_names_are_grouped_sorted_and_ordered():
    shared = [0]
    namespace = {"zeta": shared, "alpha": shared, "mid": [1], "unrelated": shared}
    assert group_variables(namespace, ["zeta", "mid", "alpha"]) == [["alpha", "zeta"], ["mid"]]
    with pytest.raises(InvalidInput, match="missing"):
        group_variables(namespace, ["missing"])


def test_grouping_a_large_namespace_is_fast():
    arr = np.zeros(25_000_000)  # 200 MB (zero pages: never touched by grouping)
    rows = 1_000_000
    frame = pd.DataFrame(
        {
            "i": np.arange(rows),
            "f": np.ones(rows),
            "s": pd.Series(np.array(["x", "yy", "zzz", "w"] * (rows // 4)), dtype="str"),
        }
    )
    namespace = {"arr": arr, "frame": frame, **{f"small{i}": {"k": [i, str(i)], "n": i} for i in range(50)}}
    start = time.perf_counter()
    result = group_variables(namespace, namespace)
    elapsed = time.perf_counter() - start
    what = f"a 200 MB array, a {rows}-row frame and 50 small objects"
    print(f"\ngroup_variables over {what}: {elapsed * 1000:.2f} ms")
    assert len(result) == 52
