"""Snapshot verbs for the shared command table: argument definitions and the calls into the core."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput
from ..store import ObjectStore

if TYPE_CHECKING:
    from ..commands import Context
    from .core import Snapshotter


def snapshotter(shell: Any) -> Snapshotter:
    """The Snapshotter of this shell (one per kernel, created on first use)."""
    from .core import Snapshotter

    existing = getattr(shell, "_nblift_snapshotter", None)
    if existing is None:
        existing = Snapshotter(shell)
        shell._nblift_snapshotter = existing
    return existing


def _bound(ctx: Context, verb: str) -> Snapshotter:
    """The kernel's Snapshotter, bound to the project this call names."""
    snap = snapshotter(ctx.require_shell(verb))
    snap.bind(ctx.project)
    return snap


def take_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--message", default="", help="what this snapshot is (shown in the list)")
    parser.add_argument(
        "--full", action="store_true", help="re-examine every variable, not only the changed ones"
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="write in the foreground and report what was stored (no background)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="take no snapshot: compare the live variables with the last snapshot (or restore) of this "
        "kernel and list every one that differs",
    )


def take(ctx: Context, args: argparse.Namespace) -> Any:
    snap = _bound(ctx, "snapshot")
    if args.verify:
        return snap.verify()
    background = ctx.project.settings.snapshot_background and not args.wait
    return snap.snapshot(args.message, full=args.full, background=background)


def restore_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id", help="snapshot id (a unique prefix is enough)")
    parser.add_argument(
        "--only", default=None, metavar="A,B", help="restore only these variables (comma-separated)"
    )
    parser.add_argument(
        "--eager", action="store_true", help="read large arrays into memory now instead of mapping"
    )
    parser.add_argument(
        "--device",
        default=None,
        metavar="DEVICE",
        help="where torch tensors and modules go, e.g. cuda, cuda:1, cpu (default: cuda when there is one)",
    )
    parser.add_argument(
        "--rerun",
        action="store_true",
        help="re-run the cells that made variables which could not be stored (generators, ...)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="change nothing: list the variables a restore would overwrite in this kernel and add",
    )


def check_device(device: str | None) -> str | None:
    """`cpu`, `cuda`, `cuda:N`, `mps`: a torch device name, checked before anything is restored."""
    import re

    if device is None or re.fullmatch(r"cpu|mps|cuda(:[0-9]{1,2})?", device):
        return device
    raise InvalidInput(f"--device {device!r} is not a torch device", hint="e.g. --device cuda or cuda:1")


def restore(ctx: Context, args: argparse.Namespace) -> Any:
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    snap = _bound(ctx, "restore")
    if args.dry_run:
        from .plan import plan_restore

        return plan_restore(ctx.project.state_dir, snap.shell.user_ns, args.id, only=only)
    device = check_device(args.device)
    return snap.restore(args.id, only=only, lazy=not args.eager, rerun=args.rerun, device=device)


def autosnapshot_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("state", nargs="?", choices=["on", "off"], help="turn automatic snapshots on or off")


def autosnapshot(ctx: Context, args: argparse.Namespace) -> str:
    snap = _bound(ctx, "autosnapshot")
    if args.state is not None:
        snap.autosnapshot = args.state == "on"
    return f"autosnapshot is {'on' if snap.autosnapshot else 'off'}"


def manage_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="every snapshot of the project, newest first")
    show = sub.add_parser("show", help="one snapshot: variables, warnings, git, environment")
    show.add_argument("id")
    diff = sub.add_parser("diff", help="compare two snapshots")
    diff_args(diff)
    delete = sub.add_parser("delete", help="forget a snapshot (its objects go at the next gc)")
    delete.add_argument("id")
    trust = sub.add_parser("trust", help="sign a snapshot made elsewhere with your key so it can be restored")
    trust.add_argument("id")
    export = sub.add_parser("export", help="write a snapshot and every object it needs to a .tar bundle")
    export.add_argument("id")
    export.add_argument("file", help="bundle to write")
    imp = sub.add_parser("import", help="add a bundle made by export (it stays untrusted until you trust it)")
    imp.add_argument("file", help="bundle to read")
    verify = sub.add_parser(
        "verify",
        help="compare a snapshot with the live variables (in a notebook) or with what restoring it gives "
        "(on the command line); lists every variable that differs",
    )
    verify.add_argument("id")
    gc = sub.add_parser("gc", help="drop old automatic snapshots, then objects nothing refers to")
    gc.add_argument(
        "--keep-auto",
        type=int,
        default=None,
        metavar="N",
        help="automatic snapshots to keep (default: the keep_auto_snapshots setting)",
    )


def _store(ctx: Context) -> ObjectStore:
    return ObjectStore(ctx.project.state_dir)


def manage(ctx: Context, args: argparse.Namespace) -> Any:
    from . import manifest as mf

    action = getattr(args, "action", None) or "list"
    store = _store(ctx)
    if action == "list":
        return ("list", mf.list_manifests(store.state_dir))
    if action == "show":
        return ("show", mf.load_with_trust(store.state_dir, args.id))
    if action == "diff":
        return ("diff", diff(ctx, args))
    if action == "delete":
        mf.delete(store, args.id)
        return ("message", f"snapshot {args.id} deleted; run `nblift gc` to free its objects")
    if action == "trust":
        from .render import trusted_message

        return ("message", trusted_message(mf.trust(store, args.id)))
    if action == "export":
        from .bundle import export_snapshot

        return ("bundle", export_snapshot(store, args.id, Path(args.file)))
    if action == "import":
        from .bundle import import_snapshot

        path = Path(args.file)
        if not path.is_file():
            raise InvalidInput(
                f"{path} is not a file", hint="pass a bundle made by `nblift snapshots export`"
            )
        return ("bundle", import_snapshot(store, path))
    if action == "verify":
        if ctx.shell is not None:
            return ("verify", _bound(ctx, "snapshots verify").verify(args.id))
        from .verify import verify_restored

        return ("verify", verify_restored(store, args.id))
    if action == "gc":
        from .prune import prune_snapshots

        keep = ctx.project.settings.keep_auto_snapshots if args.keep_auto is None else args.keep_auto
        return ("gc", prune_snapshots(store, keep, ctx.project.settings.gc_grace_seconds))
    raise InvalidInput(f"unknown action {action!r}")


def track_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="data files (inside the project) to track; in a notebook, `run [NAME]` starts an MLflow run "
        "that nblift.log writes to and `stop` ends it",
    )
    parser.add_argument("--remove", action="store_true", help="stop tracking these files")


def track(ctx: Context, args: argparse.Namespace) -> Any:
    from .context import data_hashes, set_tracked, tracked_paths

    if args.paths and args.paths[0] in ("run", "stop"):
        from ..experiments import track as runs

        ctx.require_shell("track run")
        return runs.start(" ".join(args.paths[1:]) or None) if args.paths[0] == "run" else runs.stop()
    project = ctx.project
    if args.paths:
        add, remove = ([], args.paths) if args.remove else (args.paths, [])
        paths = set_tracked(project.root, project.ensure_state_dir(), add, remove)
    else:
        paths = tracked_paths(project.state_dir)
    return data_hashes(project.root, paths)


def diff_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", help="older snapshot id, or a run id (nblift's or MLflow's)")
    parser.add_argument("b", help="newer snapshot id, or a run id (nblift's or MLflow's)")


def diff(ctx: Context, args: argparse.Namespace) -> Any:
    from .diff import diff_any

    return diff_any(ctx.project, args.a, args.b)
