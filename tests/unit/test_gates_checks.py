"""The data gate (pandera schema inferred, saved, edited, checked) and the behaviour gate (invariance,
directional and minimum-functionality cases against a real scikit-learn model), each passing on good input
and failing on bad input with the reason; and the policy's gate tables parsed with clear errors."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest

from nblift.errors import ConfigError, InvalidInput
from nblift.gates import behaviour, schema
from nblift.registry.policy import parse_policy

CASES = """
from nblift.gates import directional, invariance, minimum_functionality

@invariance(tolerance=0.05)
def colour_does_not_matter(data):
    return data.assign(colour=(data["colour"] + 1) % 2)

@directional("increase")
def bigger_is_pricier(data):
    return data.assign(size=data["size"] + 1)

@minimum_functionality(tolerance=0.5, min_pass=0.8)
def zero_size_is_free(data):
    rows = data.head(10).assign(size=0.0)
    return rows, [0.0] * len(rows)
"""


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "size": rng.uniform(0, 10, 500),
            "colour": rng.integers(0, 2, 500),
            "kind": rng.choice(["a", "b"], 500),
        }
    )


def test_schema_inferred_saved_and_checked(tmp_path, frame):
    frame.to_csv(tmp_path / "train.csv", index=False)
    out = tmp_path / "schema.yaml"
    info = schema.infer_file(None, str(tmp_path / "train.csv"), out)
    assert info["rows"] == 500 and set(info["columns"]) == {"size", "colour", "kind"}
    loaded = schema.load(out)
    assert schema.check(loaded, frame)["passed"]
    bad = frame.assign(kind=frame["kind"].where(frame.index > 2, "z"), size=frame["size"] - 20)
    evidence = schema.check(loaded, bad.drop(columns="colour"))
    assert not evidence["passed"]
    failures = {(f["column"], f["check"].split("(")[0]) for f in evidence["failures"]}
    assert ("kind", "isin") in failures and ("size", "greater_than_or_equal_to") in failures
    assert ("(table)", "column_in_dataframe") in failures
    assert "schema violated: " in schema.describe(evidence)
    # the YAML is for people to edit: a loosened bound lets the shifted sizes through
    text = out.read_text().replace("greater_than_or_equal_to: 0.0", "greater_than_or_equal_to: -100.0")
    out.write_text(text)
    assert schema.check(schema.load(out), frame.assign(size=frame["size"] - 20))["passed"]


def test_schema_errors_say_what_to_do(tmp_path):
    with pytest.raises(Exception, match="infer-schema"):
        schema.load(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("columns: [1, 2\n")
    with pytest.raises(InvalidInput, match="is not a pandera schema"):
        schema.load(tmp_path / "bad.yaml")


def _models(frame):
    from sklearn.linear_model import LinearRegression

    price = 3 * frame["size"] + np.random.default_rng(1).normal(0, 0.01, len(frame))
    features = frame[["size", "colour"]]
    good = LinearRegression().fit(features, price)
    bad = LinearRegression().fit(features, -price + 5 * frame["colour"])
    return good, bad, features


def test_behaviour_cases_pass_on_a_good_model_and_name_what_broke(tmp_path, frame):
    cases = tmp_path / "cases.py"
    cases.write_text(textwrap.dedent(CASES))
    good, bad, features = _models(frame)
    ok = behaviour.run(good, features, cases)
    assert ok["passed"] and [c["case"] for c in ok["cases"]] == [
        "colour_does_not_matter",
        "bigger_is_pricier",
        "zero_size_is_free",
    ]
    broken = behaviour.run(bad, features, cases)
    assert not broken["passed"]
    by_case = {c["case"]: c for c in broken["cases"]}
    assert by_case["colour_does_not_matter"]["failed_rows"] == len(features)
    assert by_case["bigger_is_pricier"]["failed_rows"] == len(features)
    assert (
        by_case["bigger_is_pricier"]["examples"][0]["after"]
        < by_case["bigger_is_pricier"]["examples"][0]["before"]
    )
    assert not by_case["zero_size_is_free"]["passed"]
    text = behaviour.describe(broken)
    assert "colour_does_not_matter (invariance) broken on 500 of 500 rows" in text
    # a tolerance from the policy applies to cases that set none: a wide one lets the direction pass
    assert behaviour.run(bad, features, cases, tolerance=1e6)["cases"][1]["passed"]


def test_behaviour_errors_are_verdicts_or_clear_messages(tmp_path, frame):
    good, _, features = _models(frame)
    crash = tmp_path / "crash.py"
    crash.write_text(
        "from nblift.gates import invariance\n@invariance()\ndef oops(data):\n    return data['nope']\n"
    )
    result = behaviour.run(good, features, crash)
    assert not result["passed"] and "KeyError" in result["cases"][0]["error"]
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(InvalidInput, match="has no behaviour cases"):
        behaviour.run(good, features, empty)
    with pytest.raises(ValueError, match="direction"):
        from nblift.gates import directional

        directional("sideways")


def test_policy_declares_quality_gates():
    policy = parse_policy(
        "champion",
        {
            "data": {"schema": "gates/schema.yaml", "data": "data/eval.csv"},
            "behaviour": {"cases": "gates/cases.py", "data": "data/eval.csv", "tolerance": 0.1},
            "drift": {"reference": "data/train.csv@0123abcd", "current": "data/eval.csv", "test": "psi"},
        },
    )
    assert [g.kind for g in policy.quality] == ["data", "behaviour", "drift"]
    assert policy.to_json()["quality"][2]["label"] == "data/eval.csv against data/train.csv@0123abcd"
    with pytest.raises(ConfigError, match="needs data"):
        parse_policy("champion", {"data": {"schema": "s.yaml"}})
    with pytest.raises(ConfigError, match="path inside the project"):
        parse_policy("champion", {"behaviour": {"cases": "../x.py", "data": "d.csv"}})
    with pytest.raises(ConfigError, match="unknown drift test 'tt'"):
        parse_policy("champion", {"drift": {"reference": "a.csv", "current": "b.csv", "test": "tt"}})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_policy("champion", {"drift": {"reference": "a.csv", "current": "b.csv", "bins": 3}})
