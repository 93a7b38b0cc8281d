"""`%lift env diff`: drift between the kernel, a lock and a snapshot's environment, each with a severity."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

from nblift.commands import Context
from nblift.environment import verbs
from nblift.environment.capture import capture
from nblift.environment.diff import EnvView, diff_views, env_diff, kernel_view, resolve_view, version_change
from nblift.environment.render import diff_html, diff_text, env_json
from nblift.errors import InvalidInput
from nblift.project import Project


def view(label="a", python="3.11.7", platform="linux-x86_64", cuda=None, driver=None, **packages):
    return EnvView(
        label, python, platform, cuda, driver, {k.replace("_", "-"): v for k, v in packages.items()}
    )


def by_name(diff):
    return {c.name: c for c in diff.changes}


def write_lock(root: Path, packages: dict[str, str], python="3.11.7", cuda=None) -> None:
    body = 'lock-version = "1.0"\ncreated-by = "uv"\n'
    for name, version in packages.items():
        body += f'\n[[packages]]\nname = "{name}"\nversion = "{version}"\n'
    body += f'\n[tool.nblift]\nplatform = "linux-x86_64"\npython = "{python}"\n'
    if cuda:
        body += f'cuda = "{cuda}"\n'
    (root / "pylock.toml").write_text(body)


@pytest.mark.parametrize(
    ("a", "b", "severity", "what"),
    [
        ("1.2.3", "2.0.0", "warning", "major upgrade"),
        ("1.2.3", "1.3.0", "warning", "minor upgrade"),
        ("1.2.3", "1.2.4", "info", "patch upgrade"),
        ("1.2.4", "1.2.3", "info", "patch downgrade"),
        ("2.4.0+cu121", "2.4.0+cu124", "warning", "other build (+cu121 -> +cu124)"),
        ("1.0", "1.0.post1", "info", "pre/post/dev release changed"),
        ("weird", "1.0", "warning", "version changed"),
    ],
)
def test_version_change_levels(a, b, severity, what):
    assert version_change(a, b) == (severity, what)


def test_package_drift_with_severities():
    a = view("kernel", numpy="1.26.4", pandas="2.2.1", six="1.16.0", scipy="1.13.0", tqdm="4.66.0")
    b = view("lock", numpy="2.0.0", pandas="2.2.2", six="1.16.0", polars="1.0.0", tqdm="4.67.0")
    d = diff_views(a, b, imported=["scipy"])
    c = by_name(d)
    assert (c["numpy"].severity, c["numpy"].kind) == ("warning", "changed")
    assert (c["pandas"].severity, c["tqdm"].severity) == ("info", "warning")
    assert (c["scipy"].severity, c["scipy"].kind) == ("error", "removed")
    assert "the notebook imports it" in c["scipy"].message
    assert (c["polars"].severity, c["polars"].kind) == ("info", "added")
    assert d.unchanged == 1 and d.failed
    assert [x.severity for x in d.changes] == sorted(
        (x.severity for x in d.changes), key=["error", "warning", "info"].index
    )
    assert not diff_views(a, b, imported=[]).failed  # scipy is only a warning when nothing imports it


@pytest.mark.parametrize(
    ("a", "b", "severity"),
    [
        (dict(cuda="11.8"), dict(cuda="12.4"), "error"),
        (dict(cuda="12.1"), dict(cuda="12.4"), "warning"),
        (dict(cuda=None), dict(cuda="12.4"), "info"),
        (dict(python="3.11.7"), dict(python="3.12.1"), "warning"),
        (dict(python="3.11.7"), dict(python="3.11.9"), "info"),
        (dict(python="2.7.18"), dict(python="3.11.9"), "error"),
        (dict(platform="linux-x86_64"), dict(platform="darwin-arm64"), "warning"),
        (dict(driver="470.57.02"), dict(cuda="12.4"), "error"),  # and the info that only B has CUDA
        (dict(driver="560.35.03"), dict(driver="550.54.15"), "info"),
    ],
)
def test_python_cuda_driver_and_platform_mismatches(a, b, severity):
    d = diff_views(view("kernel", **a), view("lock", **b))
    assert [c.severity for c in d.changes if c.kind != "cuda" or "driver" not in a] == [severity], d.changes


def test_kernel_lock_and_snapshot_views(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    project = Project.discover(root)
    kernel = kernel_view(capture(gpu=False))
    write_lock(root, dict(kernel.packages), python=kernel.python)
    same = env_diff(project, "kernel", "lock")
    installers = {"pip", "setuptools"} & set(kernel.packages)  # lock tools leave them out: not drift
    assert same.changes == [] and same.unchanged == len(kernel.packages) - len(installers)

    snapshots = root / ".nblift" / "snapshots"
    snapshots.mkdir(parents=True)
    recorded = {
        "python": "3.10.1",
        "platform": "linux-x86_64",
        "packages": {"six": "1.15.0", "Old_Pkg": "0.1"},
    }
    (snapshots / "abc123def456.json").write_text(
        json.dumps({"id": "abc123def456", "format": 1, "environment": recorded})
    )
    d = env_diff(project, "abc123", "kernel")
    c = by_name(d)
    assert d.a == "snapshot abc123"
    assert c["python"].severity == "warning"
    assert c["old-pkg"].kind == "removed"
    assert c["six"].kind == "changed"

    exported = tmp_path / "env.json"
    exported.write_text(json.dumps(capture(gpu=False).to_json()))
    assert resolve_view(project, str(exported)).packages == kernel.packages
    with pytest.raises(InvalidInput, match="not kernel, lock"):
        resolve_view(project, "nonsense!")


def test_a_package_installed_into_the_kernel_shows_as_drift_until_pinned(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    before = capture(gpu=False)
    write_lock(root, dict(before.packages), python=before.python)
    site = tmp_path / "site"
    info = site / "fresh_pkg-0.9.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fresh-pkg\nVersion: 0.9\n\n")
    after = capture(paths=[*sys.path, str(site)], gpu=False)
    d = env_diff(Project.discover(root), "lock", "kernel", env=after)
    assert [(c.kind, c.name) for c in d.changes] == [("added", "fresh-pkg")]
    write_lock(root, dict(after.packages), python=after.python)  # what Pin does
    assert env_diff(Project.discover(root), "lock", "kernel", env=after).changes == []


def test_notebook_imports_make_a_missing_package_an_error(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    nb = root / "n.ipynb"
    nb.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "import six"}], "nbformat": 4}))
    packages = {k: v for k, v in capture(gpu=False).packages.items() if k != "six"}
    write_lock(root, packages)
    d = env_diff(Project.discover(root), "kernel", "lock", notebook=nb)
    six = by_name(d)["six"]
    assert (six.severity, six.kind) == ("error", "removed")


def test_env_verb_diff_and_rendering(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    write_lock(root, {"six": "1.0.0", "<script>": "1"}, cuda="12.4")
    parser = argparse.ArgumentParser()
    verbs.env_args(parser)
    args = parser.parse_args(["--no-gpu", "diff", "lock", "kernel"])
    kind, d = verbs.env(Context(str(root)), args)
    assert kind == "diff"
    assert verbs.env_failed((kind, d)) == d.failed
    html = diff_html(d)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert diff_text(d).startswith("lock -> kernel:")
    assert env_json((kind, d))["diff"]["counts"]["warning"] >= 1


def test_installers_left_out_of_a_lock_are_not_drift(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    project = Project.discover(root)
    write_lock(root, {"six": "1.16.0"}, python="3.11.7")
    kernel = EnvView(
        "kernel", "3.11.7", "linux-x86_64", None, None, {"six": "1.16.0", "pip": "24.0", "setuptools": "70"}
    )
    d = diff_views(kernel, resolve_view(project, "lock"))
    assert d.changes == []
