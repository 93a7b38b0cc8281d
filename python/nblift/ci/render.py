"""How each door shows `nblift ci ...`: text for the terminal, HTML in a notebook, JSON."""

from __future__ import annotations

from html import escape
from typing import Any


def ci_text(result: Any) -> str:
    from .verbs import Promoted, Reported, Written

    if isinstance(result, Written):
        if not result.written:
            return result.text.rstrip("\n")
        steps = "\n".join(
            f"  {i}. {s['title']}{'' if s['when'] == 'success' else ' (' + s['when'].replace('_', ' ') + ')'}"
            for i, s in enumerate(result.pipeline["steps"], 1)
        )
        where = result.pipeline["artifacts"]
        return f"wrote {result.path} ({result.system}):\n{steps}\ncommit it; the report goes to {where}/"
    if isinstance(result, Reported):
        return f"{result.report.rstrip()}\n\nwrote {result.path}; {result.posted_to}: {result.posted}"
    if isinstance(result, Promoted):
        return result.summary
    return str(result)


def ci_html(result: Any) -> str:
    from .verbs import Written

    if isinstance(result, Written):
        return f"<p>{escape(ci_text(result).splitlines()[0])}</p><pre>{escape(result.text)}</pre>"
    return f"<pre>{escape(ci_text(result))}</pre>"


def ci_json(result: Any) -> Any:
    return result.to_json()


def ci_failed(result: Any) -> bool:
    return bool(getattr(result, "failed", False))
