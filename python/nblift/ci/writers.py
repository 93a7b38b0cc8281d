"""The pipeline in each CI system's own syntax: a GitHub Actions workflow, a GitLab CI file, a declarative
Jenkinsfile. The commands are the pipeline's, unchanged; only when each step runs and where the report and
artifacts go differ (GitHub: the job summary and an uploaded artifact; GitLab: a job artifact exposed in the
merge request, and a note when a token is set; Jenkins: archived artifacts).
"""

from __future__ import annotations

from typing import Any

from ..render import yaml_text
from .pipeline import MARK, OUT_DIR, Pipeline, Step

_HEADER = (
    f"{MARK} for {{notebook}}: install the locked environment, run the notebook, check the gates,\n"
    "promote on {branch}, report. Re-run `nblift ci init` after changing its options (nblift docs: CI)."
)
_ENV = {"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1"}


def _comment(pipeline: Pipeline, prefix: str) -> str:
    text = _HEADER.format(notebook=pipeline.options.notebook, branch=pipeline.options.branch)
    return "\n".join(f"{prefix} {line}" for line in text.splitlines()) + "\n"


def _script(step: Step) -> str:
    return "\n".join(step.lines) + ("\n" if len(step.lines) > 1 else "")


def github(pipeline: Pipeline) -> str:
    """A workflow with one job: on pushes to the default branch, pull requests and by hand."""
    options = pipeline.options
    default = "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
    conditions = {
        "success": None,
        "default_branch": f"success() && {default}",
        "always": "!cancelled() && steps.install.outcome == 'success'",
    }
    steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4"},
        {"uses": "astral-sh/setup-uv@v6"},
    ]
    for step in pipeline.steps:
        entry: dict[str, Any] = {"name": step.title, "id": step.key}
        if conditions[step.when]:
            entry["if"] = conditions[step.when]
        entry["run"] = _script(step)
        steps.append(entry)
    steps.append(
        {
            "name": "Keep the report, the executed notebook and the gates' reports",
            "if": "!cancelled()",
            "uses": "actions/upload-artifact@v4",
            "with": {"name": "nblift-report", "path": pipeline.artifacts, "if-no-files-found": "warn"},
        }
    )
    job: dict[str, Any] = {"runs-on": "ubuntu-latest", "timeout-minutes": 120, "env": dict(_ENV)}
    if options.subdir:
        job["defaults"] = {"run": {"working-directory": options.subdir}}
    job["steps"] = steps
    workflow = {
        "name": "nblift",
        "on": {
            "push": {"branches": [options.branch]},
            "pull_request": None,
            "workflow_dispatch": None,
        },
        "permissions": {"contents": "read"},
        "concurrency": {"group": "nblift-${{ github.ref }}", "cancel-in-progress": True},
        "jobs": {"nblift": job},
    }
    text = (
        yaml_text(workflow)
        .replace("pull_request: null", "pull_request:")
        .replace("workflow_dispatch: null", "workflow_dispatch:")
    )
    return _comment(pipeline, "#") + text


def gitlab(pipeline: Pipeline) -> str:
    """One job in the image uv publishes: `script` runs the steps (the promotion, on the default branch, is
    skipped by `nblift ci promote --only-default-branch` elsewhere), `after_script` writes the report after a
    failure too, and the report folder is a job artifact shown in merge requests."""
    options = pipeline.options
    cd = [f"cd {options.subdir}"] if options.subdir else []
    script: list[str] = []
    after: list[str] = []
    for step in pipeline.steps:
        lines = step.lines
        if step.when == "default_branch":
            lines = [line + " --only-default-branch" for line in lines]
        (after if step.when == "always" else script).extend(lines)
    job: dict[str, Any] = {
        "stage": "test",
        "image": f"ghcr.io/astral-sh/uv:python{_minor(pipeline.python)}-bookworm-slim",
        "variables": {"UV_CACHE_DIR": "$CI_PROJECT_DIR/.uv-cache", "UV_LINK_MODE": "copy"},
        "cache": {"key": "nblift-uv", "paths": [".uv-cache"]},
        "timeout": "2h",
        "script": cd + script,
        "after_script": cd + after,
        "artifacts": {
            "when": "always",
            "expose_as": "nblift report",
            "paths": [f"{pipeline.artifacts}/"],
            "reports": {"metrics": f"{pipeline.artifacts}/metrics.txt"},
            "expire_in": "30 days",
        },
        "rules": [
            {"if": "$CI_PIPELINE_SOURCE == 'merge_request_event'"},
            {"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"},
        ],
    }
    config = {"stages": ["test"], "variables": dict(_ENV), "nblift": job}
    return _comment(pipeline, "#") + yaml_text(config)


def _minor(python: str) -> str:
    return ".".join(python.split(".")[:2])


def _groovy(text: str) -> str:
    """A single-quoted Groovy string (no interpolation: the shell sees the command as written)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def jenkins(pipeline: Pipeline) -> str:
    """A declarative pipeline: a stage per step, the promotion `when { branch ... }`, the report in
    `post { always }` with the report folder archived."""
    options = pipeline.options
    out: list[str] = [_comment(pipeline, "//").rstrip("\n"), "pipeline {", "    agent any"]
    out += ["    options {", "        timeout(time: 2, unit: 'HOURS')", "    }"]
    out += ["    environment {"]
    out += [f"        {key} = {_groovy(value)}" for key, value in _ENV.items()]
    out += ["    }", "    stages {"]
    always: list[Step] = []
    for step in pipeline.steps:
        if step.when == "always":
            always.append(step)
            continue
        out.append(f"        stage({_groovy(step.title)}) {{")
        if step.when == "default_branch":
            out += [
                "            when {",
                f"                branch {_groovy(options.branch)}",
                "            }",
            ]
        out.append("            steps {")
        out += _sh_lines(step.lines, options.subdir, "                ")
        out += ["            }", "        }"]
    out += ["    }", "    post {", "        always {"]
    for step in always:
        out += _sh_lines(step.lines, options.subdir, "            ")
    archive = _groovy(pipeline.artifacts + "/**")
    out.append(f"            archiveArtifacts artifacts: {archive}, allowEmptyArchive: true")
    out += ["        }", "    }", "}"]
    return "\n".join(out) + "\n"


def _sh_lines(lines: list[str], subdir: str, indent: str) -> list[str]:
    if not subdir:
        return [f"{indent}sh {_groovy(line)}" for line in lines]
    inner = [f"{indent}    sh {_groovy(line)}" for line in lines]
    return [f"{indent}dir({_groovy(subdir)}) {{", *inner, f"{indent}}}"]


WRITERS = {"github": github, "gitlab": gitlab, "jenkins": jenkins}


def render(pipeline: Pipeline) -> str:
    return WRITERS[pipeline.options.system](pipeline)


__all__ = ["OUT_DIR", "WRITERS", "github", "gitlab", "jenkins", "render"]
