"""Text and HTML of `nblift costs` (every value escaped in HTML)."""

from __future__ import annotations

from typing import Any

from ..render import grid_html, grid_text


def _table(result: Any) -> tuple[list[str], list[list[str]]]:
    headers = [*result.by, "runs", "cost (USD)"]
    rows = [[*(row.key[b] for b in result.by), str(row.runs), f"{row.cost:.2f}"] for row in result.rows]
    return headers, rows


def _footer(result: Any) -> str:
    line = f"total ${result.total:.2f} over {result.runs - result.unpriced} priced run(s)"
    if result.unpriced:
        line += (
            f"; {result.unpriced} run(s) on targets with no price are not counted "
            "(set hourly_cost or instance_type on the target)"
        )
    return line


def costs_text(result: Any) -> str:
    if not result.rows:
        return "no priced runs yet. " + _footer(result)
    headers, rows = _table(result)
    return grid_text(headers, rows) + "\n" + _footer(result)


def costs_html(result: Any) -> str:
    from html import escape

    headers, rows = _table(result)
    return (grid_html(headers, rows) if rows else "") + f"<p>{escape(_footer(result))}</p>"
