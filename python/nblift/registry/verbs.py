"""Registry verbs for the shared command table: register, models, alias, promote, approve, reject, card,
lineage, audit. Each parses its arguments and calls one core function."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..commands import Context


def register_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("variable", help="the kernel variable holding the fitted model")
    parser.add_argument("--name", required=True, help="registered model name")
    parser.add_argument(
        "--example",
        required=True,
        metavar="EXPR",
        help="an input example in the kernel (a variable or expression, e.g. X_test[:5]) for the signature",
    )
    parser.add_argument("--alias", default=None, help="an ungated alias to point at the new version")
    parser.add_argument("--description", default=None, help="the version's description")


def register(ctx: Context, args: argparse.Namespace) -> Any:
    from .register import register as do_register

    shell = ctx.require_shell("register")
    if args.variable not in shell.user_ns:
        raise InvalidInput(f"no variable named {args.variable!r} in the kernel", hint="fit the model first")
    try:
        example = shell.ev(args.example)
    except Exception as exc:  # noqa: BLE001 - the user's expression: say why it failed
        raise InvalidInput(
            f"cannot evaluate the input example {args.example!r} ({type(exc).__name__}: {exc})",
            hint="name a variable or expression, e.g. --example X_test[:5]",
        ) from None
    return do_register(
        ctx.project,
        shell.user_ns[args.variable],
        args.name,
        input_example=example,
        alias=args.alias,
        description=args.description,
        variable=args.variable,
    )


def models_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=None, help="one model: its versions")


def models(ctx: Context, args: argparse.Namespace) -> Any:
    from .catalog import list_models, model_versions

    return model_versions(ctx.project, args.name) if args.name else list_models(ctx.project)


def alias_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="registered model name")
    parser.add_argument("alias", help="alias, e.g. challenger")
    parser.add_argument("version", nargs="?", default=None, help="the version to point it at")
    parser.add_argument("--delete", action="store_true", help="remove the alias")


def alias(ctx: Context, args: argparse.Namespace) -> Any:
    from .promote import set_alias
    from .register import actor

    if (args.version is None) != args.delete:
        raise InvalidInput("give a version, or --delete to remove the alias", hint="alias NAME ALIAS VERSION")
    return set_alias(ctx.project, args.name, args.version, args.alias, actor())


def _version_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="registered model name")
    parser.add_argument("version", help="model version")


def promote_args(parser: argparse.ArgumentParser) -> None:
    _version_args(parser)
    parser.add_argument("--to", dest="alias", default="champion", help="the gated alias (default: champion)")
    parser.add_argument(
        "--override",
        default=None,
        metavar="REASON",
        help="promote although gates fail (audited with the reason)",
    )
    parser.add_argument(
        "--run-checks", action="store_true", help="run the policy's check notebooks first (local backend)"
    )
    parser.add_argument("--dry-run", action="store_true", help="evaluate the gates only")


def promote(ctx: Context, args: argparse.Namespace) -> Any:
    from .promote import promote as do_promote
    from .promote import run_checks
    from .register import actor

    if args.run_checks:
        run_checks(ctx.project, args.name, args.version, args.alias)
    return do_promote(
        ctx.project,
        args.name,
        args.version,
        args.alias,
        actor(),
        override_reason=args.override,
        dry_run=args.dry_run,
    )


def decide_args(parser: argparse.ArgumentParser) -> None:
    _version_args(parser)
    parser.add_argument("--for", dest="alias", default="champion", help="the alias (default: champion)")
    parser.add_argument("--reason", default=None, help="why (required to reject)")


def approve(ctx: Context, args: argparse.Namespace) -> Any:
    from .promote import decide
    from .register import actor

    return decide(ctx.project, args.name, args.version, args.alias, actor(), approve=True, reason=args.reason)


def reject(ctx: Context, args: argparse.Namespace) -> Any:
    from .promote import decide
    from .register import actor

    return decide(
        ctx.project, args.name, args.version, args.alias, actor(), approve=False, reason=args.reason
    )


def card_args(parser: argparse.ArgumentParser) -> None:
    _version_args(parser)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=TEXT",
        help="fill a field: intended_use, limitations, ethical_considerations (saves the card)",
    )


def card(ctx: Context, args: argparse.Namespace) -> Any:
    from . import card as cards
    from .register import actor

    fields = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidInput(f"{item!r} is not FIELD=TEXT", hint='--set intended_use="churn scoring"')
        fields[key.strip()] = value
    if fields:
        return cards.save(ctx.project, args.name, args.version, actor(), fields)
    return cards.render(ctx.project, args.name, args.version)


def lineage(ctx: Context, args: argparse.Namespace) -> Any:
    from .catalog import lineage as graph

    return {"name": args.name, "version": args.version, **graph(ctx.project, args.name, args.version)}


def audit_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=None, help="one model's entries")
    parser.add_argument("--limit", type=int, default=50, help="newest entries to show")


def audit(ctx: Context, args: argparse.Namespace) -> Any:
    from . import audit as trail

    return {
        "entries": trail.entries(ctx.project, args.name, limit=args.limit),
        "problems": trail.verify(ctx.project),
    }
