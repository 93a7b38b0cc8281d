"""The terminal (`nblift ...`) and notebook (`%lift ...`) front doors."""

from __future__ import annotations

import html
import json
import os
import shlex
import subprocess
import sys
import time

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import nblift
from nblift.cli import main
from nblift.magics.lift import RESULT_MIME
from nblift.store import ObjectStore

DAY = 24 * 3600


def flip_one_byte(path) -> None:
    with open(path, "r+b") as fh:
        byte = fh.read(1)
        fh.seek(0)
        fh.write(bytes([byte[0] ^ 0x01]))


def orphan(store: ObjectStore, data: bytes, age: float = DAY) -> str:
    oid = store.put_bytes(data)
    then = time.time() - age
    os.utime(store.path_of(oid), (then, then))
    return oid


# -- CLI ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["status", "--json"], ["--json", "status"]])
def test_status_json(tmp_path, capsys, argv):
    assert main(["-C", str(tmp_path), *argv]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["project"]["root"] == str(tmp_path.resolve())
    assert status["project"]["state_dir"] == str(tmp_path.resolve() / ".nblift")
    assert status["version"] == nblift.__version__
    assert status["tracking"]["embedded"] is True
    assert status["store"] == {"objects": 0, "bytes": 0}
    assert status["fsck"] is None
    assert isinstance(status["backends"], list)


def test_status_writes_nothing(tmp_path, capsys):
    assert main(["-C", str(tmp_path), "status"]) == 0
    assert list(tmp_path.iterdir()) == []
    out = capsys.readouterr().out
    assert str(tmp_path.resolve()) in out
    assert "never checked" in out


def test_status_of_a_notebook_path(tmp_path, capsys):
    (tmp_path / ".nblift").mkdir()
    (tmp_path / "nbs").mkdir()
    notebook = tmp_path / "nbs" / "train.ipynb"
    notebook.write_text("{}")
    assert main(["-C", str(notebook), "--json", "status"]) == 0
    assert json.loads(capsys.readouterr().out)["project"]["root"] == str(tmp_path.resolve())


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"nblift {nblift.__version__}"


def test_version_from_a_real_process(child_env):
    out = subprocess.run(
        [sys.executable, "-m", "nblift", "--version"],
        capture_output=True,
        text=True,
        env=child_env,
        check=True,
    )
    assert out.stdout.strip() == f"nblift {nblift.__version__}"


def test_gc_grace_zero(tmp_path, capsys):
    store = ObjectStore(tmp_path / ".nblift")
    kept = store.put_bytes(b"kept")
    store.set_ref("snapshot", "s", [kept])
    young = store.put_bytes(b"just written")  # age 0: removed only because --grace 0
    assert main(["-C", str(tmp_path), "gc", "--grace", "0"]) == 0
    out = capsys.readouterr().out
    assert "removed objects" in out
    assert not store.has(young)
    assert store.has(kept)


def test_gc_default_grace_from_settings(tmp_path, capsys):
    store = ObjectStore(tmp_path / ".nblift")
    old = orphan(store, b"old", age=DAY)
    young = orphan(store, b"young", age=60)
    (tmp_path / ".nblift" / "config.toml").write_text("gc_grace_seconds = 3600\n")
    assert main(["-C", str(tmp_path), "gc", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"removed_objects": 1, "removed_temp_files": 0, "freed_bytes": 3, "kept_recent": 1}
    assert not store.has(old)
    assert store.has(young)


def test_error_exit_2_with_what_to_do(capsys):
    assert main(["-C", "/nonexistent", "status"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "/nonexistent" in captured.err
    assert "what to do" in captured.err


def test_config_error_exit_2(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text("[tool.nblift]\nbogus = 1\n")
    assert main(["-C", str(tmp_path), "status"]) == 2
    err = capsys.readouterr().err
    assert "'bogus'" in err
    assert "what to do" in err


def test_usage_error_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# -- %lift ---------------------------------------------------------------------------------------------


@pytest.fixture
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nblift")
    yield ip
    ip.run_line_magic("unload_ext", "nblift")


@pytest.fixture
def odd_project(tmp_path):
    """A project folder whose name needs escaping in HTML and quoting on a command line."""
    folder = tmp_path / "<img src=x onerror=alert(1)> & 'co'"
    folder.mkdir()
    return folder


def test_magic_status_html_escapes(shell, odd_project):
    result = shell.run_line_magic("lift", f"-C {shlex.quote(str(odd_project))} status")
    page = result._repr_html_()
    assert html.escape(str(odd_project.resolve())) in page
    assert "<img" not in page  # the folder name is text, never markup
    assert result.data["project"]["root"] == str(odd_project.resolve())
    assert str(odd_project.resolve()) in repr(result)
    assert result.failed is False


def test_magic_json(shell, tmp_path):
    result = shell.run_line_magic("lift", f"-C {shlex.quote(str(tmp_path))} status --json")
    assert json.loads(repr(result))["project"]["root"] == str(tmp_path.resolve())
    assert result._repr_html_().startswith("<pre>")
    # the data also goes out under nblift's own mimetype (JupyterLab's dialogs read it); the notebook shows
    # the text, and a result without --json carries no data
    shown, _ = shell.display_formatter.format(result)
    assert shown[RESULT_MIME]["project"]["root"] == str(tmp_path.resolve())
    assert {"text/plain", "text/html"} <= set(shown)
    plain = shell.run_line_magic("lift", f"-C {shlex.quote(str(tmp_path))} status")
    assert RESULT_MIME not in shell.display_formatter.format(plain)[0]


def test_magic_fsck(shell, tmp_path):
    store = ObjectStore(tmp_path / ".nblift")
    store.put_bytes(b"fine")
    line = f"-C {shlex.quote(str(tmp_path))} fsck"
    result = shell.run_line_magic("lift", line)
    assert result.failed is False
    assert result.data["ok"] is True
    assert result.data["checked"] == 1
    bad = store.put_bytes(b"will rot")
    flip_one_byte(store.path_of(bad))
    result = shell.run_line_magic("lift", line)
    assert result.failed is True
    assert result.data["corrupt"] == [bad]
    assert bad in result._repr_html_()


def test_magic_gc(shell, tmp_path):
    store = ObjectStore(tmp_path / ".nblift")
    oid = store.put_bytes(b"orphan")
    result = shell.run_line_magic("lift", f"-C {shlex.quote(str(tmp_path))} gc --grace 0")
    assert result.data["removed_objects"] == 1
    assert not store.has(oid)


def test_magic_error_is_a_usage_error(shell):
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("lift", "-C /nonexistent status")
    assert "/nonexistent" in str(info.value)
    assert "pass an existing folder" in str(info.value)


def test_magic_help_returns_nothing(shell, capsys):
    assert shell.run_line_magic("lift", "--help") is None
    out = capsys.readouterr().out
    assert "status" in out and "fsck" in out and "gc" in out


def test_magic_bad_quoting(shell):
    with pytest.raises(UsageError):
        shell.run_line_magic("lift", "-C 'unclosed status")


def test_unload_removes_the_magic():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "nblift")
    assert "lift" in ip.magics_manager.magics["line"]
    ip.run_line_magic("unload_ext", "nblift")
    assert "lift" not in ip.magics_manager.magics["line"]


HEAVY = (
    "mlflow",
    "ray",
    "asyncssh",
    "kubernetes",
    "sky",
    "paramiko",
    "torch",
    "papermill",
    "nbclient",
    "ipywidgets",
    "nblift.server.app",
    "jupyter_server",
)


def test_load_ext_stays_light(child_env):
    code = (
        "import json, sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'nblift')\n"
        "assert 'lift' in shell.magics_manager.magics['line']\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("verb", ["status", "runs"])
def test_status_magic_stays_light(child_env, tmp_path, verb):
    """Even running `%lift status` or listing runs imports no tracking, backend or execution library."""
    code = (
        "import json, sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'nblift')\n"
        f"shell.run_line_magic('lift', {('-C ' + shlex.quote(str(tmp_path)) + ' ' + verb)!r})\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=child_env, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_a_mistyped_command_gets_a_did_you_mean(capsys):
    import pytest

    from nblift.cli import main
    from nblift.commands import build_parser

    with pytest.raises(SystemExit):
        main(["promot", "model"])
    assert "did you mean 'promote'?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser("%lift").parse_args(["snapshto"])
    assert "did you mean 'snapshot' or " in capsys.readouterr().err  # the magic has `snapshot`
    with pytest.raises(SystemExit):
        main(["xyzzy"])
    assert "did you mean" not in capsys.readouterr().err


def test_the_move_example_s_magics_parse() -> None:
    """examples/move.ipynb needs a Jupyter server and an SSH host to run (tests/integration/test_move.py moves
    a session end to end); here each `%lift` line it has parses as the magic would parse it."""
    from pathlib import Path

    import nbformat

    from nblift.commands import build_parser

    nb = nbformat.read(Path(__file__).resolve().parents[2] / "examples" / "move.ipynb", as_version=4)
    lines = [
        line[len("%lift ") :].replace("$TARGET", "gpu1")
        for cell in nb.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if line.startswith("%lift ")
    ]
    assert lines == ["move ssh:gpu1 --plan", "move ssh:gpu1", "status", "move back"]
    parser = build_parser("%lift")
    for line in lines:
        parser.parse_args(line.split())
