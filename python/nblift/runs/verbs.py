"""Run verbs for the shared command table: `run`, `runs`, `logs`, `cancel`, `fetch`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from .events import RUN_DIR_ENV

if TYPE_CHECKING:
    from ..commands import Context


def parameter_args(parser: argparse.ArgumentParser) -> None:
    """`-p NAME=VALUE` (repeatable) and `--timeout`: what every verb that starts a run takes."""
    parser.add_argument(
        "-p",
        "--parameter",
        dest="parameters",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a value for the cell tagged `parameters` (repeatable; JSON values such as 3, 0.1, true, [1,2])",
    )
    parser.add_argument(
        "--timeout", default=None, metavar="DURATION", help="stop the run after e.g. 90s, 30m, 2h"
    )


def run_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "notebook", nargs="?", default=None, help="the notebook to run (in a kernel: default this notebook)"
    )
    parameter_args(parser)
    parser.add_argument("--backend", default=None, help="where to run (default: the default_backend setting)")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="USD",
        help="stop the run when it has cost this much at its target's hourly rate (default: max_cost)",
    )
    parser.add_argument(
        "--data-from-source",
        action="store_true",
        help="a remote target fetches S3/lakeFS inputs from their source with its own credentials (default: "
        "home fetches them once and sends them through nblift's store)",
    )
    parser.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="continue a LOST, CANCELLED or TIMED_OUT run on its target from its last checkpoint, as a new "
        "run (no notebook or parameters; --timeout and --budget replace the run's)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--wait", action="store_true", default=None, help="block until the run ends")
    mode.add_argument("--detach", dest="wait", action="store_false", help="start the run and return at once")


def _notebook(ctx: Context, given: str | None) -> Path:
    if given:
        return Path(given).expanduser().absolute()
    from ..kernel_session import kernel_notebook

    session = kernel_notebook()
    if ctx.shell is not None and session is not None:
        if os.environ.get(RUN_DIR_ENV):
            raise InvalidInput(
                "this kernel is itself a run: `%lift run` without a notebook would run it again",
                hint="name another notebook: `%lift run other.ipynb`",
            )
        return session.absolute()
    raise InvalidInput("name the notebook to run", hint="e.g. `nblift run train.ipynb -p epochs=3`")


def code_cells(notebook: Path) -> int:
    from ..environment.notebook import cells_of

    return sum(1 for cell in cells_of(notebook) if cell.get("cell_type") == "code")


def _resume(ctx: Context, args: argparse.Namespace) -> tuple[Any, Any, int]:
    """`run --resume RUN`: the project, the new run and its notebook's code cells."""
    from . import service
    from .params import parse_duration
    from .records import resolve_run_id

    given = [f for f, v in (("notebook", args.notebook), ("parameters", args.parameters)) if v]
    given += [f"--{f.replace('_', '-')}" for f in ("backend", "data_from_source") if getattr(args, f)]
    if given:
        raise InvalidInput(
            f"--resume continues a run as it was launched: it takes no {' or '.join(given)}",
            hint="`nblift run --resume RUN` (with --timeout or --budget to give it new limits)",
        )
    project = ctx.project
    run_id = resolve_run_id(project.state_dir, args.resume)
    info = service.resume(project, run_id, timeout=parse_duration(args.timeout), budget=args.budget)
    print(f"resuming run {run_id} from its checkpoint as run {info.id}", file=sys.stderr)
    notebook = project.root / info.notebook
    return project, info, code_cells(notebook) if notebook.is_file() else 0


def run(ctx: Context, args: argparse.Namespace) -> Any:
    from ..project import Project
    from . import service
    from .params import parse_assignments, parse_duration

    if args.resume:
        project, info, total = _resume(ctx, args)
    else:
        notebook = _notebook(ctx, args.notebook)
        parameters = parse_assignments(args.parameters)
        timeout = parse_duration(args.timeout)
        if not notebook.is_file():
            raise InvalidInput(f"no notebook at {notebook}", hint="check the path; save the notebook first")
        project = Project.discover(ctx.project_path or notebook)
        info = service.launch(
            project,
            notebook,
            parameters,
            backend=args.backend,
            timeout=timeout,
            budget=args.budget,
            data_from_source=args.data_from_source,
        )
        total = code_cells(notebook)
    if info.cost and info.cost.get("estimate_text"):
        print(f"estimate: {info.cost['estimate_text']}", file=sys.stdout if ctx.shell else sys.stderr)
    if ctx.shell is not None:
        from .widget import RunView

        view = RunView(project, info, total)
        if args.wait:
            from IPython.display import display

            display(view)
            return view.wait()
        view.follow()
        return view
    if args.wait is False:
        return info
    from .progress import TerminalProgress

    with TerminalProgress(sys.stderr, total) as progress:
        try:
            return service.wait(project, info.id, progress.on_event)
        except KeyboardInterrupt:
            print(f"\ncancelling run {info.id}…", file=sys.stderr)
            return service.cancel(project, info.id)


def runs_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=50, help="show at most this many (newest first)")


def runs(ctx: Context, args: argparse.Namespace) -> Any:
    from . import service

    return service.list_runs(ctx.project, args.limit)


def id_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="run id (a unique prefix is enough)")


def logs_args(parser: argparse.ArgumentParser) -> None:
    id_args(parser)
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")


def logs(ctx: Context, args: argparse.Namespace) -> Any:
    from . import service
    from .records import resolve_run_id

    run_id = resolve_run_id(ctx.project.state_dir, args.id)
    if args.follow and ctx.shell is None:
        from .progress import print_output

        for event in service.follow(ctx.project, run_id):
            print_output(event, sys.stdout)
    found, _, info = service.events(ctx.project, run_id)
    return {"run": info, "events": found}


def cancel(ctx: Context, args: argparse.Namespace) -> Any:
    from . import service
    from .records import resolve_run_id

    return service.cancel(ctx.project, resolve_run_id(ctx.project.state_dir, args.id))


def fetch_args(parser: argparse.ArgumentParser) -> None:
    id_args(parser)
    parser.add_argument(
        "--to", default=None, metavar="DIR", help="where to copy (default: nblift-runs/<id>/)"
    )


def fetch(ctx: Context, args: argparse.Namespace) -> Any:
    from . import service
    from .records import resolve_run_id

    run_id = resolve_run_id(ctx.project.state_dir, args.id)
    destination = Path(args.to).expanduser().absolute() if args.to else None
    return {"id": run_id, "path": str(service.fetch(ctx.project, run_id, destination))}
