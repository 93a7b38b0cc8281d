"""The `%lift` line magic: the same verbs as the CLI, rendered as HTML in the notebook."""

from __future__ import annotations

import json
import shlex
from html import escape
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from ..commands import VERBS, Context, build_parser
from ..errors import NbliftError

#: The mimetype a `--json` result also goes out as (labextension/index.ts reads it).
RESULT_MIME = "application/vnd.nblift.result+json"


class Rendered:
    """A result shown as HTML in the notebook and as text elsewhere (console, logs)."""

    def __init__(self, text: str, html: str, data: Any, failed: bool, as_json: bool = False) -> None:
        self.text = text
        self.html = html
        self.data = data
        self.failed = failed
        self.as_json = as_json

    def _repr_html_(self) -> str:
        return self.html

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """`--json`: the result as data too, under nblift's own mimetype (what JupyterLab's dialogs read; no
        renderer claims it, so a notebook shows the text as before)."""
        if self.as_json and isinstance(self.data, dict | list):
            return {RESULT_MIME: self.data}
        return {}

    def __repr__(self) -> str:
        return self.text


@magics_class
class LiftMagics(Magics):
    @line_magic
    def lift(self, line: str) -> Any:
        """nblift: `%lift status`, `%lift fsck`, `%lift gc`; `%lift --help` lists every command."""
        parser = build_parser("%lift")
        try:
            args = parser.parse_args(shlex.split(line))
        except SystemExit:  # argparse printed the usage or the help
            return None
        except ValueError as exc:
            raise UsageError(f"%lift: {exc}") from None
        verb = VERBS[args.verb]
        try:
            result = verb.run(Context(args.project, self.shell), args)
        except NbliftError as exc:
            raise UsageError(f"%lift {args.verb}: {exc}") from None
        if hasattr(result, "_repr_mimebundle_") and not args.json:
            return result  # a live widget (a run being followed) displays itself
        data = verb.json(result)
        if args.json:
            text = json.dumps(data, indent=2)
            return Rendered(text, f"<pre>{escape(text)}</pre>", data, verb.failed(result), as_json=True)
        return Rendered(verb.text(result), verb.html(result), data, verb.failed(result))
