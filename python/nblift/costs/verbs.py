"""The `costs` verb (`%lift costs`, `nblift costs`): what runs cost, summed."""

from __future__ import annotations

import argparse
import re
from typing import Any

from ..commands import Context
from ..errors import InvalidInput


def costs_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by", default="month,user,notebook", help="group by any of month, user, notebook (comma-separated)"
    )
    parser.add_argument("--month", default=None, metavar="YYYY-MM", help="only runs started in this month")


def costs(ctx: Context, args: argparse.Namespace) -> Any:
    from .ledger import check_groups, ledger

    if args.month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", args.month):
        raise InvalidInput(f"--month {args.month!r} is not a month", hint="write it as YYYY-MM, e.g. 2026-12")
    return ledger(ctx.project, check_groups(args.by), args.month)
