"""Text, HTML, JSON and Markdown renderings of the gate verbs (every value escaped in HTML)."""

from __future__ import annotations

from html import escape
from typing import Any

from ..render import grid_html, grid_text
from .report import markdown_table

_DRIFT_HEAD = ["column", "kind", "test", "value", "threshold", "verdict", "detail"]
_CHECK_HEAD = ["result", "gate", "what", "detail"]


def _drift_rows(result: Any) -> list[list[str]]:
    return [
        [
            c.column,
            c.kind,
            c.test,
            "" if c.value is None else f"{c.value:.4g}",
            f"{c.threshold:.4g}",
            "DRIFTED" if c.drifted else "stable",
            c.detail,
        ]
        for c in sorted(result.columns, key=lambda c: (not c.drifted, c.column))
    ]


def _drift_line(result: Any) -> str:
    cached = " (summaries from the cache)" if all(result.cached) else ""
    return (
        f"{'passed' if result.passed else 'FAILED'}: {len(result.drifted)} of {len(result.columns)} columns "
        f"drifted (allowed share {result.max_share:.0%}); {result.seconds:.2f} s{cached}"
        + (f"; report: {result.report}" if result.report else "")
    )


def drift_text(result: Any) -> str:
    return f"{grid_text(_DRIFT_HEAD, _drift_rows(result))}\n{_drift_line(result)}"


def drift_html(result: Any) -> str:
    return grid_html(_DRIFT_HEAD, _drift_rows(result)) + f"<p><b>{escape(_drift_line(result))}</b></p>"


def drift_failed(result: Any) -> bool:
    return not result.passed


def same(result: Any) -> Any:
    return result.to_json() if hasattr(result, "to_json") else result


def _result(gate: Any) -> str:
    if gate.passed:
        return "passed"
    return "pending" if gate.kind == "approvals" else "FAILED"


def _check_rows(result: Any) -> list[list[str]]:
    return [[_result(g), g.kind, g.label, g.detail] for g in result.gates]


def _check_line(result: Any) -> str:
    target = f"{result.name} v{result.version} for {result.alias}"
    if result.passed:
        return f"{target}: every gate passed" + (
            " (approvals pending)" if any(not g.passed for g in result.gates) else ""
        )
    failed = [g.label for g in result.gates if not g.passed and g.kind != "approvals"]
    return f"{target}: FAILED ({len(failed)} gate(s): {'; '.join(failed)})"


def check_text(result: Any) -> str:
    table = grid_text(_CHECK_HEAD, _check_rows(result)) if result.gates else "No gates for this alias."
    reports = "".join(f"\ndrift report: {r}" for r in result.reports)
    return f"{table}\n{_check_line(result)}{reports}"


def check_html(result: Any) -> str:
    table = grid_html(_CHECK_HEAD, _check_rows(result)) if result.gates else "<p>No gates.</p>"
    return f"{table}<p><b>{escape(_check_line(result))}</b></p>"


def check_failed(result: Any) -> bool:
    return not result.passed


def check_markdown(result: Any) -> str:
    """The verdict table as Markdown, for a CI system's report (drift details below it)."""
    lines = [
        f"### Gates: {result.name} v{result.version} for `{result.alias}`: "
        f"{'passed' if result.passed else 'failed'}",
        "",
        markdown_table(_CHECK_HEAD, _check_rows(result)) if result.gates else "_No gates for this alias._",
    ]
    for verdict in result.verdicts:
        if verdict.kind == "drift" and "columns" in verdict.evidence:
            drifted = [c for c in verdict.evidence["columns"] if c["drifted"]]
            if drifted:
                rows = [
                    [
                        c["column"],
                        c["test"],
                        f"{c['value']:.4g}" if c["value"] is not None else "",
                        f"{c['threshold']:.4g}",
                        c["detail"],
                    ]
                    for c in drifted[:50]
                ]
                lines += [
                    "",
                    f"Drifted columns ({verdict.label}):",
                    "",
                    markdown_table(["column", "test", "value", "threshold", "detail"], rows),
                ]
    for report in result.reports:
        lines += ["", f"Drift report: `{report}`"]
    return "\n".join(lines) + "\n"


def gates_text(result: dict[str, Any]) -> str:
    if result["action"] == "infer-schema":
        cols = ", ".join(f"{k} ({v})" for k, v in result["columns"].items())
        return f"wrote {result['schema']} from {result['data']} ({result['rows']} rows): {cols}"
    if result["passed"]:
        return f"{result['data']}: {result['rows']} rows match {result['schema']}"
    rows = [[f["column"], f["check"], str(f["count"]), ", ".join(f["examples"])] for f in result["failures"]]
    return grid_text(["column", "check", "rows", "examples"], rows) + f"\n{result['data']}: schema violated"


def gates_html(result: dict[str, Any]) -> str:
    return f"<pre>{escape(gates_text(result))}</pre>"


def gates_failed(result: dict[str, Any]) -> bool:
    return result["action"] == "validate" and not result["passed"]
