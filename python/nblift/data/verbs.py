"""The `data` verb for the shared command table: its arguments and the call into the core."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidInput

if TYPE_CHECKING:
    from ..commands import Context
    from .report import DataReport


def data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "notebook",
        nargs="?",
        default=None,
        metavar="NOTEBOOK",
        help="also list the files this notebook reads (in a notebook: the kernel's own notebook)",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="read DVC's records only: do not check that the workspace copies still match them",
    )


def _notebook(ctx: Context, raw: str | None) -> Path | None:
    if raw is not None:
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else Path.cwd() / path
        if not path.is_file():
            raise InvalidInput(f"no notebook at {raw}", hint="pass the path of a saved .ipynb file")
        return path.absolute()
    if ctx.shell is not None:
        from ..kernel_session import kernel_notebook

        found = kernel_notebook()
        return found if found is not None and found.is_file() else None
    return None


def data(ctx: Context, args: argparse.Namespace) -> DataReport:
    """The project's inputs (and the notebook's), compared with the last snapshot that recorded data."""
    from .inputs import gather
    from .report import compare, last_recorded

    project = ctx.project
    manifest = gather(project, notebook=_notebook(ctx, args.notebook), verify=not args.no_verify)
    return compare(manifest, last_recorded(project.state_dir))
