"""`nblift ci init | report | promote`: write a CI pipeline, and the pipeline's own report and promotion
steps. Each parses its arguments and calls the core (pipeline, writers, report, post, the registry)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, NotFound
from ..runs.verbs import parameter_args
from .pipeline import DEFAULT_PARAMETERS, MARK, OUT_DIR, PIPELINE_FILES, SYSTEMS

if TYPE_CHECKING:
    from ..commands import Context
    from ..project import Project


def ci_args(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = sub.add_parser(
        "init",
        help="write the project's CI pipeline (GitHub Actions, GitLab CI or Jenkins)",
        description="Write a pipeline that installs the locked environment with uv, runs the notebook "
        "with a small `ci` parameter set, runs `nblift check`, writes a Markdown report where the CI system "
        "shows it and, on the default branch, registers the candidate and asks for promotion.",
    )
    which = init.add_mutually_exclusive_group(required=True)
    for system in SYSTEMS:
        which.add_argument(
            f"--{system}",
            dest="system",
            action="store_const",
            const=system,
            help=f"write {PIPELINE_FILES[system]}",
        )
    init.add_argument(
        "--notebook", default=None, help="the notebook to run (default: the project's only one)"
    )
    init.add_argument(
        "--model", default=None, help="the registered model it makes (default: the name its register names)"
    )
    init.add_argument("--alias", default="champion", help="the gated alias to check and promote to")
    parameter_args(init)  # the pipeline's parameter set for the notebook (default: -p ci=true)
    init.add_argument(
        "--target", default=None, help="run the notebook on a configured target: ssh:NAME, ray:NAME"
    )
    init.add_argument(
        "--drift", nargs=2, default=None, metavar=("REF", "CUR"), help="also run `nblift drift REF CUR`"
    )
    init.add_argument("--branch", default="main", help="the default branch (promotion happens there)")
    init.add_argument(
        "--nblift",
        default=None,
        metavar="SPEC",
        help="how the pipeline installs nblift (default: nblift==this version with the extras it needs)",
    )
    init.add_argument("--python", default=None, help="the pipeline's Python (default: the lock's)")
    init.add_argument("--force", action="store_true", help="overwrite a pipeline file nblift did not write")
    init.add_argument("--stdout", action="store_true", help="print the pipeline instead of writing it")

    report = sub.add_parser(
        "report",
        help="write the pipeline's Markdown report and post it where the CI system shows it",
        description="The run, the candidate's metrics against the alias's holder, each gate's verdict, links "
        "to the executed notebook and the drift report; posted to the job summary (GitHub), a merge request "
        "note (GitLab, with a token) or kept with the build (Jenkins).",
    )
    report.add_argument("model", help="the registered model")
    report.add_argument("--alias", default="champion", help="the gated alias (default: champion)")
    report.add_argument("--notebook", default=None, help="report on this notebook's newest run")
    report.add_argument("--run", default=None, metavar="ID", help="report on this run instead")
    report.add_argument("--drift-html", default=None, metavar="PATH", help="the HTML drift report to link")
    report.add_argument(
        "--out", default=OUT_DIR, metavar="DIR", help=f"where to write it (default {OUT_DIR})"
    )
    report.add_argument(
        "--post",
        default="auto",
        choices=("auto", "github", "gitlab", "jenkins", "none"),
        help="where to post it (default: the CI system this runs in)",
    )

    promote = sub.add_parser(
        "promote",
        help="point the candidate alias at the version this pipeline's run registered and ask for promotion",
    )
    promote.add_argument("model", help="the registered model")
    promote.add_argument("--to", dest="alias", default="champion", help="the gated alias (default: champion)")
    promote.add_argument(
        "--notebook", default=None, help="the version registered by this notebook's newest run"
    )
    promote.add_argument("--run", default=None, metavar="ID", help="the version registered by this run")
    promote.add_argument(
        "--candidate-alias",
        default="candidate",
        help="the ungated alias naming the candidate (default: candidate)",
    )
    promote.add_argument(
        "--only-default-branch",
        action="store_true",
        help="do nothing unless the CI system says this is its default branch",
    )
    promote.add_argument(
        "--branch", default="main", help="the default branch when the CI system does not say"
    )
    promote.add_argument("--out", default=OUT_DIR, metavar="DIR", help="where to record the outcome")


@dataclasses.dataclass
class Written:
    system: str
    path: str
    text: str
    written: bool
    pipeline: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Reported:
    path: str
    report: str
    posted_to: str
    posted: str
    run: str
    version: str | None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Promoted:
    model: str
    alias: str
    version: str | None
    state: str  # promoted, awaiting_approval, blocked, skipped
    summary: str
    promotion: dict[str, Any] | None = None
    run: str | None = None  # the nblift run that registered the version

    @property
    def failed(self) -> bool:
        return self.state == "blocked"

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "failed": self.failed}


def ci(ctx: Context, args: argparse.Namespace) -> Any:
    return {"init": init, "report": report, "promote": promote}[args.action](ctx, args)


def repository_root(start: Path) -> Path:
    """The checkout `start` is in (the nearest folder up with `.git`), else `start` itself."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _notebook(project: Project, given: str | None) -> str:
    if given:
        path = Path(given)
        full = path if path.is_absolute() else project.root / path
        try:
            relative = full.resolve().relative_to(project.root.resolve()).as_posix()
        except ValueError:
            raise InvalidInput(
                f"{given} is not inside the project {project.root}", hint="name a notebook in the project"
            ) from None
        if not full.is_file():
            raise NotFound(f"no notebook {relative} in {project.root}", hint="--notebook train.ipynb")
        return relative
    found = sorted(p.name for p in project.root.glob("*.ipynb"))
    if len(found) != 1:
        listed = ", ".join(found) or "none"
        raise InvalidInput(
            f"which notebook should the pipeline run? (notebooks in the project folder: {listed})",
            hint="name it: --notebook train.ipynb",
        )
    return found[0]


_REGISTER = re.compile(r"%lift\s+(?:--json\s+)?register\b.*?--name[ =]([\w.\-/]+)")


def _model(project: Project, notebook: str, given: str | None) -> str:
    if given:
        return given
    from ..environment.notebook import cells_of

    names = {
        m.group(1)
        for cell in cells_of(project.root / notebook)
        for m in _REGISTER.finditer("".join(cell.get("source", "")))
    }
    if len(names) != 1:
        raise InvalidInput(
            f"cannot tell which model {notebook} registers (found: {', '.join(sorted(names)) or 'none'})",
            hint="name it: --model NAME (the notebook should `%lift register MODEL --name NAME ...`)",
        )
    return names.pop()


def init(ctx: Context, args: argparse.Namespace) -> Written:
    from ..fsutil import atomic_write, ensure_dir
    from ..runs.params import parse_assignments
    from . import writers
    from .pipeline import Options, build, pipeline_path

    project = ctx.project
    notebook = _notebook(project, args.notebook)
    repo = repository_root(project.root.resolve())
    subdir = project.root.resolve().relative_to(repo).as_posix()
    options = Options(
        system=args.system,
        notebook=notebook,
        model=_model(project, notebook, args.model),
        alias=args.alias,
        parameters=parse_assignments(args.parameters) if args.parameters else dict(DEFAULT_PARAMETERS),
        target=args.target,
        timeout=args.timeout,
        drift=tuple(args.drift) if args.drift else None,
        branch=args.branch,
        nblift=args.nblift,
        python=args.python,
        subdir="" if subdir == "." else subdir,
    )
    pipeline = build(project, options)
    text = writers.render(pipeline)
    path = pipeline_path(repo, args.system)
    if not args.stdout:
        if (
            path.exists()
            and MARK not in path.read_text(encoding="utf-8", errors="replace")[:500]
            and not args.force
        ):
            raise InvalidInput(
                f"{path} exists and was not written by `nblift ci init`",
                hint="move it aside, or pass --force to replace it",
            )
        ensure_dir(path.parent)
        atomic_write(path, text.encode())
    return Written(args.system, str(path), text, not args.stdout, pipeline.to_json())


def _out(project: Project, given: str) -> Path:
    out = Path(given)
    out = out if out.is_absolute() else Path.cwd() / out
    if out.resolve().is_relative_to(project.state_dir.resolve()):
        raise InvalidInput(f"{out} is inside nblift's state folder", hint=f"--out {OUT_DIR}")
    return out


def report(ctx: Context, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Reported:
    from ..fsutil import ensure_dir
    from ..registry.names import check_alias, check_name
    from ..runs import service
    from .post import post
    from .report import build_report, latest_run, write_outputs

    environ = os.environ if environ is None else environ
    project = ctx.project
    check_name(args.model)
    check_alias(args.alias)
    out = ensure_dir(_out(project, args.out))
    notebook = _notebook(project, args.notebook) if args.notebook else None
    run = latest_run(project, notebook, args.run)
    executed: Path | None = None
    try:
        executed = service.fetch(project, run.id, out / "run")
    except NotFound:
        executed = None
    drift = Path(args.drift_html) if args.drift_html else None
    text, found = build_report(
        project, args.model, args.alias, run, out, executed=executed, drift_html=drift, environ=environ
    )
    path = write_outputs(out, text, found)
    system, posted = post(text, args.post, environ)
    return Reported(str(path), text, system, posted, run.id, found.version)


def on_default_branch(environ: Mapping[str, str], branch: str) -> tuple[bool, str]:
    """Whether this CI job builds the default branch, and the branch it builds ("" when none is named)."""
    current = (
        environ.get("CI_COMMIT_BRANCH")
        or (environ.get("GITHUB_REF_NAME") if environ.get("GITHUB_REF_TYPE", "branch") == "branch" else "")
        or environ.get("BRANCH_NAME")
        or ""
    )
    if environ.get("GITHUB_EVENT_NAME") == "pull_request" or environ.get("CHANGE_ID"):
        return False, current
    default = environ.get("CI_DEFAULT_BRANCH") or branch
    return bool(current) and current == default, current


def promote(ctx: Context, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Promoted:
    from ..fsutil import atomic_write, ensure_dir
    from ..registry.names import check_alias, check_name
    from ..registry.promote import promote as do_promote
    from ..registry.promote import set_alias
    from ..registry.register import actor
    from .report import PROMOTION_FILE, latest_run, registered_by

    environ = os.environ if environ is None else environ
    project = ctx.project
    check_name(args.model)
    check_alias(args.alias)
    check_alias(args.candidate_alias)
    out = ensure_dir(_out(project, args.out))
    if args.only_default_branch:
        default, current = on_default_branch(environ, args.branch)
        if not default:
            return Promoted(
                args.model,
                args.alias,
                None,
                "skipped",
                f"not on the default branch ({current or 'no branch'}): no promotion asked for",
            )
    notebook = _notebook(project, args.notebook) if args.notebook else None
    run = latest_run(project, notebook, args.run)
    if run.state != "SUCCEEDED":
        raise InvalidInput(
            f"run {run.id} ended {run.state}: nothing to promote", hint="see `nblift logs " + run.id + "`"
        )
    version = registered_by(project, args.model, run.id)
    if version is None:
        raise NotFound(
            f"run {run.id} registered no version of {args.model!r}",
            hint=f"the notebook should `%lift register MODEL --name {args.model} --example ...`",
        )
    set_alias(project, args.model, version, args.candidate_alias, actor())
    result = do_promote(project, args.model, version, args.alias, actor())
    waiting = [g for g in result.gates if not g.passed]
    if result.promoted:
        state, summary = "promoted", f"{args.model} version {version} is now {args.alias}."
    elif waiting and all(g.kind == "approvals" for g in waiting):
        state = "awaiting_approval"
        summary = (
            f"{args.model} version {version} passed every gate but approval ({waiting[0].detail}); it is "
            f"the {args.candidate_alias}. Approve with `nblift approve {args.model} {version} --for "
            f"{args.alias}`, then `nblift promote {args.model} {version} --to {args.alias}`."
        )
    else:
        state = "blocked"
        failed = "; ".join(f"{g.label}: {g.detail}" for g in waiting)
        summary = f"{args.model} version {version} was not promoted to {args.alias}: {failed}"
    done = Promoted(args.model, args.alias, version, state, summary, result.to_json(), run.id)
    atomic_write(out / PROMOTION_FILE, json.dumps(done.to_json(), indent=1).encode())
    return done
