"""Settings precedence and validation; finding the project; keeping the state folder inside it."""

from __future__ import annotations

import os
import stat

import pytest

from nblift.errors import ConfigError, InvalidInput
from nblift.project import Project, notebook_folder
from nblift.settings import Settings, load_settings


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults(tmp_path):
    settings = load_settings(tmp_path, environ={})
    assert settings == Settings()
    assert settings.tracking_uri == ""
    assert settings.state_dir == ".nblift"
    assert settings.default_backend == "local"
    assert settings.gc_grace_seconds == 3600
    assert {"tracking_uri", "state_dir", "default_backend", "gc_grace_seconds"} <= set(settings.sources)
    assert set(settings.sources.values()) == {"default"}


def test_pyproject_table(tmp_path):
    pyproject = write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "x"\n\n[tool.nblift]\ndefault_backend = "ssh"\ngc_grace_seconds = 10\n',
    )
    settings = load_settings(tmp_path, environ={})
    assert settings.default_backend == "ssh"
    assert settings.gc_grace_seconds == 10
    assert settings.tracking_uri == ""
    assert settings.sources["default_backend"] == f"{pyproject} [tool.nblift]"
    assert settings.sources["tracking_uri"] == "default"


def test_pyproject_without_nblift_table(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.other]\nunknown = 1\n")
    assert load_settings(tmp_path, environ={}) == Settings()


def test_config_toml_overrides_pyproject(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.nblift]\ndefault_backend = "ssh"\ngc_grace_seconds = 10\n')
    config = write(tmp_path / ".nblift" / "config.toml", 'default_backend = "ray"\n')
    settings = load_settings(tmp_path, environ={})
    assert settings.default_backend == "ray"
    assert settings.gc_grace_seconds == 10  # not overridden, still from pyproject
    assert settings.sources["default_backend"] == str(config)


def test_config_toml_read_from_the_configured_state_dir(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.nblift]\nstate_dir = "state"\n')
    write(tmp_path / "state" / "config.toml", 'default_backend = "kubernetes"\n')
    write(tmp_path / ".nblift" / "config.toml", 'default_backend = "ray"\n')  # not the state folder
    settings = load_settings(tmp_path, environ={})
    assert settings.state_dir == "state"
    assert settings.default_backend == "kubernetes"


def test_env_overrides_both_files(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.nblift]\ndefault_backend = "ssh"\ngc_grace_seconds = 10\n')
    write(tmp_path / ".nblift" / "config.toml", 'default_backend = "ray"\ngc_grace_seconds = 20\n')
    settings = load_settings(
        tmp_path, environ={"NBLIFT_DEFAULT_BACKEND": "skypilot", "NBLIFT_GC_GRACE_SECONDS": "42"}
    )
    assert settings.default_backend == "skypilot"
    assert settings.gc_grace_seconds == 42
    assert settings.sources["default_backend"] == "NBLIFT_DEFAULT_BACKEND"
    assert settings.sources["gc_grace_seconds"] == "NBLIFT_GC_GRACE_SECONDS"


def test_env_read_from_os_environ_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("NBLIFT_DEFAULT_BACKEND", "ray")
    assert load_settings(tmp_path).default_backend == "ray"


def test_mlflow_tracking_uri_overrides_files(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.nblift]\ntracking_uri = "http://from-pyproject:5000"\n')
    write(tmp_path / ".nblift" / "config.toml", 'tracking_uri = "http://from-config:5000"\n')
    settings = load_settings(tmp_path, environ={"MLFLOW_TRACKING_URI": "http://from-mlflow-env:5000"})
    assert settings.tracking_uri == "http://from-mlflow-env:5000"
    assert settings.sources["tracking_uri"] == "MLFLOW_TRACKING_URI"


def test_nblift_tracking_uri_wins_over_mlflow(tmp_path):
    write(tmp_path / ".nblift" / "config.toml", 'tracking_uri = "http://from-config:5000"\n')
    settings = load_settings(
        tmp_path,
        environ={
            "MLFLOW_TRACKING_URI": "http://from-mlflow-env:5000",
            "NBLIFT_TRACKING_URI": "http://from-nblift-env:5000",
        },
    )
    assert settings.tracking_uri == "http://from-nblift-env:5000"
    assert settings.sources["tracking_uri"] == "NBLIFT_TRACKING_URI"


def test_empty_mlflow_tracking_uri_is_ignored(tmp_path):
    write(tmp_path / ".nblift" / "config.toml", 'tracking_uri = "http://from-config:5000"\n')
    settings = load_settings(tmp_path, environ={"MLFLOW_TRACKING_URI": ""})
    assert settings.tracking_uri == "http://from-config:5000"


@pytest.mark.parametrize("where", ["pyproject", "config"])
def test_unknown_key_names_key_and_file(tmp_path, where):
    if where == "pyproject":
        path = write(tmp_path / "pyproject.toml", '[tool.nblift]\ndefault_backed = "ssh"\n')
    else:
        path = write(tmp_path / ".nblift" / "config.toml", 'default_backed = "ssh"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ={})
    assert "'default_backed'" in info.value.message
    assert str(path) in info.value.message
    assert "default_backend" in info.value.hint  # lists the known settings


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('gc_grace_seconds = "soon"', "gc_grace_seconds"),
        ("gc_grace_seconds = true", "gc_grace_seconds"),
        ("gc_grace_seconds = 1.5", "gc_grace_seconds"),
        ("default_backend = 3", "default_backend"),
        ('tracking_uri = ["a"]', "tracking_uri"),
        ("state_dir = false", "state_dir"),
    ],
)
def test_wrong_type(tmp_path, line, key):
    path = write(tmp_path / ".nblift" / "config.toml", line + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ={})
    assert repr(key) in info.value.message
    assert str(path) in info.value.message
    assert info.value.hint


def test_wrong_type_in_env(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ={"NBLIFT_GC_GRACE_SECONDS": "an hour"})
    assert "NBLIFT_GC_GRACE_SECONDS" in info.value.message
    assert "'gc_grace_seconds'" in info.value.message


@pytest.mark.parametrize("where", ["pyproject.toml", ".nblift/config.toml"])
def test_bad_toml(tmp_path, where):
    path = write(tmp_path / where, "[tool.nblift\ndefault_backend = \n")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ={})
    assert str(path) in info.value.message
    assert "TOML" in info.value.message


def test_config_error_is_an_error_with_status_400():
    assert ConfigError.status_code == 400


def test_discover_walks_up_to_state_folder(tmp_path):
    (tmp_path / ".nblift").mkdir()
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    notebook = deep / "train.ipynb"
    notebook.write_text("{}")
    assert Project.discover(deep, environ={}).root == tmp_path.resolve()
    assert Project.discover(notebook, environ={}).root == tmp_path.resolve()
    assert Project.discover(str(deep), environ={}).root == tmp_path.resolve()


def test_discover_nearest_state_folder_wins(tmp_path):
    (tmp_path / ".nblift").mkdir()
    inner = tmp_path / "inner"
    (inner / ".nblift").mkdir(parents=True)
    (inner / "x").mkdir()
    assert Project.discover(inner / "x", environ={}).root == inner.resolve()


def test_discover_without_state_folder_uses_start(tmp_path):
    folder = tmp_path / "fresh"
    folder.mkdir()
    project = Project.discover(folder, environ={})
    assert project.root == folder.resolve()
    assert project.state_dir == folder.resolve() / ".nblift"
    assert not (folder / ".nblift").exists()  # discovering touches nothing


def test_discover_reads_settings_of_the_found_root(tmp_path):
    write(tmp_path / ".nblift" / "config.toml", 'default_backend = "ray"\n')
    (tmp_path / "sub").mkdir()
    project = Project.discover(tmp_path / "sub", environ={"NBLIFT_GC_GRACE_SECONDS": "5"})
    assert project.settings.default_backend == "ray"
    assert project.settings.gc_grace_seconds == 5


def test_discover_missing_path(tmp_path):
    with pytest.raises(InvalidInput) as info:
        Project.discover(tmp_path / "nope", environ={})
    assert "does not exist" in info.value.message
    assert info.value.hint


@pytest.mark.parametrize("state_dir", ["../x", "../../etc", "/tmp/elsewhere", "a/../../b"])
def test_state_dir_escaping_project_refused(tmp_path, state_dir):
    project = Project.discover(tmp_path, environ={"NBLIFT_STATE_DIR": state_dir})
    with pytest.raises(InvalidInput) as info:
        _ = project.state_dir
    assert repr(state_dir) in info.value.message
    with pytest.raises(InvalidInput):
        project.ensure_state_dir()
    assert not (tmp_path.parent / "x").exists()


def test_state_dir_escaping_via_pyproject(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.nblift]\nstate_dir = "../x"\n')
    with pytest.raises(InvalidInput):
        _ = Project.discover(tmp_path, environ={}).state_dir


def test_state_dir_symlink_out_of_project_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    project_dir = tmp_path / "project"
    project_dir.mkdir()
    (project_dir / ".nblift").symlink_to(outside)
    with pytest.raises(InvalidInput):
        _ = Project.discover(project_dir, environ={}).state_dir


def test_custom_state_dir_inside_project(tmp_path):
    project = Project.discover(tmp_path, environ={"NBLIFT_STATE_DIR": "build/nblift-state"})
    assert project.state_dir == tmp_path.resolve() / "build" / "nblift-state"
    assert project.objects_dir == project.state_dir / "objects"


def test_ensure_state_dir_mode(tmp_path):
    old = os.umask(0)
    try:
        state = Project.discover(tmp_path, environ={}).ensure_state_dir()
    finally:
        os.umask(old)
    assert state == tmp_path.resolve() / ".nblift"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_notebook_folder_from_session_name(tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    assert notebook_folder({"JPY_SESSION_NAME": str(nb_dir / "train.ipynb")}) == nb_dir.resolve()


def test_notebook_folder_relative_session_name(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert notebook_folder({"JPY_SESSION_NAME": "sub/train.ipynb"}) == (tmp_path / "sub").resolve()


@pytest.mark.parametrize("session", ["", "not-a-notebook.py", "/no/such/folder/x.ipynb"])
def test_notebook_folder_falls_back_to_cwd(tmp_path, monkeypatch, session):
    monkeypatch.chdir(tmp_path)
    assert notebook_folder({"JPY_SESSION_NAME": session}) == tmp_path.resolve()
    assert notebook_folder({}) == tmp_path.resolve()


def test_discover_without_start_uses_running_notebook(tmp_path, monkeypatch):
    (tmp_path / ".nblift").mkdir()
    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    monkeypatch.chdir("/")
    project = Project.discover(environ={"JPY_SESSION_NAME": str(nb_dir / "a.ipynb")})
    assert project.root == tmp_path.resolve()
