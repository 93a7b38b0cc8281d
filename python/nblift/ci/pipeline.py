"""The CI pipeline as data: ordered steps, each a list of commands and when it runs.

Every CI system gets the same steps with the same commands (the writers only change the syntax around them):

1. install the project's locked environment with uv (`pylock.toml`'s hashed requirements) and nblift;
2. run the notebook through `nblift run` with the pipeline's small parameter set (`-p ci=true` by default),
   on a configured target when `--target` is given (GPU work goes there; the pipeline only waits);
3. optionally compare two data tables with `nblift drift REF CUR --html ...`;
4. `nblift check MODEL@ALIAS`: every gate of the alias's promotion policy for the candidate (exit 1 when one
   fails), with its Markdown verdict table;
5. on the default branch only: `nblift ci promote MODEL --to ALIAS`: point the `candidate` alias at the
   version this pipeline's run registered and ask for the promotion;
6. always (after a failure too): `nblift ci report`: the Markdown report, posted where the CI system shows it.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any, Literal

from .. import __version__
from ..errors import InvalidInput, NotFound
from ..project import Project

#: Where the pipeline keeps what it shows: the report, the executed notebook, the gates' and drift reports.
OUT_DIR = "nblift-ci"
VENV = ".venv"
NBLIFT = f"{VENV}/bin/nblift"
SYSTEMS = ("github", "gitlab", "jenkins")
#: Where each system reads its pipeline from, relative to the repository root.
PIPELINE_FILES = {
    "github": ".github/workflows/nblift.yml",
    "gitlab": ".gitlab-ci.yml",
    "jenkins": "Jenkinsfile",
}
DEFAULT_PARAMETERS = {"ci": True}
#: The first line of every file `nblift ci init` writes: a file without it is never overwritten silently.
MARK = "Written by `nblift ci init`"

When = Literal["success", "default_branch", "always"]


@dataclasses.dataclass(frozen=True)
class Step:
    """One step: a title, the commands it runs in order (argument lists) and when it runs.

    `when`: `success` (every earlier step passed), `default_branch` (that, on the default branch only) or
    `always` (after the install, whatever happened since: the report must be written after a failed gate).
    """

    key: str
    title: str
    commands: tuple[tuple[str, ...], ...]
    when: When = "success"

    @property
    def lines(self) -> list[str]:
        """The commands as shell lines (each argument quoted where it needs to be)."""
        return [shlex.join(command) for command in self.commands]


@dataclasses.dataclass(frozen=True)
class Options:
    """What `nblift ci init` was asked for (paths relative to the project folder)."""

    system: str
    notebook: str
    model: str
    alias: str = "champion"
    parameters: dict[str, Any] = dataclasses.field(default_factory=lambda: dict(DEFAULT_PARAMETERS))
    target: str | None = None
    timeout: str | None = None
    drift: tuple[str, str] | None = None
    branch: str = "main"
    nblift: str | None = None  # default: nblift==this version, with the extras the pipeline needs
    python: str | None = None  # default: the lock's Python
    subdir: str = ""  # the project folder inside the repository ("" when it is the root)


@dataclasses.dataclass(frozen=True)
class Pipeline:
    options: Options
    python: str
    requirements: str
    steps: tuple[Step, ...]

    @property
    def artifacts(self) -> str:
        return f"{self.options.subdir}/{OUT_DIR}".lstrip("/")

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)

    def to_json(self) -> dict[str, Any]:
        return {
            "system": self.options.system,
            "python": self.python,
            "requirements": self.requirements,
            "artifacts": self.artifacts,
            "steps": [
                {"key": s.key, "title": s.title, "when": s.when, "commands": s.lines} for s in self.steps
            ],
        }


def _parameter_args(parameters: dict[str, Any]) -> list[str]:
    from ..runs.params import value_text

    args: list[str] = []
    for name, value in parameters.items():
        args += ["-p", f"{name}={value_text(value)}"]
    return args


def check_target(project: Project, target: str | None) -> str | None:
    """`target` when it names a configured run target (`ssh:NAME`, `ray:NAME`), else InvalidInput."""
    if target is None:
        return None
    kind, _, name = target.partition(":")
    configured = {"ssh": project.settings.ssh_hosts, "ray": project.settings.ray_clusters}
    if kind not in configured or not name:
        raise InvalidInput(
            f"--target {target!r} is not a run target",
            hint="name a configured target: --target ssh:NAME ([tool.nblift.ssh_hosts.NAME]) or ray:NAME",
        )
    if name not in configured[kind]:
        known = ", ".join(f"{kind}:{n}" for n in configured[kind]) or "none"
        table = "ssh_hosts" if kind == "ssh" else "ray_clusters"
        raise InvalidInput(
            f"no {kind} target named {name!r} in this project's settings (configured: {known})",
            hint=f"add [tool.nblift.{table}.{name}] to pyproject.toml, or name a configured one",
        )
    return target


def nblift_spec(project: Project, options: Options) -> str:
    """`nblift[EXTRAS]==VERSION`: this version, with the extras its steps need (the quality gates' libraries
    when the policy has data, behaviour or drift gates or the pipeline compares data; the target's client)."""
    extras: list[str] = []
    table = project.settings.promotion.get(options.alias, {})
    if options.drift or any(kind in table for kind in ("data", "behaviour", "drift")):
        extras.append("gates")
    if options.target and options.target.split(":", 1)[0] in ("ssh", "ray"):
        extras.append(options.target.split(":", 1)[0])
    return f"nblift{'[' + ','.join(extras) + ']' if extras else ''}=={__version__}"


def build(project: Project, options: Options) -> Pipeline:
    """The pipeline for `options`, checked against the project: its notebook, lock and policy exist."""
    from ..environment.lock import read_lock
    from ..registry.names import check_alias, check_name
    from ..registry.policy import policy_for
    from ..runs.params import check_parameters, parse_duration

    if options.system not in SYSTEMS:
        raise InvalidInput(f"unknown CI system {options.system!r}", hint="--github, --gitlab or --jenkins")
    if not (project.root / options.notebook).is_file():
        raise NotFound(f"no notebook {options.notebook} in {project.root}", hint="--notebook train.ipynb")
    check_name(options.model)
    check_alias(options.alias)
    if policy_for(project, options.alias) is None:
        raise InvalidInput(
            f"the promotion policy has no gates for {options.alias!r}: `nblift check` would run nothing",
            hint=f"add [tool.nblift.promotion.{options.alias}] to pyproject.toml (see docs: registry, gates)",
        )
    parameters = check_parameters(options.parameters)
    parse_duration(options.timeout)
    check_target(project, options.target)
    for table in options.drift or ():
        found = (project.root / table.split("@", 1)[0]).resolve()
        if not found.is_relative_to(project.root.resolve()) or not found.is_file():
            raise InvalidInput(
                f"--drift {table}: no such data file in the project",
                hint="name CSV or Parquet files inside the project (PATH@VERSION for a recorded version)",
            )
    if not (project.root / "pylock.toml").is_file():
        raise NotFound(
            f"no environment lock in {project.root}: the pipeline installs the locked environment",
            hint="lock it: `nblift pin` (or `nblift pin --requirements requirements.in`), then commit it",
        )
    lock = read_lock(project.root)
    python = options.python or lock.python
    if not python:
        raise InvalidInput("the lock names no Python version", hint="re-pin with `nblift pin --python 3.11`")

    install: list[tuple[str, ...]] = [
        ("uv", "venv", "--clear", VENV, "--python", python),
        (
            "uv",
            "pip",
            "install",
            "--python",
            VENV,
            "--require-hashes",
            *(["--index-strategy", lock.index_strategy] if lock.index_strategy else []),
            "-r",
            lock.requirements,
        ),
        (
            "uv",
            "pip",
            "install",
            "--python",
            VENV,
            *shlex.split(options.nblift or nblift_spec(project, options)),
        ),
    ]
    run = [NBLIFT, "run", options.notebook, *_parameter_args(parameters)]
    if options.target:
        run += ["--backend", options.target]
    if options.timeout:
        run += ["--timeout", options.timeout]
    run.append("--wait")
    spec = f"{options.model}@{options.alias}"
    steps = [
        Step("install", "Install the locked environment", tuple(install)),
        Step("run", "Run the notebook", (tuple(run),)),
    ]
    report = [NBLIFT, "ci", "report", options.model, "--alias", options.alias, "--notebook", options.notebook]
    if options.drift:
        html = f"{OUT_DIR}/drift.html"
        steps.append(Step("drift", "Compare the data", ((NBLIFT, "drift", *options.drift, "--html", html),)))
        report += ["--drift-html", html]
    steps += [
        Step(
            "check",
            "Check the gates",
            ((NBLIFT, "check", spec, "--report", f"{OUT_DIR}/gates.md", "--report-dir", OUT_DIR),),
        ),
        Step(
            "promote",
            "Register the candidate and ask for promotion",
            ((NBLIFT, "ci", "promote", options.model, "--to", options.alias),),
            when="default_branch",
        ),
        Step("report", "Write the report", (tuple(report),), when="always"),
    ]
    return Pipeline(options, python, lock.requirements, tuple(steps))


def pipeline_path(root: Path, system: str) -> Path:
    return root / PIPELINE_FILES[system]
