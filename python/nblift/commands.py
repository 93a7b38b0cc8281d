"""The verbs nblift offers, defined once: the CLI, the `%lift` magic and the docs all read this table.

A verb parses its arguments with argparse, calls one core function and renders the result as text
(terminal), HTML (notebook) or JSON. Logic lives in the core modules, not here.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
from collections.abc import Callable
from typing import Any, NoReturn

from . import __version__
from .errors import NbliftError
from .project import Project


@dataclasses.dataclass
class Context:
    """What a verb runs against: the project and, inside a kernel, the IPython shell."""

    project_path: str | None = None
    shell: Any | None = None
    resolved: Project | None = None

    @property
    def project(self) -> Project:
        if self.resolved is None:
            self.resolved = Project.discover(self.project_path)
        return self.resolved

    def require_shell(self, verb: str) -> Any:
        if self.shell is None:
            raise NbliftError(
                f"`{verb}` works on a running kernel", hint=f"run `%lift {verb}` in the notebook"
            )
        return self.shell


@dataclasses.dataclass(frozen=True)
class Verb:
    name: str
    help: str
    run: Callable[[Context, argparse.Namespace], Any]
    text: Callable[[Any], str]
    html: Callable[[Any], str]
    json: Callable[[Any], Any]
    add_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    failed: Callable[[Any], bool] = lambda result: False
    #: Only the `%lift` magic offers it (it acts on the kernel's variables).
    kernel_only: bool = False


def _status(ctx: Context, _: argparse.Namespace) -> Any:
    from .status import collect_status

    if ctx.shell is None:
        return collect_status(ctx.project)
    from .move.where import this_kernel

    return collect_status(ctx.project, this_kernel())


def _fsck(ctx: Context, _: argparse.Namespace) -> Any:
    from .fsck import fsck
    from .store import ObjectStore

    return fsck(ObjectStore(ctx.project.state_dir))


def _gc_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--grace",
        type=float,
        metavar="SECONDS",
        default=None,
        help="keep unreferenced objects younger than this (default: the gc_grace_seconds setting)",
    )


def _gc(ctx: Context, args: argparse.Namespace) -> Any:
    from .collect import collect_garbage
    from .store import ObjectStore

    project = ctx.project
    grace = project.settings.gc_grace_seconds if args.grace is None else args.grace
    return collect_garbage(ObjectStore(project.state_dir), grace)


def _late(module: str, attr: str) -> Callable[..., Any]:
    """`module.attr`, imported at its first call: `%load_ext nblift` never imports a verb's code."""

    def call(*args: Any) -> Any:
        return getattr(importlib.import_module(module), attr)(*args)

    return call


def _lazy(attr: str, module: str = "nblift.render") -> Callable[..., Any]:
    return _late(module, attr)


def _package(name: str) -> tuple[Callable[[str], Callable[..., Any]], Callable[[str], Callable[..., Any]]]:
    """Lookups of a verb package's functions (`verbs.py`: the verb and its arguments) and renderers."""
    return (
        lambda attr: _late(f"nblift.{name}.verbs", attr),
        lambda attr: _late(f"nblift.{name}.render", attr),
    )


_snap, _snap_render = _package("snapshot")
_env, _env_render = _package("environment")
_runs, _runs_render = _package("runs")
_exp, _exp_render = _package("experiments")
_reg, _reg_render = _package("registry")
_data, _data_render = _package("data")
_costs, _costs_render = _package("costs")
_move, _move_render = _package("move")
_gates, _gates_render = _package("gates")
_ci, _ci_render = _package("ci")
_export, _export_render = _package("export")
_snap_args, _env_args, _runs_args, _exp_args, _reg_args = _snap, _env, _runs, _exp, _reg


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
        Verb(
            "snapshot",
            "Freeze the kernel's variables, execution history, notebook, git state and environment.",
            _snap("take"),
            _snap_render("snapshot_text"),
            _snap_render("snapshot_html"),
            _to_json,
            add_arguments=_snap_args("take_args"),
            failed=lambda r: getattr(r, "ok", True) is False,
            kernel_only=True,
        ),
        Verb(
            "restore",
            "Bring a snapshot's variables back into this kernel (all, or --only some).",
            _snap("restore"),
            _snap_render("restore_text"),
            _snap_render("restore_html"),
            _to_json,
            add_arguments=_snap_args("restore_args"),
            failed=lambda r: bool(r.failed),
            kernel_only=True,
        ),
        Verb(
            "autosnapshot",
            "Snapshot after every cell (on) or stop (off); without an argument, say which.",
            _snap("autosnapshot"),
            str,
            lambda r: f"<p>{r}</p>",
            lambda r: {"autosnapshot": r},
            add_arguments=_snap_args("autosnapshot_args"),
            kernel_only=True,
        ),
        Verb(
            "snapshots",
            "List, show, diff, verify, delete, export, import, trust and garbage-collect snapshots.",
            _snap("manage"),
            _snap_render("manage_text"),
            _snap_render("manage_html"),
            _snap_render("manage_json"),
            add_arguments=_snap_args("manage_args"),
            failed=lambda r: r[0] == "verify" and not r[1].ok,
        ),
        Verb(
            "env",
            "Show the environment (packages and their sources, Python, OS, GPU, CUDA); diff two; "
            "write a Dockerfile or binder files from the lock.",
            _env("env"),
            _env_render("env_text"),
            _env_render("env_html"),
            _env_render("env_json"),
            add_arguments=_env_args("env_args"),
            failed=_lazy("env_failed", "nblift.environment.verbs"),
        ),
        Verb(
            "pin",
            "Lock the environment for the target machine with uv: pylock.toml and a hashed requirements.txt; "
            "local packages go into the bundle.",
            _env("pin"),
            _env_render("pin_text"),
            _env_render("pin_html"),
            _to_json,
            add_arguments=_env_args("pin_args"),
            failed=lambda r: r.failed,
        ),
        Verb(
            "preflight",
            "Check a notebook before a push: imports in the lock, local modules and files inside the "
            "project, CUDA build against the driver, uncommitted changes, secrets in outputs.",
            _env("preflight"),
            _env_render("preflight_text"),
            _env_render("preflight_html"),
            _to_json,
            add_arguments=_env_args("preflight_args"),
            failed=lambda r: r.failed,
        ),
        Verb(
            "track",
            "Track data files and folders: every snapshot records their BLAKE3 hashes (no PATH: list "
            "them). In a notebook, `track run [NAME]` starts an MLflow run for nblift.log and `track stop` "
            "ends it.",
            _snap("track"),
            _snap_render("track_text"),
            _snap_render("track_html"),
            lambda result: result if isinstance(result, dict) else {"files": result},
            add_arguments=_snap_args("track_args"),
        ),
        Verb(
            "data",
            "List the data inputs (tracked files and folders, DVC-recorded data, with NOTEBOOK the files it "
            "reads) with their hash and state: unchanged, changed since the last snapshot or run, new, "
            "missing.",
            _data("data"),
            _data_render("data_text"),
            _data_render("data_html"),
            _data_render("data_json"),
            add_arguments=_data("data_args"),
            failed=_data_render("data_failed"),
        ),
        Verb(
            "diff",
            "Compare two snapshots (variables, cells that ran, packages, git commit, data) or two runs "
            "(parameters, metrics and data inputs that differ).",
            _snap("diff"),
            _snap_render("diff_text"),
            _snap_render("diff_html"),
            _snap_render("diff_json"),
            add_arguments=_snap_args("diff_args"),
        ),
        Verb(
            "run",
            "Run a notebook top to bottom in a fresh kernel on a backend (default: local), with parameters "
            "injected after the cell tagged `parameters`; recorded as an MLflow run.",
            _runs("run"),
            _runs_render("run_text"),
            _runs_render("run_html"),
            _runs_render("run_json"),
            add_arguments=_runs_args("run_args"),
            failed=_runs_render("run_failed"),
        ),
        Verb(
            "runs",
            "List this project's runs, newest first, with their state, backend and duration.",
            _runs("runs"),
            _runs_render("runs_text"),
            _runs_render("runs_html"),
            _runs_render("runs_json"),
            add_arguments=_runs_args("runs_args"),
        ),
        Verb(
            "move",
            "Move this notebook's live session to an SSH host (`move ssh:NAME`: its variables, files and "
            "environment; the same tab goes on there) and home again (`move back`).",
            _move("move"),
            _move_render("move_text"),
            _move_render("move_html"),
            _to_json,
            add_arguments=_move("move_args"),
        ),
        Verb(
            "costs",
            "What runs cost at their targets' hourly rates, summed per month, user and notebook.",
            _costs("costs"),
            _costs_render("costs_text"),
            _costs_render("costs_html"),
            _to_json,
            add_arguments=_costs("costs_args"),
        ),
        Verb(
            "export",
            "Write a SkyPilot task (`sky launch task.yaml`) that runs a notebook or an earlier run's bundle "
            "with nblift's runner.",
            _export("export"),
            _export_render("export_text"),
            _export_render("export_html"),
            _to_json,
            add_arguments=_export("export_args"),
        ),
        Verb(
            "logs",
            "Show a run's output, cell by cell (-f: follow it until it ends).",
            _runs("logs"),
            _runs_render("logs_text"),
            _runs_render("logs_html"),
            _runs_render("logs_json"),
            add_arguments=_runs_args("logs_args"),
        ),
        Verb(
            "cancel",
            "Stop a run: SIGTERM, a grace period, then SIGKILL of its process group; it ends CANCELLED.",
            _runs("cancel"),
            _runs_render("run_text"),
            _runs_render("run_html"),
            _runs_render("run_json"),
            add_arguments=_runs_args("id_args"),
        ),
        Verb(
            "fetch",
            "Copy a run's executed notebook and artifacts into the project (nblift-runs/<id>/ or --to DIR).",
            _runs("fetch"),
            _runs_render("fetch_text"),
            _runs_render("fetch_html"),
            lambda r: r,
            add_arguments=_runs_args("fetch_args"),
        ),
        Verb(
            "experiments",
            "The experiment's MLflow runs as a table (snapshots, runs and tracked notebooks alike), filtered "
            "with MLflow's syntax and sorted.",
            _exp("experiments"),
            _exp_render("experiments_text"),
            _exp_render("experiments_html"),
            _exp_render("experiments_json"),
            add_arguments=_exp_args("experiments_args"),
        ),
        Verb(
            "compare",
            "Compare MLflow runs: parameters (marked where they differ) and metric curves on one plot.",
            _exp("compare"),
            _exp_render("compare_text"),
            _exp_render("compare_html"),
            _exp_render("compare_json"),
            add_arguments=_exp_args("compare_args"),
        ),
        Verb(
            "register",
            "Register a kernel variable as a new model version (its MLflow flavor, a signature from "
            "--example, "
            "requirements from the lock, lineage to the run, snapshot, lock, data and git commit).",
            _reg("register"),
            _reg_render("register_text"),
            _reg_render("register_html"),
            _reg_render("same"),
            add_arguments=_reg_args("register_args"),
            kernel_only=True,
        ),
        Verb(
            "models",
            "Registered models with their aliases; with a NAME, its versions, aliases and gate status.",
            _reg("models"),
            _reg_render("models_text"),
            _reg_render("models_html"),
            _reg_render("same"),
            add_arguments=_reg_args("models_args"),
        ),
        Verb(
            "alias",
            "Point an ungated alias (e.g. challenger) at a version, or --delete it; gated aliases "
            "need promote.",
            _reg("alias"),
            _reg_render("alias_text"),
            _reg_render("alias_html"),
            _reg_render("same"),
            add_arguments=_reg_args("alias_args"),
        ),
        Verb(
            "promote",
            "Evaluate the policy's gates for a version and move the alias (default champion) when they pass; "
            "--override REASON promotes anyway, audited.",
            _reg("promote"),
            _reg_render("promote_text"),
            _reg_render("promote_html"),
            _reg_render("same"),
            add_arguments=_reg_args("promote_args"),
            failed=_reg_render("promote_failed"),
        ),
        Verb(
            "approve",
            "Approve a model version for a gated alias (counted by its approvals gate; audited).",
            _reg("approve"),
            _reg_render("decide_text"),
            _reg_render("decide_html"),
            _reg_render("same"),
            add_arguments=_reg_args("decide_args"),
        ),
        Verb(
            "reject",
            "Reject a model version for a gated alias, with a reason (blocks promotion until withdrawn).",
            _reg("reject"),
            _reg_render("decide_text"),
            _reg_render("decide_html"),
            _reg_render("same"),
            add_arguments=_reg_args("decide_args"),
        ),
        Verb(
            "card",
            "A version's model card (Markdown; HTML in the notebook); --set FIELD=TEXT fills a field "
            "and saves it.",
            _reg("card"),
            _reg_render("card_text"),
            _reg_render("card_html"),
            _reg_render("card_json"),
            add_arguments=_reg_args("card_args"),
        ),
        Verb(
            "lineage",
            "Where a version came from: run, notebook, snapshot, environment lock, data, git commit.",
            _reg("lineage"),
            _reg_render("lineage_text"),
            _reg_render("lineage_html"),
            _reg_render("same"),
            add_arguments=_reg("_version_args"),
        ),
        Verb(
            "audit",
            "The registry's audit trail (registrations, aliases, promotions, approvals, overrides); "
            "exit 1 if "
            "it was tampered with.",
            _reg("audit"),
            _reg_render("audit_text"),
            _reg_render("audit_html"),
            _reg_render("same"),
            add_arguments=_reg_args("audit_args"),
            failed=_reg_render("audit_failed"),
        ),
        Verb(
            "drift",
            "Per-column drift of CUR from REF (CSV/Parquet files or PATH@VERSION): KS and chi-squared for "
            "small samples, Wasserstein and Jensen-Shannon for large, PSI on request; exit 1 on drift.",
            _gates("drift"),
            _gates_render("drift_text"),
            _gates_render("drift_html"),
            _gates_render("same"),
            add_arguments=_gates("drift_args"),
            failed=_gates_render("drift_failed"),
        ),
        Verb(
            "check",
            "Run every gate of MODEL@ALIAS's promotion policy (data, behaviour, drift, metrics, checks) "
            "for a candidate version, record the verdicts in the audit trail; exit 1 if one fails.",
            _gates("check"),
            _gates_render("check_text"),
            _gates_render("check_html"),
            _gates_render("same"),
            add_arguments=_gates("check_args"),
            failed=_gates_render("check_failed"),
        ),
        Verb(
            "gates",
            "Quality gate tools: `gates infer-schema DATA -o schema.yaml` writes an editable pandera schema; "
            "`gates validate DATA --schema PATH` checks data against it.",
            _gates("gates"),
            _gates_render("gates_text"),
            _gates_render("gates_html"),
            _gates_render("same"),
            add_arguments=_gates("gates_args"),
            failed=_gates_render("gates_failed"),
        ),
        Verb(
            "ci",
            "CI pipelines: `ci init --github | --gitlab | --jenkins` writes one that installs the lock, runs "
            "the notebook, checks the gates, reports and promotes on the default branch; `ci report` and "
            "`ci promote` are its steps.",
            _ci("ci"),
            _ci_render("ci_text"),
            _ci_render("ci_html"),
            _ci_render("ci_json"),
            add_arguments=_ci("ci_args"),
            failed=_ci_render("ci_failed"),
        ),
    )
}


def default_args(verb: str, *extra: str) -> argparse.Namespace:
    """The arguments of `verb` with every option at its default (for callers without a command line)."""
    return build_parser("nblift").parse_args([verb, *extra])


class _Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" for a mistyped command."""

    def error(self, message: str) -> NoReturn:
        import difflib
        import re

        typed = re.search(r"argument COMMAND: invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if typed:
            choices = re.findall(r"'([^']*)'", typed.group(2))
            close = difflib.get_close_matches(typed.group(1), choices, n=3)
            if close:
                message += "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
        super().error(message)


def build_parser(prog: str, *, in_kernel: bool | None = None) -> argparse.ArgumentParser:
    """The argument parser shared by `nblift` and `%lift` (kernel-only verbs only in the magic)."""
    in_kernel = prog.startswith("%") if in_kernel is None else in_kernel
    parser = _Parser(prog=prog, description="nblift: take notebooks from a laptop to a GPU.")
    parser.add_argument(
        "-C",
        "--project",
        metavar="PATH",
        default=None,
        help="project folder or notebook (default: the notebook's folder or the current one)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--version", action="version", version=f"nblift {__version__}")
    # `--json` is also accepted after the command (`nblift status --json`); SUPPRESS keeps the
    # subcommand from resetting a `--json` given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print the result as JSON"
    )
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    for verb in VERBS.values():
        if verb.kernel_only and not in_kernel:
            continue
        verb.add_arguments(sub.add_parser(verb.name, help=verb.help, description=verb.help, parents=[common]))
    return parser
