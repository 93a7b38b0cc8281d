"""`nblift ...`: the terminal front door. Parses, calls the core, prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from .commands import VERBS, Context, build_parser
from .errors import NbliftError

EXIT_FAILED = 1
EXIT_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser("nblift").parse_args(argv)
    verb = VERBS[args.verb]
    try:
        result = verb.run(Context(args.project), args)
    except NbliftError as exc:
        print(f"nblift {args.verb}: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  what to do: {exc.hint}", file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(verb.json(result), indent=2) if args.json else verb.text(result))
    return EXIT_FAILED if verb.failed(result) else 0


if __name__ == "__main__":
    sys.exit(main())
