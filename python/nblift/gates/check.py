"""`nblift check MODEL@ALIAS`: run the quality gates of the alias's policy for a candidate version, record
their verdicts (with evidence) in the registry's audit trail, then evaluate every gate of the policy
(metrics, check notebooks, approvals and the quality gates just run) without moving the alias.

Each verdict is JSON: `{"kind", "label", "passed", "detail", "evidence"}`; `evidence` is what the gate found
(the schema's failing checks, each behaviour case's failing rows, each column's drift test).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound
from ..project import Project
from .spec import GateSpec

_TARGET = re.compile(r"^(?P<name>[^@/]+)@(?P<alias>[A-Za-z0-9_\-]+)$")


@dataclasses.dataclass
class Verdict:
    kind: str
    label: str
    passed: bool
    detail: str
    evidence: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class CheckResult:
    name: str
    version: str
    alias: str
    verdicts: list[Verdict]
    gates: list[Any]  # registry.promote.Gate: every gate of the policy
    reports: list[str]

    @property
    def passed(self) -> bool:
        """Every gate passed, approvals aside (they are given after the checks, by people)."""
        return all(g.passed for g in self.gates if g.kind != "approvals")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "passed": self.passed,
            "verdicts": [v.to_json() for v in self.verdicts],
            "gates": [g.to_json() for g in self.gates],
            "reports": self.reports,
        }


def parse_target(text: str) -> tuple[str, str]:
    match = _TARGET.match(text or "")
    if match is None:
        raise InvalidInput(f"{text!r} is not MODEL@ALIAS", hint="e.g. `nblift check churn@champion`")
    return match["name"], match["alias"]


def newest_version(project: Project, name: str) -> str:
    from .. import tracking

    client = tracking.client(project)
    versions = client.search_model_versions(
        f"name = '{name.replace(chr(39), chr(39) * 2)}'", max_results=1000
    )
    if not versions:
        raise NotFound(f"no registered model named {name!r}", hint="register one with `%lift register`")
    return str(max(int(v.version) for v in versions))


def _inside(project: Project, rel: str) -> Path:
    path = (project.root / rel.split("@", 1)[0]).resolve()
    if not path.is_relative_to(project.root.resolve()):
        raise InvalidInput(f"{rel} is outside the project", hint="gates read files inside the project")
    return path


def _data(project: Project, rel: str) -> Any:
    from .tables import open_table

    _inside(project, rel)
    return open_table(project, rel, base=project.root).frame()


def _run_data(project: Project, spec: GateSpec) -> Verdict:
    from . import schema

    s = spec.settings
    evidence = schema.check(schema.load(_inside(project, s["schema"])), _data(project, s["data"]))
    return Verdict("data", spec.label, evidence["passed"], schema.describe(evidence), evidence)


def _run_behaviour(project: Project, spec: GateSpec, model: Any) -> Verdict:
    from . import behaviour

    s = spec.settings
    frame = _data(project, s["data"])
    drop = [c for c in s.get("drop", []) if c in frame.columns]
    evidence = behaviour.run(
        model, frame.drop(columns=drop), _inside(project, s["cases"]), s.get("tolerance")
    )
    return Verdict("behaviour", spec.label, evidence["passed"], behaviour.describe(evidence), evidence)


def _run_drift(project: Project, spec: GateSpec, report: Path) -> Verdict:
    from .drift import compare, options_from
    from .report import write_html

    s = spec.settings
    for key in ("reference", "current"):
        _inside(project, s[key])
    result = compare(project, s["reference"], s["current"], options_from(s, "drift gate"), base=project.root)
    write_html(result, report)
    drifted = result.drifted
    detail = (
        f"{len(drifted)} of {len(result.columns)} columns drifted"
        + (f": {', '.join(drifted[:10])}" + (" ..." if len(drifted) > 10 else "") if drifted else "")
        + f" (allowed share {result.max_share:.0%})"
    )
    if drifted:
        worst = [c for c in result.columns if c.drifted][:5]
        detail += "; " + "; ".join(f"{c.column}: {c.test} {c.detail}" for c in worst)
    return Verdict("drift", spec.label, result.passed, detail, result.to_json())


def run_quality(
    project: Project, name: str, version: str, alias: str, report_dir: Path | None = None
) -> tuple[list[Verdict], list[str]]:
    """Run the alias's quality gates for the version (nothing recorded); the verdicts and HTML reports."""
    from ..registry.policy import policy_for

    policy = policy_for(project, alias)
    if policy is None:
        raise InvalidInput(
            f"alias {alias!r} has no promotion policy",
            hint=f"add [tool.nblift.promotion.{alias}] to the settings",
        )
    model = None
    verdicts, reports = [], []
    folder = report_dir or project.state_dir / "gates" / "reports"
    for spec in policy.quality:
        try:
            if spec.kind == "data":
                verdicts.append(_run_data(project, spec))
            elif spec.kind == "behaviour":
                if model is None:
                    from ..registry.load import load_model

                    model = load_model(f"models:/{name}/{version}", project=project)
                verdicts.append(_run_behaviour(project, spec, model))
            else:
                path = folder / f"drift-{name}-v{version}-{alias}.html"
                verdicts.append(_run_drift(project, spec, path))
                reports.append(str(path))
        except (InvalidInput, NotFound) as exc:
            verdicts.append(
                Verdict(spec.kind, spec.label, False, f"could not run: {exc}", {"error": str(exc)})
            )
    return verdicts, reports


def check(
    project: Project,
    name: str,
    alias: str,
    who: str,
    *,
    version: str | None = None,
    report_dir: Path | None = None,
) -> CheckResult:
    """Run the quality gates of `alias`'s policy for a version of `name` (default: the newest), record the
    verdicts in the audit trail, and evaluate every gate of the policy."""
    from ..registry import audit
    from ..registry.names import check_alias, check_name, check_version
    from ..registry.promote import evaluate

    check_name(name)
    check_alias(alias)
    version = check_version(version) if version is not None else newest_version(project, name)
    verdicts, reports = run_quality(project, name, version, alias, report_dir)
    if verdicts:
        audit.record(
            project,
            "gates",
            name,
            version,
            who,
            alias=alias,
            details={"verdicts": [v.to_json() for v in verdicts], "reports": reports},
        )
    gates, _ = evaluate(project, name, version, alias)
    return CheckResult(name, version, alias, verdicts, gates, reports)
