"""Promotion policy from the settings, name rules and the audit trail's chain (no MLflow needed)."""

from __future__ import annotations

import json

import pytest

from nblift.errors import ConfigError, InvalidInput
from nblift.project import Project
from nblift.registry import audit
from nblift.registry.names import check_alias, check_name, parse_model_uri
from nblift.registry.policy import parse_rule, policies


def test_policy_tables_merge_across_settings_files(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nblift.promotion.champion]\nmetrics = ["auc >= 0.8", "loss <= current.loss * 1.05"]\n'
        "approvals = 2\n"
    )
    (tmp_path / ".nblift").mkdir()
    (tmp_path / ".nblift" / "config.toml").write_text(
        '[promotion.staging]\nchecks = ["checks/smoke.ipynb"]\n'
    )
    found = policies(Project.discover(tmp_path, environ={}))
    assert sorted(found) == ["champion", "staging"]
    champion = found["champion"]
    assert champion.approvals == 2 and not champion.allow_self_approval
    rule = champion.metrics[1]
    assert (rule.metric, rule.op, rule.other, rule.bound(2.0)) == ("loss", "<=", "loss", 2.1)
    assert found["staging"].checks == ("checks/smoke.ipynb",)


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('metrics = ["accuracy > high"]', "is not a metric rule"),
        ('metrics = "accuracy > 1"', "must be a list of strings"),
        ("approvals = -1", "whole number"),
        ('checks = ["../outside.ipynb"]', "inside the project"),
        ('checks = ["/abs/check.ipynb"]', "inside the project"),
        ("approvers = 3", "list of strings"),
        ("quorum = 2", "unknown key"),
    ],
)
def test_bad_policies_name_the_problem(tmp_path, table, says):
    (tmp_path / "pyproject.toml").write_text(f"[tool.nblift.promotion.champion]\n{table}\n")
    with pytest.raises(ConfigError, match=says):
        policies(Project.discover(tmp_path, environ={}))


def test_a_promotion_setting_that_is_not_a_table_is_refused(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.nblift]\npromotion = "champion"\n')
    with pytest.raises(ConfigError, match="table of tables"):
        Project.discover(tmp_path, environ={})


def test_rules_and_names():
    assert parse_rule("val/f1 > 0.5e-1", "x").number == 0.05
    for bad in ("../x", "a/b", "<b>", "", " lead", "x" * 101, "a\\b", "..", "a..b"):
        with pytest.raises(InvalidInput):
            check_name(bad)
    assert check_name("churn model v2.1") == "churn model v2.1"
    for bad in ("latest", "v3", "9lives", "a b", ""):
        with pytest.raises(InvalidInput):
            check_alias(bad)
    assert parse_model_uri("models:/churn@champion") == ("churn", None, "champion")
    assert parse_model_uri("models:/churn/12") == ("churn", "12", None)
    with pytest.raises(InvalidInput):
        parse_model_uri("runs:/abc/model")


def test_audit_chain_detects_removed_lines(tmp_path):
    project = Project.discover(tmp_path, environ={})
    for who in ("a", "b", "c"):
        audit.record(project, "approve", "m", "1", who, alias="champion")
    assert [e["seq"] for e in audit.entries(project)] == [0, 1, 2] and audit.verify(project) == []
    path = project.state_dir / audit.AUDIT_FILE
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    assert any("removed or reordered" in p for p in audit.verify(project))
    path.write_text("\n".join(lines) + "\n")
    assert audit.verify(project) == []
    assert json.loads(lines[1])["prev"] == json.loads(lines[0])["hash"]
