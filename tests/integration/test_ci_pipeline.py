"""The pipeline `nblift ci init --github` writes for the example project (examples/ci-project) runs: its
steps, in order, in a clean shell, on a temporary copy of the project, as a GitHub Actions job would on a
push to main and then on a pull request whose data drifted.

What is real: every `run:` step of the generated workflow is executed as written by bash, with the
environment stripped to PATH and HOME (plus the variables GitHub Actions itself sets for a push to main and
the job summary file). uv makes a fresh virtual environment, installs the committed hashed lock into it and
then nblift; the notebook runs through `nblift run` in a fresh kernel of that environment and registers its
model in the project's own embedded MLflow store; `nblift check` runs the policy's gates; `nblift ci promote`
points `candidate` and then `champion` at the version; `nblift ci report` writes the job summary.

What differs from a hosted runner, and why: the `uses:` steps (checkout, setup-uv, upload-artifact) are
GitHub's own actions: the copy stands in for the checkout and uv is already on PATH. uv installs with
`UV_OFFLINE=1` from this machine's uv cache when the cache holds every wheel of the lock (the same wheels,
hashes checked; the test environment itself was installed with uv, so it does), else from the index; and
nblift is installed from this source tree (`ci init --nblift "-e <tree>[gates]"`) because the version under
test is not published. Both keep the test near a minute on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from nblift import tracking
from nblift.cli import main
from nblift.commands import VERBS
from nblift.project import Project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "ci-project"


def _cache_has_the_lock(project: Path, tmp: Path) -> bool:
    """Whether uv's cache holds every wheel of the project's lock (an offline dry run into a scratch venv)."""
    probe = tmp / "probe-venv"
    made = subprocess.run(["uv", "venv", "-q", str(probe)], capture_output=True, timeout=60)
    dry = subprocess.run(
        [
            "uv",
            "pip",
            "install",
            "--dry-run",
            "--offline",
            "--python",
            str(probe),
            "--require-hashes",
            "-r",
            str(project / "requirements.txt"),
        ],
        capture_output=True,
        timeout=60,
    )
    shutil.rmtree(probe, ignore_errors=True)
    return made.returncode == 0 and dry.returncode == 0


def _clean_env(tmp: Path, summary: Path, event: str, offline: bool) -> dict[str, str]:
    """PATH and HOME, and what GitHub Actions sets for a push to main or a pull request."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp)),
        **({"UV_OFFLINE": "1"} if offline else {}),
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_REF": "refs/heads/main" if event == "push" else "refs/pull/7/merge",
        "GITHUB_REF_NAME": "main" if event == "push" else "7/merge",
        "GITHUB_REF_TYPE": "branch",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": "team/churn",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_WORKSPACE": str(tmp / "repo"),
        "GITHUB_STEP_SUMMARY": str(summary),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }


def _should_run(condition: str | None, failed: bool, on_main: bool) -> bool:
    """GitHub's step conditions as the workflow uses them: no `if` (or `success()`) runs only when every
    earlier step passed; the default-branch test is true on main; `!cancelled()` runs after a failure too."""
    if condition is None:
        return not failed
    if "default_branch" in condition:
        assert condition.startswith("success() && ")
        return not failed and on_main
    assert condition.startswith("!cancelled()")
    return True


def _run_job(
    job: dict, workdir: Path, env: dict[str, str], on_main: bool
) -> list[tuple[str, int | None, float]]:
    """Every `run:` step of the job, in order, by bash in a clean environment; (id, exit status or None when
    its condition skipped it, seconds)."""
    ran: list[tuple[str, int | None, float]] = []
    failed = False
    for step in job["steps"]:
        if "run" not in step:
            assert step["uses"].split("@")[0] in (
                "actions/checkout",
                "astral-sh/setup-uv",
                "actions/upload-artifact",
            )
            continue
        if step["id"] == "check" and "check" not in VERBS:
            pytest.fail("`nblift check` is not a verb: the pipeline's gate step cannot run")
        if not _should_run(step.get("if"), failed, on_main):
            ran.append((step["id"], None, 0.0))
            continue
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        ran.append((step["id"], done.returncode, round(time.monotonic() - started, 1)))
        if done.returncode != 0:
            failed = True
            print(
                f"step {step['id']} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
    return ran


def test_generated_github_steps_run_in_order_on_the_example_project(tmp_path, capsys, monkeypatch):
    checkout = tmp_path / "repo"
    project = checkout / "churn"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".nblift", ".venv", "nblift-ci"))
    (checkout / ".git").mkdir()
    assert main(["-C", str(project), "ci", "init", "--github", "--nblift", f"-e {REPO}[gates]"]) == 0
    capsys.readouterr()
    workflow = yaml.safe_load((checkout / ".github" / "workflows" / "nblift.yml").read_text())
    job = workflow["jobs"]["nblift"]
    workdir = checkout / job["defaults"]["run"]["working-directory"]
    assert workdir == project

    # A push to main: every step runs and passes; the candidate becomes the champion.
    summary = tmp_path / "summary.md"
    offline = _cache_has_the_lock(project, tmp_path)
    ran = _run_job(job, workdir, _clean_env(tmp_path, summary, "push", offline), on_main=True)
    with capsys.disabled():
        print("\npush to main (step, exit, seconds):", ran)
    assert [(r[0], r[1]) for r in ran] == [
        ("install", 0),
        ("run", 0),
        ("check", 0),
        ("promote", 0),
        ("report", 0),
    ]

    # The environment is the lock's: the notebook ran with the locked scikit-learn in the new venv.
    venv_python = project / ".venv" / "bin" / "python"
    version = subprocess.run(
        [str(venv_python), "-c", "import sklearn; print(sklearn.__version__)"], capture_output=True, text=True
    )
    assert version.stdout.strip() == "1.9.1"

    # The run registered version 1; on main it became the candidate, then the champion (no holder to beat).
    client = tracking.client(Project.discover(project, environ={}))
    assert str(client.get_model_version_by_alias("churn", "candidate").version) == "1"
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
    promotion = json.loads((project / "nblift-ci" / "promotion.json").read_text())
    assert promotion["state"] == "promoted" and promotion["version"] == "1"

    # The report: in the job summary and the artifact folder, with the metrics, every gate and the links.
    report = (project / "nblift-ci" / "report.md").read_text()
    assert summary.read_text() == report
    assert "candidate churn version 1" in report and "version 1, this candidate (before: none)" in report
    assert "| accuracy | 0.7" in report
    for kind in ("metric", "data", "behaviour", "drift"):
        assert re.search(rf"^\| passed \| {kind} \|", report, re.MULTILINE), kind
    assert "churn version 1 is now champion." in report
    artifacts = "(https://github.example/team/churn/actions/runs/4242#artifacts)"
    assert f"[churn/nblift-ci/run/train.ipynb]{artifacts}" in report
    assert f"[churn/nblift-ci/drift-churn-v1-champion.html]{artifacts}" in report
    assert "<svg" in (project / "nblift-ci" / "drift-churn-v1-champion.html").read_text()
    executed = json.loads((project / "nblift-ci" / "run" / "train.ipynb").read_text())
    assert any("ci = True" in "".join(c.get("source", "")) for c in executed["cells"])  # the ci parameter set
    assert (project / "nblift-ci" / "metrics.txt").read_text().startswith("accuracy 0.7")

    # A pull request whose evaluation data drifted: the check fails, promotion is not asked for, and the
    # report still comes, comparing the new candidate with the champion and naming the drifted column.
    current = project / "data" / "current.csv"
    lines = current.read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("monthly_charges")
    shifted = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[col] = f"{float(cells[col]) + 40:.2f}"
        shifted.append(",".join(cells))
    current.write_text("\n".join(shifted) + "\n")
    summary = tmp_path / "summary-pr.md"
    ran = _run_job(job, workdir, _clean_env(tmp_path, summary, "pull_request", offline), on_main=False)
    with capsys.disabled():
        print("\npull request (step, exit, seconds):", ran)
    assert [(r[0], r[1]) for r in ran] == [
        ("install", 0),
        ("run", 0),
        ("check", 1),
        ("promote", None),
        ("report", 0),
    ]
    report = summary.read_text()
    assert "candidate churn version 2" in report and "| champion now | version 1 |" in report
    assert re.search(r"^\| FAILED \| drift \|.*monthly_charges", report, re.MULTILINE | re.IGNORECASE), report
    assert "### Promotion" not in report  # the push's promotion record is not this run's
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"

    # Asked for anyway, the promotion of the drifted candidate is blocked, naming the gate (exit 1).
    capsys.readouterr()
    monkeypatch.chdir(project)  # as the pipeline runs its steps: `ci promote` records its outcome here
    assert main(["-C", str(project), "--json", "ci", "promote", "churn", "--to", "champion"]) == 1
    blocked = json.loads(capsys.readouterr().out)
    assert blocked["state"] == "blocked" and blocked["version"] == "2" and "drift" in blocked["summary"]

    # With the data fixed and a policy that needs an approval, the candidate passes every gate but that one:
    # the step succeeds, the version is the candidate, and the champion waits for a person.
    shutil.copy(EXAMPLE / "data" / "current.csv", current)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "[tool.nblift.promotion.champion]\n", "[tool.nblift.promotion.champion]\napprovals = 1\n"
        )
    )
    assert main(["-C", str(project), "check", "churn@champion", "--version", "2"]) == 0
    capsys.readouterr()
    assert main(["-C", str(project), "--json", "ci", "promote", "churn", "--to", "champion"]) == 0
    waiting = json.loads(capsys.readouterr().out)
    assert (
        waiting["state"] == "awaiting_approval"
        and "nblift approve churn 2 --for champion" in waiting["summary"]
    )
    assert str(client.get_model_version_by_alias("churn", "candidate").version) == "2"
    assert str(client.get_model_version_by_alias("churn", "champion").version) == "1"
