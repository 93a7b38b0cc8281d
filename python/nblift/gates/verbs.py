"""Gate verbs for the shared command table: `drift REF CUR`, `check MODEL@ALIAS` and `gates infer-schema`.
Each parses its arguments and calls one core function; `--report PATH` writes the verdict as Markdown."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..commands import Context


def _pairs(items: list[str], what: str, convert: Any) -> tuple[Any, dict[str, Any]]:
    """`VALUE` (every column) and `COLUMN=VALUE` items."""
    default, columns = None, {}
    for item in items:
        column, sep, value = item.rpartition("=")
        try:
            converted = convert(value.strip())
        except ValueError:
            raise InvalidInput(
                f"{item!r}: {value!r} is not a {what}", hint=f"--{what} [COLUMN=]VALUE"
            ) from None
        if sep:
            columns[column.strip()] = converted
        else:
            default = converted
    return default, columns


def drift_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", metavar="REF", help="reference data: CSV/Parquet file or PATH@VERSION")
    parser.add_argument("current", metavar="CUR", help="current data: CSV/Parquet file or PATH@VERSION")
    parser.add_argument(
        "--test",
        action="append",
        default=[],
        metavar="[COLUMN=]TEST",
        help="auto (default), ks, chisquare, wasserstein, jensenshannon or psi; for every column or one",
    )
    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="[COLUMN=]VALUE",
        help="the test's drift threshold",
    )
    parser.add_argument("--ignore", action="append", default=[], metavar="COLUMN", help="skip a column")
    parser.add_argument(
        "--max-share",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="fail only when more than this share of columns drifted (default 0: any one)",
    )
    parser.add_argument("--html", default=None, metavar="PATH", help="write the static HTML report there")
    parser.add_argument("--report", default=None, metavar="PATH", help="write the verdict as Markdown there")


def drift(ctx: Context, args: argparse.Namespace) -> Any:
    from .drift import ColumnRule, DriftOptions, check_test, compare
    from .report import drift_markdown, write_html, write_markdown

    if not 0 <= args.max_share <= 1:
        raise InvalidInput("--max-share must be from 0 to 1", hint="--max-share 0.3")
    test, tests = _pairs(args.test, "test", str)
    threshold, thresholds = _pairs(args.threshold, "threshold", float)
    check_test(test or "auto", "--test")
    for column, name in tests.items():
        check_test(name, f"--test {column}")
    columns = {
        c: ColumnRule(tests.get(c, "auto"), thresholds.get(c), c in args.ignore)
        for c in {*tests, *thresholds, *args.ignore}
    }
    options = DriftOptions(ColumnRule(test or "auto", threshold), columns, args.max_share)
    project = _project_or_none(ctx)
    result = compare(project, args.reference, args.current, options)
    if args.html:
        write_html(result, Path(args.html))
    if args.report:
        write_markdown(drift_markdown(result), Path(args.report))
    return result


def _project_or_none(ctx: Context) -> Any:
    """The project, or None outside one (drift then caches nothing)."""
    from ..errors import NbliftError

    try:
        return ctx.project
    except NbliftError:
        return None


def check_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="MODEL@ALIAS", help="the model and the gated alias whose policy applies"
    )
    parser.add_argument("--version", default=None, help="the candidate version (default: the newest)")
    parser.add_argument(
        "--run-checks", action="store_true", help="run the policy's check notebooks first (local backend)"
    )
    parser.add_argument("--report", default=None, metavar="PATH", help="write the verdict table as Markdown")
    parser.add_argument(
        "--report-dir",
        default=None,
        metavar="DIR",
        help="where drift HTML reports go (default: the state folder)",
    )


def check(ctx: Context, args: argparse.Namespace) -> Any:
    from ..registry.register import actor
    from .check import check as run_check
    from .check import newest_version, parse_target
    from .render import check_markdown
    from .report import write_markdown

    project = ctx.project
    name, alias = parse_target(args.target)
    if args.run_checks:
        from ..registry.promote import run_checks

        run_checks(project, name, args.version or newest_version(project, name), alias)
    result = run_check(
        project,
        name,
        alias,
        actor(),
        version=args.version,
        report_dir=Path(args.report_dir) if args.report_dir else None,
    )
    if args.report:
        write_markdown(check_markdown(result), Path(args.report))
    return result


def gates_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    infer = sub.add_parser("infer-schema", help="infer a pandera schema (YAML) from training data")
    infer.add_argument("data", metavar="DATA", help="CSV/Parquet file or PATH@VERSION")
    infer.add_argument("-o", "--output", required=True, metavar="PATH", help="where to write the YAML schema")
    validate = sub.add_parser("validate", help="check data against a schema (the data gate, alone)")
    validate.add_argument("data", metavar="DATA", help="CSV/Parquet file or PATH@VERSION")
    validate.add_argument("--schema", required=True, metavar="PATH", help="the YAML schema")


def gates(ctx: Context, args: argparse.Namespace) -> Any:
    from . import schema
    from .tables import open_table

    project = _project_or_none(ctx)
    if args.action == "infer-schema":
        return {"action": "infer-schema", **schema.infer_file(project, args.data, Path(args.output))}
    table = open_table(project, args.data)
    evidence = schema.check(schema.load(Path(args.schema)), table.frame())
    return {"action": "validate", "data": table.label, "schema": args.schema, **evidence}
