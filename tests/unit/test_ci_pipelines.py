"""`nblift ci init`: the GitHub and GitLab pipelines validate against the published schemas (tests/data/
ci_schemas, with their source and date), the Jenkinsfile is declarative and runs the same commands, and bad
input is refused with what to do."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from nblift import __version__
from nblift.cli import main
from nblift.errors import InvalidInput, NotFound
from nblift.project import Project

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "ci-project"
SCHEMAS = REPO / "tests" / "data" / "ci_schemas"


@pytest.fixture
def project(tmp_path) -> Path:
    copy = tmp_path / "repo" / "ml" / "churn"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns(".nblift", ".venv", "nblift-ci"))
    (tmp_path / "repo" / ".git").mkdir()  # the checkout's root: pipelines go there, steps run in ml/churn
    return copy


def _init(project: Path, *args: str) -> dict:
    out = main(["-C", str(project), "--json", "ci", "init", *args])
    assert out == 0
    return json.loads(_init.capsys.readouterr().out)  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _capsys(capsys):
    _init.capsys = capsys  # type: ignore[attr-defined]


def _validator(name: str) -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    return jsonschema.Draft7Validator(schema)


def _errors(validator: jsonschema.Draft7Validator, document: object) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def _jenkins_commands(text: str) -> list[str]:
    """The shell commands of a Jenkinsfile's `sh '...'` steps, unescaped, in order."""
    found = re.findall(r"^\s*sh '((?:[^'\\]|\\.)*)'$", text, flags=re.MULTILINE)
    return [re.sub(r"\\(.)", r"\1", command) for command in found]


def _braces_balance(text: str) -> bool:
    depth = 0
    for char in re.sub(r"'(?:[^'\\]|\\.)*'", "''", re.sub(r"//[^\n]*", "", text)):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def test_three_systems_same_steps_valid_against_published_schemas(project):
    root = project.parents[1]
    github = _init(project, "--github", "--drift", "data/train.csv", "data/current.csv")
    gitlab = _init(project, "--gitlab", "--drift", "data/train.csv", "data/current.csv")
    jenkins = _init(project, "--jenkins", "--drift", "data/train.csv", "data/current.csv")
    assert github["path"] == str(root / ".github" / "workflows" / "nblift.yml")
    assert gitlab["path"] == str(root / ".gitlab-ci.yml") and jenkins["path"] == str(root / "Jenkinsfile")

    workflow = yaml.safe_load((root / ".github/workflows/nblift.yml").read_text())
    assert _errors(_validator("github-workflow.json"), workflow) == []
    config = yaml.safe_load((root / ".gitlab-ci.yml").read_text())
    assert _errors(_validator("gitlab-ci.json"), config) == []
    # The schemas do refuse what the systems would refuse (so a pass above means something).
    broken = json.loads(json.dumps(workflow))
    del broken["jobs"]["nblift"]["runs-on"]
    broken["jobs"]["nblift"]["steps"][2]["uses"] = "actions/checkout@v4"  # run and uses in one step
    assert len(_errors(_validator("github-workflow.json"), broken)) >= 1
    broken = json.loads(json.dumps(config))
    broken["nblift"]["artifacts"]["when"] = "sometimes"
    broken["nblift"]["scripts"] = broken["nblift"].pop("script")
    assert len(_errors(_validator("gitlab-ci.json"), broken)) >= 1

    # The steps: the locked install with uv, the notebook with the ci parameter set, drift, the gates, the
    # promotion on the default branch only, and the report after a failure too.
    job = workflow["jobs"]["nblift"]
    assert job["defaults"]["run"]["working-directory"] == "ml/churn"
    steps = {s["id"]: s for s in job["steps"] if "id" in s}
    assert list(steps) == ["install", "run", "drift", "check", "promote", "report"]
    assert steps["install"]["run"].splitlines() == [
        "uv venv --clear .venv --python 3.11.7",
        "uv pip install --python .venv --require-hashes -r requirements.txt",
        f"uv pip install --python .venv 'nblift[gates]=={__version__}'",  # the policy has quality gates
    ]
    assert steps["run"]["run"] == ".venv/bin/nblift run train.ipynb -p ci=true --wait"
    assert steps["check"]["run"] == (
        ".venv/bin/nblift check churn@champion --report nblift-ci/gates.md --report-dir nblift-ci"
    )
    assert "default_branch" in steps["promote"]["if"] and "success()" in steps["promote"]["if"]
    assert "!cancelled()" in steps["report"]["if"] and "if" not in steps["check"]
    upload = job["steps"][-1]
    assert (
        upload["uses"].startswith("actions/upload-artifact")
        and upload["with"]["path"] == "ml/churn/nblift-ci"
    )
    github_commands = [line for s in steps.values() for line in s["run"].splitlines()]

    # GitLab: the same commands; the promotion skips itself off the default branch, the report runs after.
    job = config["nblift"]
    assert job["script"][0] == "cd ml/churn" and job["after_script"][0] == "cd ml/churn"
    gitlab_commands = [
        c.removesuffix(" --only-default-branch") for c in job["script"][1:] + job["after_script"][1:]
    ]
    assert gitlab_commands == github_commands
    assert job["script"][-1].endswith("ci promote churn --to champion --only-default-branch")
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["paths"] == ["ml/churn/nblift-ci/"]

    # Jenkins: declarative, a stage per step, the promotion only on the branch, the report in post/always.
    text = (root / "Jenkinsfile").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("//"))
    assert body.startswith("pipeline {\n    agent any") and _braces_balance(text)
    assert re.search(r"^    stages \{$", body, re.MULTILINE) and re.search(
        r"^    post \{$", body, re.MULTILINE
    )
    assert _jenkins_commands(text) == github_commands
    promote_stage = text[text.index("stage('Register the candidate") :]
    assert promote_stage.index("branch 'main'") < promote_stage.index("ci promote")
    post = text[text.index("    post {") :]
    assert "ci report churn" in post and "archiveArtifacts artifacts: 'ml/churn/nblift-ci/**'" in post


def test_target_parameters_and_quoting(project):
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text() + '\n[tool.nblift.ssh_hosts.gpu1]\nhost = "gpu.internal"\nuser = "ml"\n'
    )
    shown = _init(
        project,
        "--github",
        "--target",
        "ssh:gpu1",
        "-p",
        "epochs=2",
        "-p",
        "note=it's small",
        "--timeout",
        "30m",
        "--nblift",
        "nblift[ssh]==1.2",
    )
    run = next(s for s in shown["pipeline"]["steps"] if s["key"] == "run")["commands"][0]
    assert run == (
        ".venv/bin/nblift run train.ipynb -p epochs=2 -p 'note=it'\"'\"'s small' "
        "--backend ssh:gpu1 --timeout 30m --wait"
    )
    install = next(s for s in shown["pipeline"]["steps"] if s["key"] == "install")["commands"]
    assert install[-1] == "uv pip install --python .venv 'nblift[ssh]==1.2'"
    default = _init(project, "--gitlab", "--target", "ssh:gpu1", "--stdout")
    assert f"uv pip install --python .venv 'nblift[gates,ssh]=={__version__}'" in default["text"]
    # The Jenkinsfile keeps a quote inside a command intact.
    jenkins = _init(project, "--jenkins", "-p", "note=it's small", "--stdout")
    assert "'note=it'\"'\"'s small'" in _jenkins_commands(jenkins["text"])[3]


def test_bad_input_is_refused_with_what_to_do(project, capsys):
    def refused(*args: str) -> str:
        assert main(["-C", str(project), "ci", "init", *args]) == 2
        return capsys.readouterr().err

    assert "no ssh target named 'nope'" in refused("--github", "--target", "ssh:nope")
    assert "not a run target" in refused("--github", "--target", "k8s")
    assert "no notebook" in refused("--github", "--notebook", "missing.ipynb")
    assert "policy has no gates for 'staging'" in refused("--github", "--alias", "staging")
    assert "not a Python identifier" in refused("--gitlab", "-p", "bad-name=1")
    assert "not a duration" in refused("--jenkins", "--timeout", "soon")
    assert "no such data file" in refused("--github", "--drift", "data/train.csv", "../../etc/passwd")
    with pytest.raises(SystemExit):
        main(["-C", str(project), "ci", "init", "--github", "--gitlab"])
    capsys.readouterr()

    (project / "pylock.toml").unlink()
    assert "nblift pin" in refused("--github")

    # A pipeline file someone else wrote is never overwritten without --force.
    shutil.copy(EXAMPLE / "pylock.toml", project / "pylock.toml")
    mine = project.parents[1] / ".gitlab-ci.yml"
    mine.write_text("test:\n  script: [make]\n")
    assert "not written by `nblift ci init`" in refused("--gitlab")
    assert mine.read_text() == "test:\n  script: [make]\n"
    assert main(["-C", str(project), "ci", "init", "--gitlab", "--force"]) == 0
    assert "nblift ci promote" in mine.read_text()
    assert main(["-C", str(project), "ci", "init", "--gitlab"]) == 0  # its own file: rewritten


def test_model_is_read_from_the_notebook_or_asked_for(project):
    from nblift.ci.verbs import _model

    assert _model(Project.discover(project), "train.ipynb", None) == "churn"
    notebook = project / "other.ipynb"
    notebook.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(InvalidInput, match="--model NAME"):
        _model(Project.discover(project), "other.ipynb", None)
    with pytest.raises(InvalidInput, match="which notebook"):
        from nblift.ci.verbs import _notebook

        _notebook(Project.discover(project), None)


def test_no_lock_names_the_fix(tmp_path):
    from nblift.ci.pipeline import Options, build

    (tmp_path / "pyproject.toml").write_text('[tool.nblift.promotion.champion]\nmetrics = ["acc >= 0.5"]\n')
    (tmp_path / "train.ipynb").write_text("{}")
    with pytest.raises(NotFound, match="no environment lock") as err:
        build(Project.discover(tmp_path), Options("github", "train.ipynb", "m"))
    assert "nblift pin" in (err.value.hint or "")


def test_project_at_the_checkout_root_needs_no_folder_change(tmp_path):
    shutil.copytree(
        EXAMPLE, tmp_path / "churn", ignore=shutil.ignore_patterns(".nblift", ".venv", "nblift-ci")
    )
    project = tmp_path / "churn"
    (project / ".git").mkdir()
    gitlab = yaml.safe_load(_init(project, "--gitlab", "--stdout")["text"].split("\n", 2)[2])
    assert gitlab["nblift"]["script"][0].startswith("uv venv") and gitlab["nblift"]["artifacts"]["paths"] == [
        "nblift-ci/"
    ]
    github = yaml.safe_load(_init(project, "--github", "--stdout")["text"])
    assert "defaults" not in github["jobs"]["nblift"]
    assert "dir(" not in _init(project, "--jenkins", "--stdout")["text"]
    assert not (project / ".gitlab-ci.yml").exists()  # --stdout writes nothing
