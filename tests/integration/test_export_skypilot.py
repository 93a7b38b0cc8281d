"""`nblift export skypilot`: the folder it writes loads with SkyPilot's own parser, and its setup and run
steps, executed as SkyPilot executes them (bash in the folder, a fresh home), run the bundle to the end.

SkyPilot pins older click and uvicorn than nblift's test environment, so its parser runs in a virtual
environment of its own (`.venv/skypilot`, made once by uv from the package registry). The task names no cloud:
with a cloud or an instance type, SkyPilot's parser checks them against its online catalog, which this
machine cannot reach. The task's environment is built offline from the uv cache, as the SSH tests' hosts do
(the test host has no package index of its own).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from run_helpers import wait_done, write_notebook
from tests.env_helpers import uv

from nblift.errors import InvalidInput, NotFound
from nblift.export.skypilot import Resources, export_skypilot
from nblift.project import Project
from nblift.runs import service
from nblift.runs.records import record_dir

ROOT = Path(__file__).resolve().parents[2]
SKYPILOT = "skypilot==0.14.1"
TRAIN = (
    "import nblift\nfor i in range(epochs):\n    nblift.log(step=i, loss=1.0 / (i + 1))\n"
    "print('epochs is', epochs)"
)


@pytest.fixture(scope="module")
def sky_python() -> Path:
    """The python of a virtual environment with SkyPilot (made once, reused by later test runs)."""
    venv = ROOT / ".venv" / "skypilot"
    python = venv / "bin" / "python"
    tool = uv()
    assert tool, "uv is part of the test setup: run ./dev test"
    if not (venv / "ready").is_file():
        subprocess.run([tool, "venv", "-q", "--allow-existing", "-p", sys.executable, str(venv)], check=True)
        subprocess.run([tool, "pip", "install", "-q", "-p", str(python), SKYPILOT], check=True)
        (venv / "ready").write_text(SKYPILOT)
    return python


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "0"\n')
    write_notebook(tmp_path / "train.ipynb", TRAIN, parameters="epochs = 1")
    return Project.discover(tmp_path)


def parse_with_skypilot(python: Path, folder: Path) -> dict:
    script = (
        "import json, sky\n"
        "task = sky.Task.from_yaml('task.yaml')\n"
        "(res,) = task.resources\n"
        "print(json.dumps({'name': task.name, 'workdir': task.workdir, 'setup': task.setup,\n"
        "  'run': task.run,\n"
        "  'accelerators': res.accelerators, 'spot': res.use_spot, 'envs': task.envs,\n"
        "  'mounts': {k: v.source for k, v in task.storage_mounts.items()}}))\n"
    )
    done = subprocess.run(
        [str(python), "-c", script], cwd=folder, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_task_loads_with_skypilot_s_parser(project, tmp_path, sky_python):
    out = tmp_path / "task"
    done = export_skypilot(
        project,
        "train.ipynb",
        out,
        parameters={"epochs": 3},
        resources=Resources(accelerators="A100:2", spot=True),
        results="s3://team-bucket/runs/",
        budget=4.0,
        hourly_cost=2.0,
    )
    task = parse_with_skypilot(sky_python, out)
    assert task["name"] == "nblift-train" and task["workdir"] == "."
    assert task["accelerators"] == {"A100": 2} and task["spot"] is True
    assert task["mounts"] == {"/nblift-results": "s3://team-bucket/runs"}
    assert "agent.py build run/launch.json" in task["setup"] and "agent.py launch run" in task["run"]
    assert f"/nblift-results/{done.run_id}" in task["run"]
    spec = json.loads((out / "run" / "request.json").read_text())
    assert spec["parameters"] == {"epochs": 3} and spec["backend"] == "skypilot"
    assert spec["cost"]["budget"] == 4.0 and spec["cost"]["hourly"] == 2.0  # the runner's budget stop
    assert "$2.00/h" in done.estimate
    # the bundle's objects travel in the folder, by content
    for oid in (spec["bundle"],):
        assert (out / "store" / "objects" / oid[:2] / oid[2:]).is_file()


def run_like_skypilot(folder: Path, home: Path) -> None:
    """SkyPilot runs `setup`, then `run`, with bash in the synced workdir and the task's `envs`."""
    plan = json.loads((folder / "run" / "launch.json").read_text())
    (folder / "run" / "launch.json").write_text(json.dumps({**plan, "offline": True}))
    tool = uv()
    assert tool
    cache = subprocess.run([tool, "cache", "dir"], capture_output=True, text=True, check=True).stdout.strip()
    task = yaml.safe_load((folder / "task.yaml").read_text())
    env = {
        "PATH": f"{Path(tool).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "UV_CACHE_DIR": cache,
        **task["envs"],
    }
    for step in ("setup", "run"):
        done = subprocess.run(
            ["bash", "-c", task[step]], cwd=folder, env=env, capture_output=True, text=True, timeout=600
        )
        log = folder / "run" / "runner.log"
        assert done.returncode == 0, (
            step,
            done.stderr[-2000:],
            log.read_text()[-3000:] if log.exists() else "",
        )


def test_the_exported_folder_runs_the_bundle_and_an_earlier_run_exports_the_same(project, tmp_path):
    earlier = service.launch(project, project.root / "train.ipynb", {"epochs": 2}, backend="local")
    assert wait_done(project, earlier.id).state == "SUCCEEDED"
    out = tmp_path / "again"
    done = export_skypilot(project, earlier.id[:6], out, parameters={"epochs": 4})
    spec = json.loads((out / "run" / "request.json").read_text())
    first = json.loads((record_dir(project.state_dir, earlier.id) / "request.json").read_text())
    assert spec["bundle"] == first["bundle"] and spec["id"] == done.run_id != earlier.id
    assert spec["tags"]["nblift.exported_from"] == earlier.id and spec["parameters"] == {"epochs": 4}

    home = tmp_path / "cluster-home"
    home.mkdir()
    run_like_skypilot(out, home)
    state = json.loads((out / "run" / "state.json").read_text())
    assert state["state"] == "SUCCEEDED", state
    executed = next((out / "run").rglob("train.ipynb"))
    assert "epochs is 4" in executed.read_text()
    assert any((home / ".nblift" / "envs").iterdir())  # the environment lives outside the synced folder


def test_bad_input_says_what_to_do(project, tmp_path):
    with pytest.raises(InvalidInput, match="--gpus 'A100:two'"):
        export_skypilot(project, "train.ipynb", tmp_path / "x", resources=Resources(accelerators="A100:two"))
    with pytest.raises(InvalidInput, match="not a bucket"):
        export_skypilot(project, "train.ipynb", tmp_path / "x", results="/tmp/results")
    with pytest.raises(InvalidInput, match=r"no notebook missing\.ipynb"):
        export_skypilot(project, "missing.ipynb", tmp_path / "x")
    with pytest.raises(NotFound):
        export_skypilot(project, "abcdef123456", tmp_path / "x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(InvalidInput, match="is not empty"):
        export_skypilot(project, "train.ipynb", tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    with pytest.raises(Exception, match="a budget needs a price"):
        export_skypilot(project, "train.ipynb", tmp_path / "y", budget=3.0)
