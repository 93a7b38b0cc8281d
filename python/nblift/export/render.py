"""Text and HTML of an export (every value escaped in HTML)."""

from __future__ import annotations

from html import escape
from typing import Any

from ..render import human_bytes


def export_text(result: Any) -> str:
    return "\n".join(
        [
            f"wrote {result.task} for {result.notebook} (run {result.run_id})",
            f"  bundle {result.bundle[:12]}: {result.objects} object(s), {human_bytes(result.bytes)}",
            f"  the run logs to {result.tracking}",
            *([f"  cost: {result.estimate}"] if result.estimate else []),
            f"  next: {result.command}",
        ]
    )


def export_html(result: Any) -> str:
    return "<pre>" + escape(export_text(result)) + "</pre>"
