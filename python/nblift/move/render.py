"""Text and HTML of a move (every value escaped in HTML)."""

from __future__ import annotations

from html import escape
from typing import Any

from ..render import human_bytes


def _lines(result: Any) -> list[str]:
    plan = getattr(result, "plan", None)
    if plan is None:  # moving back
        return [result.message]
    lines = [
        f"move to {plan.target} (snapshot {plan.snapshot}):",
        f"  send {plan.objects} object(s), {human_bytes(plan.bytes)} the host lacks",
        f"  environment: {plan.environment}",
    ]
    for var in plan.unstorable:
        cell = f"cell [{var['cell']}] makes it again" if var.get("cell") else "no cell here makes it"
        lines.append(f"  not moved: {var['name']} ({var['reason']}); {cell}")
    for finding in plan.findings:
        lines.append(f"  {finding['severity']}: {finding['message']}")
    lines.append(result.message)
    return lines


def move_text(result: Any) -> str:
    return "\n".join(_lines(result))


def move_html(result: Any) -> str:
    return "<pre>" + escape(move_text(result)) + "</pre>"
