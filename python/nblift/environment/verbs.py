"""Environment verbs for the shared command table: argument definitions and the calls into the core.

`env` (show, diff, dockerfile, binder), `pin` and `preflight`. In the `%lift` magic they act on the kernel's
own interpreter; on the command line `--interpreter PATH` names the kernel's python (default: nblift's own).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..commands import Context
    from .capture import Environment


def _interpreter_arg(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    # On an action's parser the default is SUPPRESS, so `env --interpreter X diff` keeps X.
    parser.add_argument(
        "--interpreter",
        metavar="PYTHON",
        default=argparse.SUPPRESS if sub else None,
        help="capture the environment of this python (the kernel's) instead of the one running nblift",
    )


def _no_gpu_arg(parser: argparse.ArgumentParser, *, sub: bool = False) -> None:
    parser.add_argument(
        "--no-gpu",
        action="store_true",
        default=argparse.SUPPRESS if sub else False,
        help="do not ask nvidia-smi for GPUs and the driver",
    )


def _environment(args: argparse.Namespace, *, gpu: bool = True) -> Environment | None:
    """The environment to act on: another interpreter's when named, else None (the running one)."""
    interpreter = getattr(args, "interpreter", None)
    if not interpreter:
        return None
    from .capture import capture_in

    return capture_in(interpreter, gpu=gpu)


def env_args(parser: argparse.ArgumentParser) -> None:
    _interpreter_arg(parser)
    _no_gpu_arg(parser)
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    show = sub.add_parser("show", help="the environment: Python, OS, packages and their sources, GPU, CUDA")
    _interpreter_arg(show, sub=True)
    _no_gpu_arg(show, sub=True)
    diff = sub.add_parser("diff", help="drift between two environments, each change with a severity")
    diff.add_argument(
        "a", nargs="?", default="kernel", help="kernel, lock, a .toml/.json file or a snapshot id"
    )
    diff.add_argument("b", nargs="?", default="lock", help="the same kinds as A (default: lock)")
    diff.add_argument("--notebook", default=None, help="its imports make a missing package an error")
    _interpreter_arg(diff, sub=True)
    docker = sub.add_parser(
        "dockerfile", help="write a multi-stage Dockerfile and .dockerignore from the lock"
    )
    docker.add_argument("--notebook", default=None, help="the notebook the image runs (CMD)")
    docker.add_argument(
        "--build", action="store_true", help="build the image too, where a Docker engine runs"
    )
    docker.add_argument(
        "--tag", default=None, help="image tag for --build (default: nblift-<project>:latest)"
    )
    docker.add_argument("--force", action="store_true", help="overwrite a Dockerfile nblift did not write")
    binder = sub.add_parser("binder", help="write binder/requirements.txt and runtime.txt from the lock")
    binder.add_argument("--force", action="store_true", help="overwrite binder files nblift did not write")


def env(ctx: Context, args: argparse.Namespace) -> tuple[str, Any]:
    action = getattr(args, "action", None) or "show"
    project = ctx.project
    if action == "show":
        from .capture import capture

        return ("show", _environment(args, gpu=not args.no_gpu) or capture(gpu=not args.no_gpu))
    if action == "diff":
        from .diff import env_diff
        from .notebook import find_notebook

        notebook = find_notebook(project, args.notebook) if args.notebook else None
        gpu = not getattr(args, "no_gpu", False)
        env_now = _environment(args, gpu=gpu)
        if env_now is None and not gpu:  # the running interpreter, without asking nvidia-smi
            from .capture import capture

            env_now = capture(gpu=False)
        return ("diff", env_diff(project, args.a, args.b, notebook=notebook, env=env_now))
    if action == "dockerfile":
        from .dockerfile import write_dockerfile

        return (
            "dockerfile",
            write_dockerfile(
                project, notebook=args.notebook, build=args.build, tag=args.tag, force=args.force
            ),
        )
    if action == "binder":
        from .binder import write_binder_from_lock

        return ("binder", write_binder_from_lock(project.root, force=args.force))
    from ..errors import InvalidInput

    raise InvalidInput(f"unknown action {action!r}", hint="use show, diff, dockerfile or binder")


def env_failed(result: tuple[str, Any]) -> bool:
    kind, value = result
    return kind in ("diff", "dockerfile") and bool(value.failed)


def pin_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--platform",
        default=None,
        help="target platform: linux-x86_64, linux-aarch64, macos-arm64, macos-x86_64, windows-x86_64 "
        "(default: this one)",
    )
    parser.add_argument(
        "--python", default=None, help="target Python version, such as 3.11 (default: this one)"
    )
    parser.add_argument("--cuda", default=None, help="target CUDA version for GPU frameworks, such as 12.4")
    parser.add_argument(
        "--requirements",
        metavar="FILE",
        default=None,
        help="pin from this requirements file (relative to the project folder) instead of the environment's "
        "installed packages",
    )
    binder = parser.add_mutually_exclusive_group()
    binder.add_argument(
        "--binder", dest="binder", action="store_true", default=None, help="write binder/ too"
    )
    binder.add_argument("--no-binder", dest="binder", action="store_false", help="leave binder/ alone")
    parser.add_argument("--force", action="store_true", help="overwrite lock files nblift did not write")
    parser.add_argument(
        "--allow-major-moves",
        action="store_true",
        help="accept a lock that moves packages across a major version from the environment's (listed)",
    )
    _interpreter_arg(parser)


def pin(ctx: Context, args: argparse.Namespace) -> Any:
    from .lock import pin as pin_project

    return pin_project(
        ctx.project,
        platform=args.platform,
        python=args.python,
        cuda=args.cuda,
        requirements=Path(args.requirements) if args.requirements else None,
        env=None if args.requirements else _environment(args, gpu=False),
        binder=args.binder,
        force=args.force,
        allow_major_moves=args.allow_major_moves,
    )


def preflight_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", default=None, help="the backend the notebook will run on")
    parser.add_argument(
        "--notebook",
        default=None,
        help="notebook to check (default: the kernel's, or the project's only one)",
    )
    parser.add_argument(
        "--driver", default=None, help="the target's GPU driver version (default: this machine's for local)"
    )
    parser.add_argument(
        "--target-python",
        metavar="PYTHON",
        default=None,
        help="python of an environment built from the lock: check the APIs the notebook uses exist there",
    )


def preflight(ctx: Context, args: argparse.Namespace) -> Any:
    from .preflight import preflight as check

    known_types = None
    if ctx.shell is not None and args.notebook is None:  # the kernel's own notebook: its live variables
        from ..snapshot.namespace import user_variables
        from .api_uses import types_of_values

        known_types = types_of_values(user_variables(ctx.shell.user_ns))
    return check(
        ctx.project,
        args.notebook,
        backend=args.backend,
        driver=args.driver,
        target_python=getattr(args, "target_python", None),
        known_types=known_types,
    )
