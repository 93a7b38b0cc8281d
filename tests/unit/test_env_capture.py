"""`%lift env` capture: sources of every distribution in a real virtual environment, credentials removed,
CUDA as the frameworks see it (torch never imported), GPUs from nvidia-smi, rendering."""

from __future__ import annotations

import json
import stat
import sys
import time
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

from env_helpers import make_venv, require_tools
from nblift.environment import capture as cap
from nblift.environment import machine
from nblift.environment.capture import Environment, capture, capture_in, index_config, scan_distributions
from nblift.environment.inputs import top_level
from nblift.environment.machine import cuda_of_local_version, parse_nvidia_smi
from nblift.environment.render import env_html, env_text


def _dist_info(site: Path, name: str, version: str, *, requires=(), direct=None, installer="pip") -> Path:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n\nLong description\nName: not-this\n")
    if installer:
        (info / "INSTALLER").write_text(installer + "\n")
    if direct is not None:
        (info / "direct_url.json").write_text(json.dumps(direct))
    return info


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    require_tools()
    return make_venv(tmp_path_factory.mktemp("env"))


def test_capture_in_a_real_venv_names_every_source(venv):
    env = capture_in(str(venv["python"]), gpu=False)
    dists = env.by_key()
    assert dists["editpkg"].source == "editable"
    assert Path(dists["editpkg"].path) == venv["edit"]
    git = dists["gitpkg"]
    assert git.source == "vcs"
    assert git.url == f"git+{venv['repo'].as_uri()}"
    assert git.commit == venv["commit"]
    assert git.local  # a file:// repository exists only here: pin builds it
    wheel = dists["wheelpkg"]
    assert wheel.source == "wheel"
    assert Path(wheel.path) == venv["wheel"]
    assert dists["six"].source == "index"
    assert dists["six"].installer == "uv"
    # the capture ran in the venv's interpreter: nblift's own source folder is not scanned as a package
    assert "nblift" not in dists
    assert env.executable.startswith(str(venv["python"].parent.parent))
    assert env.virtualenv
    assert env.python == ".".join(map(str, sys.version_info[:3]))
    # requirements survive the round trip through JSON (pin needs them)
    assert "six" in " ".join(dists["editpkg"].requires)


def test_capture_of_this_interpreter_matches_importlib_metadata():
    env = capture(gpu=False)
    expected = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            expected.setdefault(cap.canonical(name), dist.version)
    assert env.packages == dict(sorted(expected.items()))
    assert len(env.distributions) > 100
    assert env.by_key()["nblift"].source == "editable"
    assert env.platform == f"{sys.platform}-{cap.platform.machine()}"
    assert env.cpu_count and env.memory_bytes


def test_credentials_are_removed_from_vcs_archive_and_index_urls(tmp_path):
    site = tmp_path / "site"
    _dist_info(
        site,
        "private-lib",
        "1.0",
        direct={
            "url": "https://oauth2:ghp_secretTOKEN123@git.example.com/r.git",
            "vcs_info": {"vcs": "git", "commit_id": "a" * 40},
            "subdirectory": "pkg",
        },
    )
    _dist_info(
        site,
        "archived",
        "2.0",
        direct={"url": "https://bob:hunter2@files.example.com/a-2.0.tar.gz?token=abc"},
    )
    _dist_info(
        site,
        "sshlib",
        "3.0",
        direct={"url": "ssh://git@github.com/o/r.git", "vcs_info": {"vcs": "git", "commit_id": "b" * 40}},
    )
    dists = {d.key: d for d in scan_distributions([str(site)])}
    assert dists["private-lib"].url == "git+https://git.example.com/r.git"
    assert dists["private-lib"].subdirectory == "pkg"
    assert dists["archived"].source == "url"
    assert "hunter2" not in dists["archived"].url and "abc" not in dists["archived"].url
    assert dists["sshlib"].url == "git+ssh://git@github.com/o/r.git"  # a login name, not a secret

    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nextra-index-url = https://me:conftoken@pkgs.example.com/simple\n")
    environ = {"PIP_CONFIG_FILE": str(conf), "PIP_INDEX_URL": "https://user:envtoken@idx.example.com/simple"}
    indexes = index_config(environ)
    assert indexes.index_url.endswith("idx.example.com/simple") and "envtoken" in indexes.index_url
    shown = json.dumps(capture(paths=[str(site)], gpu=False, environ=environ).to_json())
    assert "envtoken" not in shown and "conftoken" not in shown and "hunter2" not in shown
    assert "ghp_secretTOKEN123" not in shown
    assert "https://idx.example.com/simple" in shown


def test_conda_meta_packages(tmp_path):
    meta = tmp_path / "conda-meta"
    meta.mkdir()
    for name in ("cudatoolkit-11.8.0-h6a678d5_0.json", "python-3.11.7-h955ad1f_0.json", "history"):
        (meta / name).write_text("{}")
    assert cap.conda_packages(str(tmp_path)) == [
        {"name": "cudatoolkit", "version": "11.8.0", "build": "h6a678d5_0"},
        {"name": "python", "version": "3.11.7", "build": "h955ad1f_0"},
    ]


def test_conda_and_legacy_develop_installs(tmp_path):
    site = tmp_path / "lib" / "site-packages"
    _dist_info(site, "condapkg", "1.2", installer="conda")
    develop = tmp_path / "src"
    info = develop / "devpkg.egg-info"
    info.mkdir(parents=True)
    (info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: devpkg\nVersion: 0.0.1\n\n")
    dists = {d.key: d for d in scan_distributions([str(site), str(develop)])}
    assert dists["condapkg"].source == "conda"
    assert dists["devpkg"].source == "editable"
    assert dists["devpkg"].path == str(develop)


def test_first_distribution_of_a_name_wins_and_metadata_body_is_ignored(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    _dist_info(first, "dup", "1.0")
    _dist_info(second, "dup", "2.0")
    dists = scan_distributions([str(first), str(second), str(tmp_path / "missing")])
    assert [(d.name, d.version) for d in dists] == [("dup", "1.0")]


def test_cuda_from_installed_distributions_without_importing_torch(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    site = tmp_path / "site"
    _dist_info(site, "torch", "2.4.0+cu124", requires=("nvidia-cudnn-cu12==9.1.0.70",))
    _dist_info(site, "nvidia-cudnn-cu12", "9.1.0.70")
    _dist_info(site, "nvidia-cuda-runtime-cu12", "12.4.127")
    env = capture(paths=[str(site)], gpu=False)
    assert env.cuda == "12.4"
    assert env.cudnn == "9.1.0"
    assert env.frameworks["torch"] == {
        "version": "2.4.0+cu124",
        "cuda": "12.4",
        "cudnn": "9.1.0",
        "seen": "installed",
    }
    assert "torch" not in sys.modules
    assert cuda_of_local_version("2.1.0+cu118") == "11.8"
    assert cuda_of_local_version("2.1.0+cpu") is None


def test_cuda_as_an_already_imported_torch_sees_it(tmp_path, monkeypatch):
    cudnn = SimpleNamespace(version=lambda: 90100)
    fake = SimpleNamespace(__version__="2.5.1+cu121", version=SimpleNamespace(cuda="12.1"))
    monkeypatch.setitem(sys.modules, "torch", fake)
    monkeypatch.setitem(sys.modules, "torch.backends.cudnn", cudnn)
    env = capture(paths=[str(tmp_path)], gpu=False)
    assert env.frameworks["torch"]["seen"] == "imported"
    assert env.cuda == "12.1"
    assert env.cudnn == "9.1.0"


def _fake_nvidia_smi(folder: Path, body: str) -> None:
    folder.mkdir(exist_ok=True)
    exe = folder / "nvidia-smi"
    exe.write_text("#!/bin/sh\n" + body)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


def test_gpus_and_driver_from_nvidia_smi(tmp_path, monkeypatch):
    _fake_nvidia_smi(tmp_path / "bin", "echo 'NVIDIA H100 80GB HBM3, 550.54.15, 81559'\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setattr(machine, "_gpu_cache", None)
    env = capture(paths=[], gpu=True)
    assert env.driver == "550.54.15"
    assert env.gpus[0].name == "NVIDIA H100 80GB HBM3"
    assert env.gpus[0].memory_mib == 81559
    assert parse_nvidia_smi("A, 1.0, [N/A]\n")[0][0].memory_mib is None


def test_a_hanging_nvidia_smi_costs_at_most_its_timeout(tmp_path, monkeypatch):
    _fake_nvidia_smi(tmp_path / "bin", "exec sleep 30\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setattr(machine, "_gpu_cache", None)
    monkeypatch.setattr(machine, "NVIDIA_SMI_TIMEOUT_S", 0.3)
    start = time.perf_counter()
    env = capture(paths=[], gpu=True)
    assert time.perf_counter() - start < 5
    assert env.gpus == () and env.driver is None


def test_top_level_skips_dependencies_but_not_extras_only_ones(tmp_path):
    site = tmp_path / "site"
    _dist_info(
        site,
        "app",
        "1.0",
        requires=("lib>=1", 'extra-only; extra == "docs"', 'posix-only; os_name == "posix"'),
    )
    _dist_info(site, "lib", "1.0")
    _dist_info(site, "extra-only", "1.0")
    _dist_info(site, "posix-only", "1.0")
    _dist_info(site, "nt-only", "1.0")
    _dist_info(site, "user-choice", "1.0", requires=('nt-only; os_name == "nt"',))
    tops = {d.key for d in top_level(scan_distributions([str(site)]))}
    assert tops == {"app", "extra-only", "nt-only", "user-choice"}


def test_environment_json_round_trip_and_rendering_escapes(tmp_path):
    site = tmp_path / "site"
    _dist_info(site, "evil<b>", "1.0", direct={"url": "file:///tmp/<script>", "dir_info": {"editable": True}})
    env = capture(paths=[str(site)], gpu=False)
    again = Environment.from_json(json.loads(json.dumps(env.to_json(full=True))))
    assert again.distributions == env.distributions
    assert again.packages == env.packages
    html = env_html(("show", env))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "evil<b>" in env_text(("show", env))
