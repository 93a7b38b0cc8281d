"""Aliases, promotion through the policy's gates, approvals and rejections; every change audited."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .. import tracking
from ..errors import InvalidInput, NotFound
from ..project import Project
from . import audit
from .names import check_alias, check_name, check_version
from .policy import OPERATORS, Policy, policy_for

GATE_TAG = "nblift.gates."
METRICS_TAG = "nblift.metrics"


@dataclasses.dataclass
class Gate:
    kind: str  # metric, check, approvals; data, behaviour, drift (quality gates, run by `nblift check`)
    label: str
    passed: bool
    detail: str
    evidence: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Promotion:
    name: str
    version: str
    alias: str
    gates: list[Gate]
    promoted: bool
    overridden: bool
    previous: str | None
    reason: str | None

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in dataclasses.asdict(self).items() if k != "gates"},
            "gates": [g.to_json() for g in self.gates],
            "passed": self.passed,
        }


def get_version(client: Any, name: str, version: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, version)
    except MlflowException:
        raise NotFound(f"model {name!r} has no version {version}", hint="see `nblift models`") from None


def holder(client: Any, name: str, alias: str) -> str | None:
    """The version `alias` points at now, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def version_metrics(client: Any, mv: Any) -> dict[str, float]:
    """The version's metrics: its run's latest values when it was registered (a notebook's run may train
    and register several versions), else, for versions registered elsewhere, the run's latest values."""
    import json

    recorded = (mv.tags or {}).get(METRICS_TAG)
    if recorded:
        try:
            return {k: float(v) for k, v in json.loads(recorded).items()}
        except (ValueError, TypeError, AttributeError):
            pass
    if not mv.run_id:
        return {}
    return dict(client.get_run(mv.run_id).data.metrics)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _metric_gates(
    policy: Policy, mine: dict[str, float], current: dict[str, float] | None, held: str | None
) -> list[Gate]:
    gates = []
    for rule in policy.metrics:
        value = mine.get(rule.metric)
        if value is None or math.isnan(value):
            gates.append(
                Gate("metric", rule.text, False, f"{rule.metric} was not logged by this version's run")
            )
            continue
        if rule.number is not None:
            ok = OPERATORS[rule.op](value, rule.number)
            gates.append(
                Gate(
                    "metric",
                    rule.text,
                    ok,
                    f"{rule.metric} = {_fmt(value)} (needs {rule.op} {_fmt(rule.number)})",
                )
            )
            continue
        assert rule.other is not None
        if current is None:
            gates.append(
                Gate("metric", rule.text, True, f"no version holds {policy.alias!r} yet: nothing to beat")
            )
            continue
        theirs = current.get(rule.other)
        if theirs is None:
            gates.append(
                Gate("metric", rule.text, True, f"version {held} logged no {rule.other}: nothing to beat")
            )
            continue
        bound = rule.bound(theirs)
        ok = OPERATORS[rule.op](value, bound)
        gates.append(
            Gate(
                "metric",
                rule.text,
                ok,
                f"{rule.metric} = {_fmt(value)} vs {_fmt(bound)} "
                f"(version {held}: {rule.other} = {_fmt(theirs)})",
            )
        )
    return gates


def _check_gates(project: Project, policy: Policy, uri: str) -> list[Gate]:
    from ..runs.service import list_runs

    gates = []
    runs = list_runs(project, limit=1000)
    for check in policy.checks:
        mine = [r for r in runs if r.notebook == check and str(r.parameters.get("model_uri", "")) == uri]
        if not mine:
            gates.append(
                Gate("check", check, False, f"not run for {uri}: `nblift promote ... --run-checks` runs it")
            )
            continue
        latest = mine[0]  # newest first
        gates.append(Gate("check", check, latest.state == "SUCCEEDED", f"run {latest.id}: {latest.state}"))
    return gates


def latest_verdicts(project: Project, name: str, version: str, alias: str) -> dict[str, Any] | None:
    """The newest `gates` audit entry (quality gate verdicts from `nblift check`) of `version` for `alias`."""
    found = None
    for entry in audit.entries(project, name, version):
        if entry.get("alias") == alias and entry.get("action") == "gates":
            found = entry
    return found


def _quality_gates(project: Project, policy: Policy, name: str, version: str) -> list[Gate]:
    entry = latest_verdicts(project, name, version, policy.alias)
    recorded = {
        (v.get("kind"), v.get("label")): v for v in (entry or {}).get("details", {}).get("verdicts", [])
    }
    gates = []
    for spec in policy.quality:
        verdict = recorded.get((spec.kind, spec.label))
        if verdict is None:
            hint = f"`nblift check {name}@{policy.alias} --version {version}` runs it"
            gates.append(Gate(spec.kind, spec.label, False, f"not run for this version: {hint}"))
            continue
        gates.append(
            Gate(
                spec.kind,
                spec.label,
                bool(verdict.get("passed")),
                str(verdict.get("detail", "")),
                verdict.get("evidence"),
            )
        )
    return gates


def decisions(project: Project, name: str, version: str, alias: str) -> dict[str, dict[str, Any]]:
    """Each person's latest approval or rejection of `version` for `alias`."""
    latest: dict[str, dict[str, Any]] = {}
    for entry in audit.entries(project, name, version):
        if entry.get("alias") == alias and entry.get("action") in ("approve", "reject"):
            latest[str(entry["who"])] = entry
    return latest


def _approval_gate(
    project: Project, policy: Policy, name: str, version: str, registrant: str | None
) -> Gate | None:
    if policy.approvals == 0:
        return None
    counted, ignored, rejected = [], [], []
    for who, entry in decisions(project, name, version, policy.alias).items():
        if entry["action"] == "reject":
            rejected.append(f"{who} ({entry.get('reason') or 'no reason given'})")
        elif policy.approvers and who not in policy.approvers:
            ignored.append(f"{who} (not an approver)")
        elif who == registrant and not policy.allow_self_approval:
            ignored.append(f"{who} (registered it)")
        else:
            counted.append(who)
    detail = f"{len(counted)} of {policy.approvals}" + (f": {', '.join(counted)}" if counted else "")
    if ignored:
        detail += f"; not counted: {', '.join(ignored)}"
    if rejected:
        detail += f"; rejected by {', '.join(rejected)}"
    return Gate(
        "approvals",
        f"{policy.approvals} approval(s)",
        len(counted) >= policy.approvals and not rejected,
        detail,
    )


def evaluate(project: Project, name: str, version: str, alias: str) -> tuple[list[Gate], str | None]:
    """The gates of `alias`'s policy for `version` and the version holding the alias now."""
    check_name(name)
    version = check_version(version)
    check_alias(alias)
    client = tracking.client(project)
    mv = get_version(client, name, version)
    policy = policy_for(project, alias)
    held = holder(client, name, alias)
    if policy is None:
        return [], held
    current = None
    if held is not None and held != version:
        current = version_metrics(client, get_version(client, name, held))
    gates = _metric_gates(policy, version_metrics(client, mv), current, held)
    gates += _check_gates(project, policy, f"models:/{name}/{version}")
    gates += _quality_gates(project, policy, name, version)
    approval = _approval_gate(project, policy, name, version, mv.tags.get("nblift.registered_by"))
    if approval is not None:
        gates.append(approval)
    return gates, held


def run_checks(
    project: Project, name: str, version: str, alias: str, timeout: float | None = 3600
) -> list[str]:
    """Run the policy's check notebooks for the version (model_uri passed as a parameter); their run ids."""
    from ..runs.service import launch, wait

    policy = policy_for(project, alias)
    ids = []
    for check in policy.checks if policy else ():
        notebook = (project.root / check).resolve()
        if not notebook.is_relative_to(project.root) or not notebook.is_file():
            raise NotFound(f"check notebook {check} is not in the project", hint="fix the policy's checks")
        info = launch(project, notebook, {"model_uri": f"models:/{name}/{version}"}, backend="local")
        wait(project, info.id, timeout=timeout)
        ids.append(info.id)
    return ids


def _record_gates(client: Any, name: str, version: str, alias: str, gates: list[Gate]) -> None:
    failed = [g.label for g in gates if not g.passed]
    text = "passed" if not failed else "failed: " + "; ".join(failed)
    client.set_model_version_tag(name, version, GATE_TAG + alias, text[:4900])


def promote(
    project: Project,
    name: str,
    version: str,
    alias: str,
    who: str,
    *,
    override_reason: str | None = None,
    dry_run: bool = False,
) -> Promotion:
    """Point `alias` at `version` when its gates pass (or when overridden with a reason); audited."""
    version = check_version(version)
    if override_reason is not None and not override_reason.strip():
        raise InvalidInput("an override needs a reason", hint='add --override "why this may skip its gates"')
    gates, held = evaluate(project, name, version, alias)
    client = tracking.client(project)
    passed = all(g.passed for g in gates)
    result = Promotion(name, version, alias, gates, False, False, held, override_reason)
    if dry_run:
        return result
    if gates:
        _record_gates(client, name, version, alias, gates)
    if not passed and override_reason is None:
        return result
    client.set_registered_model_alias(name, alias, version)
    result.promoted = True
    result.overridden = not passed
    audit.record(
        project,
        "override" if result.overridden else "promote",
        name,
        version,
        who,
        alias=alias,
        reason=override_reason,
        details={"previous": held, "gates": [g.to_json() for g in gates]},
    )
    return result


def decide(
    project: Project,
    name: str,
    version: str,
    alias: str,
    who: str,
    *,
    approve: bool,
    reason: str | None = None,
) -> dict[str, Any]:
    """Record `who`'s approval (or rejection, which needs a reason) of `version` for `alias`."""
    check_name(name)
    version = check_version(version)
    check_alias(alias)
    if not approve and not (reason or "").strip():
        raise InvalidInput("a rejection needs a reason", hint='add --reason "what must change"')
    policy = policy_for(project, alias)
    if policy is None or policy.approvals == 0:
        raise InvalidInput(
            f"alias {alias!r} needs no approvals", hint="see [tool.nblift.promotion] in the settings"
        )
    if approve and policy.approvers and who not in policy.approvers:
        raise InvalidInput(
            f"{who} is not an approver for {alias!r}", hint=f"approvers: {', '.join(policy.approvers)}"
        )
    get_version(tracking.client(project), name, version)
    return audit.record(
        project, "approve" if approve else "reject", name, version, who, alias=alias, reason=reason or None
    )


def set_alias(project: Project, name: str, version: str | None, alias: str, who: str) -> dict[str, Any]:
    """Point an ungated alias at `version` (None removes it); gated aliases go through `promote`."""
    check_name(name)
    check_alias(alias)
    if policy_for(project, alias) is not None and version is not None:
        raise InvalidInput(
            f"alias {alias!r} is gated by the promotion policy",
            hint=f"use `nblift promote {name} {version} --to {alias}`",
        )
    client = tracking.client(project)
    held = holder(client, name, alias)
    if version is None:
        if held is None:
            raise NotFound(f"model {name!r} has no alias {alias!r}", hint="see `nblift models`")
        client.delete_registered_model_alias(name, alias)
        audit.record(project, "unalias", name, held, who, alias=alias)
        return {"name": name, "alias": alias, "version": None, "previous": held}
    version = check_version(version)
    get_version(client, name, version)
    client.set_registered_model_alias(name, alias, version)
    audit.record(project, "alias", name, version, who, alias=alias, details={"previous": held})
    return {"name": name, "alias": alias, "version": version, "previous": held}
