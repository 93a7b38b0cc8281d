"""`%lift preflight`: a missing package, a package the lock lacks, an unshipped local module, a file outside
the project, a CUDA build the driver cannot run, uncommitted changes and a secret in an output."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import pytest

from env_helpers import clean_env
from nblift.commands import Context
from nblift.environment import verbs
from nblift.environment.notebook import find_notebook, imported_distributions, notebook_use
from nblift.environment.preflight import preflight
from nblift.environment.render import preflight_html, preflight_text
from nblift.errors import InvalidInput
from nblift.project import Project

GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def notebook(path: Path, cells: list[tuple[str, list[dict] | None]]) -> Path:
    doc = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "cell_type": "code",
                "source": src,
                "outputs": outs or [],
                "metadata": {},
                "execution_count": None,
            }
            if outs is not None or not src.startswith("#md")
            else {"cell_type": "markdown", "source": src, "metadata": {}}
            for src, outs in cells
        ],
    }
    path.write_text(json.dumps(doc))
    return path


def lock(root: Path, packages: dict[str, str], tool: str = "") -> Path:
    body = 'lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.11"\n'
    for name, version in packages.items():
        body += f'\n[[packages]]\nname = "{name}"\nversion = "{version}"\n'
    body += '\n[tool.nblift]\nplatform = "linux-x86_64"\npython = "3.11"\n' + tool
    path = root / "pylock.toml"
    path.write_text(body)
    return path


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "localmod.py").write_text("X = 1\n")
    (root / "data").mkdir()
    (root / "data" / "in.csv").write_text("a,b\n1,2\n")
    outside = tmp_path / "outside"
    (outside / "libs").mkdir(parents=True)
    (outside / "libs" / "helperlib.py").write_text("Y = 2\n")
    (outside / "big.csv").write_text("x\n")
    return root, outside


def _findings(result, check):
    return [f for f in result.findings if f.check == check]


def test_preflight_catches_each_problem_and_names_the_cell(project):
    root, outside = project
    notebook(
        root / "train.ipynb",
        [
            ("%matplotlib inline\nimport json, os\nimport six\nimport localmod", None),
            ("import definitely_missing_pkg_xyz", None),
            (f"import sys\nsys.path.insert(0, {str(outside / 'libs')!r})\nimport helperlib", None),
            (
                "import pandas as pd\ndf = pd.read_csv('data/in.csv')\n"
                f"raw = open({str(outside / 'big.csv')!r}).read()\nfrom packaging import version",
                None,
            ),
            ("print(token)", [{"output_type": "stream", "name": "stdout", "text": [f"{GITHUB_TOKEN}\n"]}]),
            ("#md not code", None),
        ],
    )
    lock(root, {"six": "1.17.0", "pandas": "3.1.1", "numpy": "2.4.6"})
    result = preflight(Project.discover(root), backend="ssh")
    assert result.failed
    errors = {(f.check, f.cell) for f in result.findings if f.severity == "error"}
    assert ("imports", 1) in errors  # the missing package
    missing = next(f for f in _findings(result, "imports") if f.cell == 1)
    assert "definitely_missing_pkg_xyz" in missing.message and "pip install" in missing.hint
    lacks = next(f for f in _findings(result, "imports") if f.cell == 3)
    assert "packaging" in lacks.message and "lock does not include" in lacks.message
    local = _findings(result, "local-modules")
    assert [(f.cell, f.severity) for f in local] == [(2, "error")]
    assert "helperlib" in local[0].message and str(outside) in local[0].message
    files = _findings(result, "files")
    assert [(f.cell, f.severity) for f in files] == [(3, "error")]
    assert "big.csv" in files[0].message  # data/in.csv is inside the project: no finding
    secrets = _findings(result, "secrets")
    assert [(f.cell, f.severity) for f in secrets] == [(4, "error")]
    assert GITHUB_TOKEN not in json.dumps(result.to_json())
    assert "GitHub token" in secrets[0].message
    # nothing about modules that resolve: stdlib, six (in the lock), the project's own localmod, pandas
    named = " ".join(f.message for f in result.findings)
    for fine in ("`json`", "`six`", "`localmod`", "`pandas`"):
        assert fine not in named
    assert _findings(result, "git")[0].severity == "info"  # not a repository


def test_preflight_passes_a_clean_notebook_and_flags_a_missing_lock(project):
    root, _ = project
    notebook(root / "ok.ipynb", [("import six\nimport localmod\nopen('data/in.csv')", [])])
    result = preflight(Project.discover(root), driver="550.54.15")
    assert [f.check for f in result.findings if f.severity == "error"] == ["lock"]
    lock(root, {"six": "1.17.0"})
    result = preflight(Project.discover(root), driver="550.54.15")
    assert not result.failed
    assert "ready to push" in preflight_text(result)


@pytest.mark.parametrize(
    ("driver", "severity"),
    [("470.57.02", "error"), ("535.104.05", "warning"), ("560.35.03", None), (None, "info")],
)
def test_locked_cuda_build_against_the_target_driver(project, driver, severity):
    root, _ = project
    notebook(root / "gpu.ipynb", [("import six", [])])
    lock(root, {"six": "1.17.0", "torch": "2.4.0+cu124"})
    result = preflight(Project.discover(root), backend="ssh", driver=driver)
    cuda = _findings(result, "cuda")
    assert [f.severity for f in cuda] == ([severity] if severity else [])
    if severity == "error":
        assert "12.4" in cuda[0].message and "525.60.13" in cuda[0].message and "550.54.14" in cuda[0].message


def test_uncommitted_changes_to_used_files_are_warned(project):
    root, _ = project
    nb = notebook(root / "nb.ipynb", [("import localmod\nopen('data/in.csv')", [])])
    lock(root, {})
    env = clean_env(
        GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e.x", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@e.x"
    )
    for cmd in (
        ["git", "init", "-q"],
        ["git", "add", "nb.ipynb", "localmod.py"],
        ["git", "commit", "-qm", "x"],
    ):
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
    (root / "localmod.py").write_text("X = 2\n")
    result = preflight(Project.discover(root), notebook=nb, driver="560.0")
    git = {f.message: f.severity for f in _findings(result, "git")}
    assert git == {"localmod.py: uncommitted changes": "warning", "data/in.csv: untracked": "warning"}
    assert not result.failed


def test_notebook_use_reads_ipython_syntax_and_dynamic_imports():
    cells = [
        {"cell_type": "code", "source": "!pip list\n%time import yaml\nx = np.load('w.npy')"},
        {"cell_type": "code", "source": "importlib.import_module('tomli.sub')\nread_parquet('s3://b/k')"},
        {"cell_type": "code", "source": "def broken(:"},
    ]
    use = notebook_use(cells)
    assert use.imports == {"yaml": 0, "tomli": 1}
    assert use.reads == {"w.npy": 0}


def test_imported_distributions_maps_import_names(project):
    root, _ = project
    nb = notebook(root / "m.ipynb", [("import yaml\nfrom dateutil import parser\nimport six", [])])
    assert {"pyyaml", "python-dateutil", "six"} <= set(imported_distributions(nb))


def test_which_notebook(project, monkeypatch):
    root, _ = project
    proj = Project.discover(root)
    with pytest.raises(InvalidInput, match="no notebooks"):
        find_notebook(proj, None, environ={})
    notebook(root / "a.ipynb", [])
    notebook(root / "b.ipynb", [])
    with pytest.raises(InvalidInput, match="2 notebooks"):
        find_notebook(proj, None, environ={})
    assert find_notebook(proj, None, environ={"JPY_SESSION_NAME": str(root / "b.ipynb")}).name == "b.ipynb"
    assert find_notebook(proj, "a.ipynb", environ={}).name == "a.ipynb"


def test_verb_and_rendering_escape_everything(project):
    root, outside = project
    weird = outside / "we<i>rd.csv"
    weird.write_text("x\n")
    notebook(root / "x.ipynb", [(f"open({str(weird)!r})", None)])
    parser = argparse.ArgumentParser()
    verbs.preflight_args(parser)
    args = parser.parse_args(["--notebook", str(root / "x.ipynb"), "--backend", "ssh"])
    result = verbs.preflight(Context(str(root)), args)
    assert result.failed
    html = preflight_html(result)
    assert "<i>" not in html and "we&lt;i&gt;rd.csv" in html
    assert "BLOCKED" in preflight_text(result)
    assert json.loads(json.dumps(result.to_json()))["counts"]["error"] == 2  # the file and the missing lock


def _facts(**changes):
    from nblift.backends.base import HostFacts

    base = {
        "python_command": "python3",
        "python": "3.11.2",
        "uv_command": "uv",
        "uv": "uv 0.9.0",
        "uv_elsewhere": None,
        "disk_free": 100 << 30,
        "driver": None,
    }
    return HostFacts(**{**base, **changes})


def test_host_findings_say_what_to_change():
    from nblift.environment.host_check import host_findings
    from nblift.environment.lock import LockInfo

    lock = LockInfo("pylock.toml", "linux-x86_64", "3.11", None, {}, (), (), requires_python=">=3.11.5")
    (old,) = host_findings(_facts(), lock, "ssh:gpu1")
    assert old.severity == "error" and "needs Python >=3.11.5" in old.message and "3.11.2" in old.message
    assert "nblift pin --python 3.11.2" in old.hint and "[tool.nblift.ssh_hosts.gpu1]" in old.hint
    assert host_findings(_facts(python="3.11.9"), lock, "ssh:gpu1") == []
    assert host_findings(_facts(python="3.11.9"), None, "ssh:gpu1") == []  # no lock yet: nothing to compare

    (uv,) = host_findings(_facts(uv=None, uv_elsewhere="/home/u/.local/bin/uv"), None, "ssh:gpu1")
    assert (
        "not on the PATH" in uv.message
        and uv.hint == 'set uv = "/home/u/.local/bin/uv" in [tool.nblift.ssh_hosts.gpu1]'
    )

    (low,) = host_findings(_facts(disk_free=3 << 30), None, "ssh:gpu1")
    (none,) = host_findings(_facts(disk_free=200 << 20), None, "ssh:gpu1")
    assert (low.severity, none.severity) == ("warning", "error") and "0.2 GiB free" in none.message

    reach = {"https://a.example/simple/": "ok", "https://b.example/simple/": "URLError: timed out"}
    (index,) = host_findings(_facts(indexes=reach), None, "ssh:gpu1")
    assert "cannot reach the package index https://b.example/simple/" in index.message
    assert "(URLError: timed out)" in index.message and "offline = true" in index.hint
