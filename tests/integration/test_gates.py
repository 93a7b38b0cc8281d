"""Quality gates end to end against the project's real MLflow store: two registered scikit-learn versions,
`nblift check` run through the CLI; each gate kind passes on a good candidate and fails on a bad one with
the reason; the verdicts land in the audit trail, the promotion gates (the Registry view's payload) and the
model card; `nblift drift` exits 1 with a Markdown report and a static HTML one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from nblift.project import Project
from nblift.registry import audit, card, promote

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

POLICY = """
[tool.nblift.promotion.champion]
metrics = []

[tool.nblift.promotion.champion.data]
schema = "gates/schema.yaml"
data = "data/eval.csv"

[tool.nblift.promotion.champion.behaviour]
cases = "gates/cases.py"
data = "data/eval.csv"
drop = ["score"]

[tool.nblift.promotion.champion.drift]
reference = "data/train.csv"
current = "data/eval.csv"
columns = {score = {skip = true}}
"""

CASES = """
from nblift.gates import directional, invariance, minimum_functionality

@invariance(tolerance=0.5)
def city_does_not_matter(data):
    return data.assign(city_code=(data["city_code"] + 1) % 3)

@directional("increase")
def more_income_more_score(data):
    return data.assign(income=data["income"] * 1.5)

@minimum_functionality(tolerance=1.0, min_pass=0.9)
def no_income_low_score(data):
    rows = data.head(20).assign(income=0.0)
    return rows, [0.0] * len(rows)
"""


def _frame(rng: np.random.Generator, n: int, income_scale: float = 1.0) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.gamma(2.0, 10.0, n) * income_scale,
            "city_code": rng.integers(0, 3, n),
        }
    )
    return frame.assign(score=2.0 * frame["income"] + rng.normal(0, 0.1, n))


def _cli(project_dir, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nblift", "-C", str(project_dir), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=project_dir,
    )


@pytest.fixture
def gated(tmp_path):
    from sklearn.linear_model import LinearRegression

    from nblift.registry.register import register

    (tmp_path / "pyproject.toml").write_text('[project]\nname = "gated"\n' + POLICY)
    (tmp_path / "data").mkdir()
    (tmp_path / "gates").mkdir()
    (tmp_path / "gates" / "cases.py").write_text(textwrap.dedent(CASES))
    rng = np.random.default_rng(7)
    train = _frame(rng, 2000)
    train.to_csv(tmp_path / "data" / "train.csv", index=False)
    _frame(rng, 400).to_csv(tmp_path / "data" / "eval.csv", index=False)
    project = Project.discover(tmp_path)
    features = train[["age", "income", "city_code"]]
    good = LinearRegression().fit(features, train["score"])
    bad = LinearRegression().fit(features, train["score"] + 10.0 * train["city_code"])
    register(project, good, "scorer", input_example=features.head(5))
    register(project, bad, "scorer", input_example=features.head(5))
    infer = _cli(tmp_path, "gates", "infer-schema", "data/train.csv", "-o", "gates/schema.yaml")
    assert infer.returncode == 0, infer.stderr
    return tmp_path, project


def _verdicts(result: dict) -> dict[str, dict]:
    return {v["kind"]: v for v in result["verdicts"]}


def test_gates_pass_and_fail_with_reasons(gated):
    root, project = gated
    assert "income:" in (root / "gates" / "schema.yaml").read_text()

    ok = _cli(root, "check", "scorer@champion", "--version", "1", "--json", "--report", "report.md")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    result = json.loads(ok.stdout)
    assert result["passed"] and all(v["passed"] for v in result["verdicts"])
    assert set(_verdicts(result)) == {"data", "behaviour", "drift"}
    markdown = (root / "report.md").read_text()
    assert "| passed | behaviour | gates/cases.py on data/eval.csv |" in markdown

    # the bad model breaks invariance (its predictions follow the city code): behaviour fails, with the case
    bad = _cli(root, "check", "scorer@champion", "--json")  # the newest version: 2
    assert bad.returncode == 1, bad.stdout + bad.stderr
    result = json.loads(bad.stdout)
    assert result["version"] == "2"
    behaviour = _verdicts(result)["behaviour"]
    assert not behaviour["passed"]
    assert "city_does_not_matter (invariance) broken on" in behaviour["detail"]
    cases = {c["case"]: c for c in behaviour["evidence"]["cases"]}
    assert not cases["city_does_not_matter"]["passed"] and cases["more_income_more_score"]["passed"]
    assert cases["city_does_not_matter"]["examples"]
    assert _verdicts(result)["data"]["passed"] and _verdicts(result)["drift"]["passed"]

    # evaluation data with a shifted income and an unseen city code: data and drift fail for v1, with why
    rng = np.random.default_rng(8)
    shifted = _frame(rng, 400, income_scale=2.0)
    shifted.loc[:4, "city_code"] = 7
    shifted.to_csv(root / "data" / "eval.csv", index=False)
    failed = _cli(root, "check", "scorer@champion", "--version", "1", "--json")
    assert failed.returncode == 1
    verdicts = _verdicts(json.loads(failed.stdout))
    assert not verdicts["data"]["passed"]
    assert (
        "schema violated: city_code: less_than_or_equal_to(3) (5 rows, e.g. 7.0" in verdicts["data"]["detail"]
    )
    assert any(f["column"] == "income" for f in verdicts["data"]["evidence"]["failures"])
    assert not verdicts["drift"]["passed"]
    assert "income" in verdicts["drift"]["evidence"]["drifted"]
    assert verdicts["drift"]["evidence"]["report"].endswith("drift-scorer-v1-champion.html")

    # recorded: the audit trail (chained, undamaged), the promotion gates the Registry view reads, the card
    entries = [e for e in audit.entries(project, "scorer") if e["action"] == "gates"]
    assert [(e["version"], e["alias"]) for e in entries] == [
        ("1", "champion"),
        ("2", "champion"),
        ("1", "champion"),
    ]
    assert audit.verify(project) == []
    gates, _ = promote.evaluate(project, "scorer", "1", "champion")
    by_kind = {g.kind: g for g in gates}
    assert not by_kind["drift"].passed and by_kind["drift"].evidence["drifted"] == ["income"]
    blocked = promote.promote(project, "scorer", "1", "champion", "tester")
    assert not blocked.promoted and "income" in json.dumps(blocked.to_json())
    markdown = card.render(project, "scorer", "1")["markdown"]
    assert "Quality gates (data, behaviour, drift)" in markdown
    assert "| champion | drift | data/eval.csv against data/train.csv | FAILED |" in markdown


def test_unchecked_quality_gates_block_promotion(gated):
    _, project = gated
    gates, _ = promote.evaluate(project, "scorer", "1", "champion")
    quality = [g for g in gates if g.kind in ("data", "behaviour", "drift")]
    assert len(quality) == 3 and not any(g.passed for g in quality)
    assert "nblift check scorer@champion --version 1" in quality[0].detail


def test_drift_cli_exit_status_and_reports(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "d"\n')
    rng = np.random.default_rng(3)
    ref = _frame(rng, 3000)
    ref.to_parquet(tmp_path / "ref.parquet")
    cur = _frame(rng, 3000).assign(age=lambda f: f["age"] + 8)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    same = _cli(tmp_path, "drift", "ref.parquet", "ref.parquet")
    assert same.returncode == 0, same.stdout + same.stderr
    out = _cli(
        tmp_path, "drift", "ref.parquet", "cur.csv", "--html", "drift.html", "--report", "drift.md", "--json"
    )
    assert out.returncode == 1, out.stderr
    result = json.loads(out.stdout)
    assert result["drifted"] == ["age"]
    assert "| age | wasserstein |" in (tmp_path / "drift.md").read_text()
    page = (tmp_path / "drift.html").read_text()
    assert "<svg" in page and "http" not in page and "<script" not in page
    psi = _cli(tmp_path, "drift", "ref.parquet", "cur.csv", "--test", "psi", "--ignore", "age", "--json")
    assert psi.returncode == 0 and {c["test"] for c in json.loads(psi.stdout)["columns"]} == {"psi"}
    bad = _cli(tmp_path, "drift", "ref.parquet", "cur.csv", "--test", "age=bogus")
    assert bad.returncode != 0 and "unknown drift test 'bogus'" in bad.stderr
