"""Experiment verbs for the shared command table: `experiments` (the runs table) and `compare`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..errors import NotFound

if TYPE_CHECKING:
    from ..commands import Context


def experiments_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "filter", nargs="*", help="MLflow filter, e.g. metrics.loss < 0.5 and params.lr = '0.1'"
    )
    parser.add_argument("--experiment", default=None, help="experiment name (default: the project's)")
    parser.add_argument("--order-by", default=None, help="e.g. metrics.loss ASC (default: newest first)")
    parser.add_argument("--limit", type=int, default=20, help="rows to show (1 to 500)")


def experiments(ctx: Context, args: argparse.Namespace) -> Any:
    from .. import tracking
    from . import search

    project = ctx.project
    name = args.experiment or tracking.experiment_name(project)
    listed = search.list_experiments(project)["experiments"]
    found = next((e for e in listed if e["name"] == name), None)
    if found is None:
        names = ", ".join(e["name"] for e in listed) or "none yet"
        raise NotFound(f"no experiment named {name!r}", hint=f"experiments here: {names}")
    page = search.search_runs(project, found["id"], " ".join(args.filter), args.order_by, args.limit)
    return {"experiment": found, **page}


def compare_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ids", nargs="+", help="two to ten MLflow run ids")


def compare(ctx: Context, args: argparse.Namespace) -> Any:
    from . import search

    return search.compare(ctx.project, args.ids)
