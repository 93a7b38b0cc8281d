"""The lazy backend registry: the built-ins that exist, third-party backends through real entry points."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import textwrap

import pytest

from nblift.backends import available_backends, get_backend_class
from nblift.backends.base import Backend, RunHandle, RunRequest, RunSpec, RunState
from nblift.errors import BackendUnavailable, NotFound

BUILTIN_MODULES = {
    "local": "nblift.backends.local",
    "ssh": "nblift.backends.ssh",
    "ray": "nblift.backends.ray",
    "k8s": "nblift.backends.k8s",
}

FAKE_BACKEND = textwrap.dedent(
    '''
    """A third-party backend that runs nothing: it records each submission and reports no worker."""

    from nblift.backends.base import Backend, RunHandle


    class FakeBackend(Backend):
        name = "fake"

        def __init__(self, project=None):
            super().__init__(project)
            self.started = []
            self.cancelled = []

        def _submit(self, request):
            self.started.append(request.run_id)
            native = f"fake-{len(self.started)}"
            return RunHandle(self.name, request.run_id, native, {"bundle": request.bundle_id})

        def _alive(self, handle):
            return False

        def _terminate(self, handle):
            self.cancelled.append(("TERM", handle.native_id))

        def _kill(self, handle):
            self.cancelled.append(("KILL", handle.native_id))

        def _fetch(self, handle, record_dir):
            out = record_dir / "output"
            out.mkdir(exist_ok=True)
            (out / "outputs.txt").write_text(handle.native_id)
            return out
    '''
)


def _distribution(folder, dist: str, entry_points: str) -> None:
    info = folder / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    (info / "RECORD").write_text("")


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """A site folder holding two installed distributions that declare nblift.backends entry points:
    `fakebackend` (module present) and `ghostbackend` (its module is missing)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "fakebackend.py").write_text(FAKE_BACKEND)
    _distribution(site, "fakebackend", "[nblift.backends]\nfake = fakebackend:FakeBackend\n")
    _distribution(site, "ghostbackend", "[nblift.backends]\nghost = ghost_backend_module:GhostBackend\n")
    _distribution(site, "unrelated", "[console_scripts]\nunrelated = unrelated:main\n")
    for name in ("fakebackend", "ghost_backend_module"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield site
    for name in ("fakebackend", "ghost_backend_module"):
        sys.modules.pop(name, None)
    importlib.invalidate_caches()


def by_name():
    return {info.name: info for info in available_backends()}


def test_builtins_listed_are_the_modules_that_exist():
    listed = {info.name for info in available_backends() if info.source == "builtin"}
    assert listed == set(BUILTIN_MODULES)
    for name, module in BUILTIN_MODULES.items():
        assert importlib.util.find_spec(module) is not None, name
        assert get_backend_class(name).__module__ == module


def test_no_plugins_installed():
    assert [info for info in available_backends() if info.source != "builtin"] == []


def test_unknown_backend_lists_known_names(plugins):
    with pytest.raises(NotFound) as info:
        get_backend_class("nope")
    assert "'nope'" in info.value.message
    assert "fake" in info.value.hint
    assert "ghost" in info.value.hint


def test_unknown_backend_without_plugins():
    with pytest.raises(NotFound, match="nope"):
        get_backend_class("nope")


def test_plugin_is_listed(plugins):
    fake = by_name()["fake"]
    assert fake.available
    assert fake.missing == []
    assert fake.install_hint is None
    assert fake.source.startswith("plugin")
    assert "fakebackend" in fake.source


def test_listing_does_not_import_the_plugin(plugins):
    assert "fakebackend" not in sys.modules
    available_backends()
    assert "fakebackend" not in sys.modules
    with pytest.raises(NotFound):
        get_backend_class("nope")
    assert "fakebackend" not in sys.modules


def test_plugin_class_is_loaded_on_use(plugins):
    cls = get_backend_class("fake")
    assert "fakebackend" in sys.modules
    assert cls.__name__ == "FakeBackend"
    assert cls.__module__ == "fakebackend"
    assert issubclass(cls, Backend)
    assert get_backend_class("fake") is cls


def test_plugin_runs_through_the_template_methods(plugins, tmp_path):
    backend = get_backend_class("fake")()
    record = tmp_path / "record"
    record.mkdir()
    spec = RunSpec(id="abcdef123456", notebook="nb.ipynb", backend="fake", bundle="b" * 64)
    request = RunRequest(spec, record, tmp_path / "store")
    handle = backend.submit(request)
    assert isinstance(handle, RunHandle)
    assert handle.backend == "fake"
    assert handle.details["bundle"] == "b" * 64
    assert backend.submit(request) == handle  # started once: the record keeps its handle
    assert backend.started == ["abcdef123456"]
    assert RunHandle.from_json(handle.to_json()) == handle
    assert backend.alive(handle) is False
    backend.sync(handle, record)  # optional hook: nothing to copy
    backend.reap(handle)  # optional hook: nothing left behind
    backend.cancel(handle, 2.0, lambda: True)  # stopped at once: SIGTERM only
    assert backend.cancelled == [("TERM", handle.native_id)]
    backend.cancelled.clear()
    backend.cancel(handle, 0.2, lambda: False)  # never records a stop: killed after the grace period
    assert backend.cancelled == [("TERM", handle.native_id), ("KILL", handle.native_id)]
    outputs = backend.fetch(handle, record)
    assert (outputs / "outputs.txt").read_text() == handle.native_id


def test_plugin_with_missing_module(plugins):
    ghost = by_name()["ghost"]
    assert not ghost.available
    assert ghost.missing == ["ghost_backend_module"]
    assert ghost.install_hint == "reinstall ghostbackend"
    assert ghost.source.startswith("plugin")
    assert by_name()["fake"].available  # one broken plugin never hides the others
    with pytest.raises(BackendUnavailable) as info:
        get_backend_class("ghost")
    assert "ghost" in info.value.message
    assert info.value.hint == "reinstall ghostbackend"


def test_plugin_naming_a_missing_class(plugins):
    _distribution(plugins, "wrongclass", "[nblift.backends]\nwrong = fakebackend:NoSuchBackend\n")
    importlib.invalidate_caches()
    assert by_name()["wrong"].available  # its module exists; the class is only checked on use
    with pytest.raises(BackendUnavailable, match="NoSuchBackend"):
        get_backend_class("wrong")


def test_plugins_sorted_after_builtins(plugins):
    infos = available_backends()
    sources = [info.source == "builtin" for info in infos]
    assert sources == sorted(sources, reverse=True)
    plugin_names = [info.name for info in infos if info.source != "builtin"]
    assert plugin_names == sorted(plugin_names)
    assert {"fake", "ghost"} <= set(plugin_names)


def test_run_states():
    assert {s for s in RunState if s.terminal} == {
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.CANCELLED,
        RunState.TIMED_OUT,
        RunState.LOST,
    }
    assert not RunState.RUNNING.terminal
    assert not RunState.PENDING.terminal


def test_backend_is_abstract():
    with pytest.raises(TypeError):
        Backend()


@pytest.mark.parametrize(("kind", "module", "extra"), [("ssh", "asyncssh", "ssh"), ("ray", "boto3", "ray")])
def test_a_backend_whose_extra_is_missing_says_which_to_install(
    kind, module, extra, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(BackendUnavailable) as info:
        get_backend_class(kind)
    assert module in info.value.message and info.value.hint == f'pip install "nblift[{extra}]"'
    from nblift.cli import EXIT_ERROR, main

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    notebook = tmp_path / "nb.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(notebook), "--backend", f"{kind}:box"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert f'pip install "nblift[{extra}]"' in err and "Traceback" not in err
    main(
        ["preflight", "--notebook", str(notebook), "--backend", f"{kind}:box"]
    )  # a finding that says what to install
    assert f'pip install "nblift[{extra}]"' in capsys.readouterr().out


def test_status_names_each_backend_s_targets_or_how_to_add_one(tmp_path):
    from nblift.project import Project
    from nblift.render import status_text
    from nblift.status import collect_status

    (tmp_path / "pyproject.toml").write_text(
        '[tool.nblift.ssh_hosts.gpu2]\nhost = "b"\n[tool.nblift.ssh_hosts.gpu1]\nhost = "a"\n'
    )
    status = collect_status(Project.discover(tmp_path))
    infos = {b.name: b for b in status.backends}
    assert infos["ssh"].targets == ["gpu1", "gpu2"] and infos["ray"].targets == []
    assert infos["local"].targets is None  # it needs no target
    text = status_text(status)
    assert "targets gpu1, gpu2" in text
    assert "no target: add one as [tool.nblift.ray_clusters.NAME]" in text
