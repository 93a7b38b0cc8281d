"""The `export` verb: `nblift export skypilot RUN_OR_NOTEBOOK` writes a SkyPilot task (same bundle)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runs.verbs import parameter_args

if TYPE_CHECKING:
    from ..commands import Context


def export_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("launcher", choices=["skypilot"], help="what to export for (skypilot)")
    parser.add_argument("source", metavar="RUN_OR_NOTEBOOK", help="a notebook in the project, or a run id")
    parser.add_argument(
        "-o", "--output", default=None, metavar="DIR", help="the folder to write (default: skypilot-RUNID)"
    )
    parser.add_argument("--gpus", default=None, metavar="TYPE:N", help="accelerators, e.g. A100:2")
    parser.add_argument("--cloud", default=None, help="a cloud SkyPilot knows (default: the cheapest)")
    parser.add_argument("--instance-type", default=None, help="a machine type of that cloud")
    parser.add_argument("--spot", action="store_true", help="ask for spot (preemptible) machines")
    parser.add_argument(
        "--hourly-cost", type=float, default=None, metavar="USD", help="the hourly rate (USD)"
    )
    parser.add_argument(
        "--budget", type=float, default=None, metavar="USD", help="stop the run when it has cost this much"
    )
    parameter_args(parser)
    parser.add_argument(
        "--results", default=None, metavar="BUCKET_URI", help="copy the run folder there when it ends"
    )


def export(ctx: Context, args: argparse.Namespace) -> Any:
    from ..runs.params import parse_assignments, parse_duration
    from .skypilot import Resources, export_skypilot

    return export_skypilot(
        ctx.project,
        args.source,
        None if args.output is None else Path(args.output).expanduser().absolute(),
        parameters=parse_assignments(args.parameters),
        resources=Resources(args.gpus, args.cloud, args.instance_type, args.spot),
        results=args.results,
        budget=args.budget,
        hourly_cost=args.hourly_cost,
        timeout=None if args.timeout is None else parse_duration(args.timeout),
    )
