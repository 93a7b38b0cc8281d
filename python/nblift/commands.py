"""The verbs nblift offers, defined once: the CLI, the `%lift` magic and the docs all read this table.

A verb parses its arguments with argparse, calls one core function and renders the result as text
(terminal), HTML (notebook) or JSON. Logic lives in the core modules, not here.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from typing import Any

from . import __version__
from .project import Project


@dataclasses.dataclass(frozen=True)
class Verb:
    name: str
    help: str
    run: Callable[[Project, argparse.Namespace], Any]
    text: Callable[[Any], str]
    html: Callable[[Any], str]
    json: Callable[[Any], Any]
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    failed: Callable[[Any], bool] = lambda result: False


def _status(project: Project, _: argparse.Namespace) -> Any:
    from .status import collect_status

    return collect_status(project)


def _fsck(project: Project, _: argparse.Namespace) -> Any:
    from .fsck import fsck
    from .store import ObjectStore

    return fsck(ObjectStore(project.state_dir))


def _gc_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        default=None,
        help="keep unreferenced objects younger than this (default: the gc_grace_seconds setting)",
    )


def _gc(project: Project, args: argparse.Namespace) -> Any:
    from .collect import collect_garbage
    from .store import ObjectStore

    grace = project.settings.gc_grace_seconds if args.grace is None else args.grace
    return collect_garbage(ObjectStore(project.state_dir), grace)


def _lazy(attr: str) -> Callable[[Any], Any]:
    def call(result: Any) -> Any:
        from . import render

        return getattr(render, attr)(result)

    return call


def _to_json(result: Any) -> Any:
    return result.to_json() if hasattr(result, "to_json") else dataclasses.asdict(result)


VERBS: dict[str, Verb] = {
    verb.name: verb
    for verb in (
        Verb(
            "status",
            "Show the project, tracking store, object store, last fsck and backends.",
            _status,
            _lazy("status_text"),
            _lazy("status_html"),
            _to_json,
        ),
        Verb(
            "fsck",
            "Re-hash every stored object and check every ref; exit 1 if anything is corrupt or missing.",
            _fsck,
            _lazy("fsck_text"),
            _lazy("fsck_html"),
            _to_json,
            failed=lambda r: not r.ok,
        ),
        Verb(
            "gc",
            "Delete objects no snapshot, bundle or data version refers to, and stale temp files.",
            _gc,
            _lazy("gc_text"),
            _lazy("gc_html"),
            _to_json,
            add_arguments=_gc_args,
        ),
    )
}


def default_args(verb: str) -> argparse.Namespace:
    """The arguments of `verb` with every option at its default (for callers without a command line)."""
    return build_parser("nblift").parse_args([verb])


def build_parser(prog: str) -> argparse.ArgumentParser:
    """The argument parser shared by `nblift` and `%lift`."""
    parser = argparse.ArgumentParser(prog=prog, description="nblift: take notebooks from a laptop to a GPU.")
    parser.add_argument(
        "-C",
        "--project",
        metavar="PATH",
        default=None,
        help="project folder or notebook (default: the notebook's folder or the current one)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--version", action="version", version=f"nblift {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    for verb in VERBS.values():
        verb.add_arguments(sub.add_parser(verb.name, help=verb.help, description=verb.help))
    return parser
