"""The pipeline's Markdown report: the run, the candidate's metrics against the current holder of the alias
(the champion), each gate's verdict (the table `nblift check --report` wrote), the promotion when one was
asked for, and links to the executed notebook and the HTML drift report where the CI system keeps them.

Everything a user or a notebook controls (names, parameters, gate details) is escaped before it goes into
the Markdown, so a `|`, a backtick or HTML in it cannot change what the report shows.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import NotFound
from ..project import Project
from .pipeline import OUT_DIR

PROMOTION_FILE = "promotion.json"
GATES_FILE = "gates.md"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def md(text: object) -> str:
    """`text` as literal Markdown inline text (one line, every special character escaped)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def code(text: object) -> str:
    """`text` as an inline code span on one line (a backtick cannot end it; `|` cannot split a table cell)."""
    return "`" + " ".join(str(text).split()).replace("`", "'").replace("|", "\\|") + "`"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


@dataclasses.dataclass
class Candidate:
    """This pipeline's run and the model version it registered."""

    run: Any  # RunInfo
    version: str | None
    metrics: dict[str, float]
    holder: str | None  # the version compared with: the alias's holder before this pipeline promoted
    holder_metrics: dict[str, float]
    now: str | None = None  # the version holding the alias now


def latest_run(project: Project, notebook: str | None, run_id: str | None = None) -> Any:
    """The run to report on: `run_id`, else the newest run of `notebook` (else of any notebook)."""
    from ..runs import service
    from ..runs.records import resolve_run_id

    if run_id:
        return service.get_run(project, resolve_run_id(project.state_dir, run_id))
    for info in service.list_runs(project):
        if notebook is None or Path(info.notebook) == Path(notebook):
            return info
    raise NotFound(
        f"no run of {notebook or 'any notebook'} in this project",
        hint="run the notebook first: `nblift run NOTEBOOK -p ci=true`",
    )


def registered_by(project: Project, model: str, run_id: str) -> str | None:
    """The newest version of `model` registered from nblift run `run_id`, or None."""
    from mlflow.exceptions import MlflowException

    from .. import tracking

    client = tracking.client(project)
    try:
        found = client.search_model_versions(
            f"name = '{model.replace(chr(39), chr(39) * 2)}'", max_results=1000
        )
    except MlflowException:
        return None
    versions = [int(mv.version) for mv in found if (mv.tags or {}).get("nblift.nblift_run") == run_id]
    return str(max(versions)) if versions else None


def candidate(project: Project, model: str, alias: str, run: Any, previous: str | None = None) -> Candidate:
    """The version `run` registered, its metrics, and the version holding `alias` with its metrics (when the
    pipeline just promoted the candidate, `previous`: the one that held it before)."""
    from .. import tracking
    from ..registry.promote import get_version, holder, version_metrics

    version = registered_by(project, model, run.id)
    metrics: dict[str, float] = {}
    held: str | None = None
    held_metrics: dict[str, float] = {}
    if version is not None:
        client = tracking.client(project)
        metrics = version_metrics(client, get_version(client, model, version))
        now = held = holder(client, model, alias)
        if held == version:
            held = previous
        if held is not None:
            held_metrics = version_metrics(client, get_version(client, model, held))
        return Candidate(run, version, metrics, held, held_metrics, now)
    return Candidate(run, version, metrics, held, held_metrics)


def artifact_link(relative: str, environ: Mapping[str, str]) -> str | None:
    """Where the CI system serves a file the pipeline kept as an artifact (`relative`: to the repository)."""
    if environ.get("GITHUB_ACTIONS") == "true" and environ.get("GITHUB_RUN_ID"):
        server = environ.get("GITHUB_SERVER_URL", "").rstrip("/")
        repository = environ.get("GITHUB_REPOSITORY", "")
        return f"{server}/{repository}/actions/runs/{environ['GITHUB_RUN_ID']}#artifacts"
    if environ.get("GITLAB_CI") == "true" and environ.get("CI_JOB_URL"):
        return f"{environ['CI_JOB_URL'].rstrip('/')}/artifacts/file/{relative}"
    if environ.get("JENKINS_URL") and environ.get("BUILD_URL"):
        return f"{environ['BUILD_URL'].rstrip('/')}/artifact/{relative}"
    return None


def repo_relative(path: Path, environ: Mapping[str, str]) -> str:
    """`path` relative to the checkout the CI system made (else to the current folder)."""
    for key in ("GITHUB_WORKSPACE", "CI_PROJECT_DIR", "WORKSPACE"):
        root = environ.get(key)
        if root and path.resolve().is_relative_to(Path(root).resolve()):
            return path.resolve().relative_to(Path(root).resolve()).as_posix()
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _link(label: str, path: Path, environ: Mapping[str, str]) -> str:
    relative = repo_relative(path, environ)
    url = artifact_link(relative, environ)
    if url is None:
        return f"- {label}: {code(relative)}"
    kept = " (in the `nblift-report` artifact)" if environ.get("GITHUB_ACTIONS") == "true" else ""
    return f"- {label}: [{md(relative)}]({url}){kept}"


def _holder_text(found: Candidate) -> str:
    if found.now is None:
        return "no version yet"
    if found.now == found.version:
        before = f"version {found.holder}" if found.holder else "none"
        return f"version {found.now}, this candidate (before: {before})"
    return f"version {found.now}"


def metrics_table(found: Candidate) -> list[str]:
    if found.version is None:
        return ["The run registered no version of the model, so there is nothing to compare."]
    names = sorted(set(found.metrics) | set(found.holder_metrics))
    if not names:
        return [f"Version {found.version} logged no metrics."]
    theirs = f"champion (v{found.holder})" if found.holder else "champion (none yet)"
    rows = [f"| metric | candidate (v{found.version}) | {theirs} | change |", "| --- | ---: | ---: | ---: |"]
    for name in names:
        mine, held = found.metrics.get(name), found.holder_metrics.get(name)
        change = "-" if mine is None or held is None else f"{mine - held:+.4g}"
        rows.append(f"| {md(name)} | {_num(mine)} | {_num(held)} | {change} |")
    return rows


def _promotion(out: Path, run_id: str) -> dict[str, Any] | None:
    """What `nblift ci promote` recorded for this run (None: it did not run, or left nothing readable; a
    record of an earlier build in a reused workspace is another run's)."""
    try:
        done = json.loads((out / PROMOTION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return done if isinstance(done, dict) and done.get("run") == run_id else None


def _fresh(path: Path, since: float) -> bool:
    """Written by this pipeline: not left over from an earlier build in a reused workspace."""
    try:
        return path.is_file() and path.stat().st_mtime >= since
    except OSError:
        return False


def _promotion_lines(done: dict[str, Any] | None) -> list[str]:
    return [] if done is None else ["", "### Promotion", "", md(done.get("summary", ""))]


def _gate_lines(out: Path, model: str, alias: str, check_ran: bool, since: float) -> list[str]:
    gates = out / GATES_FILE
    lines = ["", f"### Gates ({code(f'nblift check {model}@{alias}')})", ""]
    if _fresh(gates, since):
        text = gates.read_text(encoding="utf-8", errors="replace").strip()
        # Headings from the gates' report sit one level under ours.
        lines += [("#" + line) if line.startswith("#") else line for line in text.splitlines()]
    elif check_ran:
        lines.append("The check wrote no verdict table.")
    else:
        lines.append("The gates were not checked: an earlier step failed.")
    return lines


def build_report(
    project: Project,
    model: str,
    alias: str,
    run: Any,
    out: Path,
    *,
    executed: Path | None,
    drift_html: Path | None,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, Candidate]:
    """The report's Markdown and the candidate it is about."""
    from ..runs.params import value_text

    environ = os.environ if environ is None else environ
    done = _promotion(out, run.id)
    previous = ((done or {}).get("promotion") or {}).get("previous")
    found = candidate(project, model, alias, run, str(previous) if previous else None)
    state = run.state
    title = f"## nblift: {code(run.notebook)} {'ran' if state == 'SUCCEEDED' else md(state)}"
    if found.version:
        title += f", candidate {md(model)} version {found.version}"
    duration = f" in {run.duration:.0f} s" if run.duration is not None else ""
    params = ", ".join(f"{k}={value_text(v)}" for k, v in run.parameters.items()) or "none"
    lines = [
        title,
        "",
        "| | |",
        "| --- | --- |",
        f"| run | {code(run.id)} on {md(run.backend)}: {md(state)}{duration} |",
        f"| parameters | {md(params)} |",
        f"| candidate | {code(f'models:/{model}/{found.version}') if found.version else 'none registered'} |",
        f"| {md(alias)} now | {_holder_text(found)} |",
    ]
    if run.error:
        lines.append(f"| error | {md(run.error.get('message') or run.error)} |")
    lines += ["", f"### Metrics against the {md(alias)}", "", *metrics_table(found)]
    lines += _gate_lines(out, model, alias, state == "SUCCEEDED", run.created)
    lines += _promotion_lines(done)
    links = []
    if executed is not None and executed.is_file():
        links.append(_link("executed notebook", executed, environ))
    # The drift gate's HTML reports (`nblift check --report-dir`) and a standalone `nblift drift --html`.
    pages = sorted(p for p in out.glob("*.html") if _fresh(p, run.created))
    if (
        drift_html is not None
        and _fresh(drift_html, run.created)
        and drift_html.resolve() not in {p.resolve() for p in pages}
    ):
        pages.append(drift_html)
    links += [_link(f"drift report ({md(page.stem)})", page, environ) for page in pages]
    if links:
        lines += ["", "### Links", "", *links]
    return "\n".join(lines) + "\n", found


def metrics_text(found: Candidate) -> str:
    """The candidate's metrics in the plain `name value` lines GitLab's metrics report reads."""
    return "".join(
        f"{re.sub(r'[^A-Za-z0-9_:]', '_', name)} {value:.10g}\n"
        for name, value in sorted(found.metrics.items())
    )


def write_outputs(out: Path, report: str, found: Candidate) -> Path:
    from ..fsutil import atomic_write, ensure_dir

    ensure_dir(out)
    path = out / "report.md"
    atomic_write(path, report.encode())
    atomic_write(out / "metrics.txt", metrics_text(found).encode())
    return path


__all__ = ["OUT_DIR", "build_report", "candidate", "latest_run", "md", "write_outputs"]
