"""Bundle: what goes in, .nbliftignore, size limits, dedup on rebuild, and a safe materialize."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nblift.bundle import IgnoreRules, build_bundle, materialize
from nblift.errors import InvalidInput
from nblift.project import Project
from nblift.store import ObjectStore

CODE = """import json, os
import numpy as np
import helpers
from mypkg.sub import thing
import pandas as pd
df = pd.read_csv("data/train.csv")
"""


def write_notebook(path: Path, *sources: str) -> Path:
    cells = [
        {"cell_type": "code", "source": s, "outputs": [], "metadata": {}, "execution_count": None}
        for s in sources
    ]
    doc = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    path.write_text(json.dumps(doc))
    return path


def make_project(root: Path, *extra: str) -> tuple[Project, Path]:
    (root / "helpers.py").write_text("def f():\n    return 1\n")
    (root / "mypkg" / "sub").mkdir(parents=True)
    (root / "mypkg" / "__init__.py").write_text("")
    (root / "mypkg" / "sub" / "__init__.py").write_text("thing = 2\n")
    (root / "mypkg" / "sub" / "table.json").write_text("{}")
    (root / "mypkg" / "__pycache__").mkdir()
    (root / "mypkg" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("a,b\n1,2\n")
    (root / "unrelated.txt").write_text("not used")
    (root / "requirements.txt").write_text("numpy==2.0\n")
    nb = write_notebook(root / "work.ipynb", CODE, *extra)
    return Project.discover(root, environ={}), nb


def store_of(project: Project) -> ObjectStore:
    return ObjectStore(project.state_dir)


def test_includes_notebook_lock_local_modules_and_reads(tmp_path):
    project, nb = make_project(tmp_path)
    bundle = build_bundle(project, nb)
    assert set(bundle.files) == {
        "work.ipynb",
        "requirements.txt",
        "helpers.py",
        "mypkg/__init__.py",
        "mypkg/sub/__init__.py",
        "mypkg/sub/table.json",
        "data/train.csv",
    }
    assert bundle.size == sum((tmp_path / rel).stat().st_size for rel in bundle.files)
    assert bundle.new_bytes > 0
    store = store_of(project)
    assert store.has(bundle.id)
    assert set(store.get_ref("bundles", bundle.id)) == {bundle.id, *bundle.files.values()}
    assert bundle.to_json()["id"] == bundle.id


def test_pylock_included_when_present(tmp_path):
    project, nb = make_project(tmp_path)
    (tmp_path / "pylock.toml").write_text('lock-version = "1.0"\n')
    assert "pylock.toml" in build_bundle(project, nb).files


def test_nbliftignore_excludes_and_negation_keeps(tmp_path):
    project, nb = make_project(tmp_path, 'open("data/keep.csv")', 'open("data/drop.csv")')
    (tmp_path / "data" / "keep.csv").write_text("k")
    (tmp_path / "data" / "drop.csv").write_text("d")
    (tmp_path / ".nbliftignore").write_text("# comment\ndata/*.csv\n!data/keep.csv\n")
    files = build_bundle(project, nb).files
    assert "data/keep.csv" in files
    assert "data/drop.csv" not in files
    assert "data/train.csv" not in files


@pytest.mark.parametrize(
    ("rules", "path", "ignored"),
    [
        ("*.csv", "a/b/c.csv", True),
        ("/*.csv", "a/c.csv", False),
        ("/*.csv", "c.csv", True),
        ("data/", "data/x.txt", True),
        ("data/", "data", False),  # a file named data is not a folder
        ("data/", "sub/data/x.txt", True),
        ("a/**/z.txt", "a/z.txt", True),
        ("a/**/z.txt", "a/b/c/z.txt", True),
        ("**/cache", "x/y/cache/f", True),
        ("logs/**", "logs/a/b", True),
        ("f?.py", "f1.py", True),
        ("f?.py", "f12.py", False),
        ("*.bin\n!keep.bin", "keep.bin", False),
        ("big/\n!big/keep.txt", "big/keep.txt", True),  # a parent excluded cannot be re-included
        ("big/*\n!big/keep.txt", "big/keep.txt", False),
        ("[ab].txt", "a.txt", True),
        ("[!ab].txt", "a.txt", False),
    ],
)
def test_ignore_rules(rules, path, ignored):
    assert IgnoreRules.parse(rules).ignores(path) is ignored


def test_file_outside_project_is_refused(tmp_path):
    outside = tmp_path / "outside.csv"
    outside.write_text("x")
    root = tmp_path / "proj"
    root.mkdir()
    project, nb = make_project(root, f"open({str(outside)!r})")
    with pytest.raises(InvalidInput, match=r"outside\.csv"):
        build_bundle(project, nb)


def test_symlink_resolving_outside_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    root = tmp_path / "proj"
    root.mkdir()
    project, nb = make_project(root, 'open("link.txt")')
    (root / "link.txt").symlink_to(secret)
    with pytest.raises(InvalidInput, match=r"link\.txt"):
        build_bundle(project, nb)


def test_file_over_limit_names_it_and_its_size(tmp_path):
    project, nb = make_project(tmp_path, 'open("data/big.bin")')
    (tmp_path / "data" / "big.bin").write_bytes(b"\0" * (2 << 20))
    with pytest.raises(InvalidInput) as info:
        build_bundle(project, nb, max_file_bytes=1 << 20)
    assert "data/big.bin (2.0 MiB)" in info.value.message
    assert ".nbliftignore" in (info.value.hint or "")
    assert not store_of(project).objects_dir.exists() or not list(store_of(project).iter_ids())


def test_total_over_limit_names_largest(tmp_path):
    project, nb = make_project(tmp_path)
    with pytest.raises(InvalidInput, match="max_total_bytes") as info:
        build_bundle(project, nb, max_total_bytes=10)
    assert "work.ipynb" in info.value.message


def test_rebuild_is_same_id_and_writes_nothing(tmp_path):
    project, nb = make_project(tmp_path)
    first = build_bundle(project, nb)
    second = build_bundle(project, nb)
    assert second.id == first.id
    assert second.new_bytes == 0


def test_one_byte_change_gives_new_id_and_small_write(tmp_path):
    project, nb = make_project(tmp_path)
    (tmp_path / "data" / "train.csv").write_bytes(b"x" * 200_000)
    first = build_bundle(project, nb)
    (tmp_path / "helpers.py").write_text("def f():\n    return 2\n")
    second = build_bundle(project, nb)
    assert second.id != first.id
    assert second.files["helpers.py"] != first.files["helpers.py"]
    assert 0 < second.new_bytes < 5_000


def test_materialize_reproduces_every_file(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    project, nb = make_project(root)
    bundle = build_bundle(project, nb)
    out = materialize(store_of(project), bundle.id, tmp_path / "out")
    for rel in bundle.files:
        assert (out / rel).read_bytes() == (root / rel).read_bytes()
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert written == set(bundle.files)


@pytest.mark.parametrize("bad", ["../evil", "/abs/evil", "a/../../evil", "C:/evil"])
def test_materialize_refuses_escaping_paths(tmp_path, bad):
    store = ObjectStore(tmp_path / "state")
    oid = store.put_bytes(b"evil")
    manifest = {
        "format": "nblift.bundle/1",
        "notebook": "ok.txt",
        "files": {"ok.txt": {"oid": oid, "size": 4}, bad: {"oid": oid, "size": 4}},
    }
    bundle_id = store.put_bytes(json.dumps(manifest).encode())
    dest = tmp_path / "box" / "dest"
    with pytest.raises(InvalidInput, match="not a safe"):
        materialize(store, bundle_id, dest)
    assert not (tmp_path / "box").exists()
    assert not (tmp_path / "evil").exists()


def test_imports_of_local_modules_are_followed(tmp_path):
    (tmp_path / "train.py").write_text("import numpy\nfrom features import build\n")
    (tmp_path / "features.py").write_text("import os\nimport util.text\n")
    (tmp_path / "util").mkdir()
    (tmp_path / "util" / "__init__.py").write_text("")
    (tmp_path / "util" / "text.py").write_text("from . import helpers_inside\n")
    (tmp_path / "lonely.py").write_text("x = 1\n")
    nb = write_notebook(tmp_path / "nb.ipynb", "import train")
    bundle = build_bundle(Project.discover(tmp_path, environ={}), nb)
    assert set(bundle.files) == {"nb.ipynb", "train.py", "features.py", "util/__init__.py", "util/text.py"}


def test_folders_added_to_sys_path_are_searched(tmp_path):
    (tmp_path / "src" / "lib").mkdir(parents=True)
    (tmp_path / "src" / "lib" / "models.py").write_text("W = 1\n")
    nb = write_notebook(tmp_path / "nb.ipynb", "import sys\nsys.path.append('src/lib')\nimport models")
    bundle = build_bundle(Project.discover(tmp_path, environ={}), nb)
    assert "src/lib/models.py" in bundle.files


def test_executable_files_stay_executable(tmp_path):
    (tmp_path / "proj").mkdir()
    project, nb = make_project(tmp_path / "proj")
    (tmp_path / "proj" / "data" / "train.csv").chmod(0o755)
    bundle = build_bundle(project, nb)
    out = materialize(store_of(project), bundle.id, tmp_path / "out")
    assert (out / "data" / "train.csv").stat().st_mode & 0o100
    assert not (out / "helpers.py").stat().st_mode & 0o100
