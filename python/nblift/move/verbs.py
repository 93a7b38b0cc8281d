"""The `move` verb: `%lift move ssh:NAME` takes this notebook's session to a host, `%lift move back` home."""

from __future__ import annotations

import argparse
from typing import Any

from ..commands import Context
from ..errors import InvalidInput


def move_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("where", metavar="ssh:NAME|back", help="the SSH target to move to, or `back` (home)")
    parser.add_argument("--plan", action="store_true", help="show what the move would do; move nothing")
    parser.add_argument(
        "--gpu", default=None, metavar="N", help="the host's GPUs the kernel sees (e.g. 0 or 0,1)"
    )
    parser.add_argument(
        "--device",
        default=None,
        metavar="DEVICE",
        help="where torch tensors and modules go on the host (cuda, cuda:1; default: cuda when it has one)",
    )
    parser.add_argument("--force", action="store_true", help="move although preflight found errors")
    parser.add_argument(
        "--no-switch",
        action="store_true",
        help="leave the notebook's session on this kernel: the caller switches it to the kernel on the host "
        "(its id is `kernel_id` in the JSON), or, moving back, to the kernel at home that restored it (named "
        "by `GET /nblift/api/status?kernel=ID` as `home_kernel`); JupyterLab's Move dialogs do this",
    )


def move(ctx: Context, args: argparse.Namespace) -> Any:
    shell = ctx.require_shell("move")
    if args.where == "back":
        from .back import move_back

        return move_back(shell, ctx.project, switch=not args.no_switch)
    kind, _, name = args.where.partition(":")
    if kind != "ssh" or not name:
        raise InvalidInput(
            f"cannot move to {args.where!r}", hint="name an SSH target (`ssh:gpu1`), or `back` to come home"
        )
    from ..snapshot.verbs import check_device
    from .to_host import move_to

    device = check_device(args.device)
    return move_to(
        shell,
        ctx.project,
        name,
        plan_only=args.plan,
        gpus=args.gpu,
        force=args.force,
        device=device,
        switch=not args.no_switch,
    )
