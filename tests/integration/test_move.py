"""Moving a live session to an SSH host and back, end to end: a real `jupyter server` on loopback with a
notebook session, a real sshd standing for the GPU host (its own root folder and an environment built there
from the lock), `%lift move ssh:box` typed in the notebook's kernel, then `%lift move back` typed in the
kernel on the host. The session's kernel switches each way and the variables come along."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_server_proc import api, new_session, run_in_kernel, start_server, stop_server
from run_helpers import until
from test_ssh_backend import project_for, sshd  # noqa: F401 - a fixture: the sshd standing for the host

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture
def lab(sshd, tmp_path):  # noqa: F811 - the sshd fixture
    """A project with an ssh target `box` and a lock, served by a real Jupyter server."""
    root, runtime, data = tmp_path / "work", tmp_path / "runtime", tmp_path / "data"
    root.mkdir()
    project_for(root, sshd, tmp_path / "host-root")
    wrong = tmp_path / "wrong_known_hosts"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    key = (tmp_path / "other.pub").read_text().split()
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {key[0]} {key[1]}\n")
    with (root / "pyproject.toml").open("a") as fh:
        fh.write(
            f'\n[tool.nblift.ssh_hosts.evil]\nhost = "127.0.0.1"\nport = {sshd.port}\n'
            f'identity_file = "{sshd.folder / "client"}"\nknown_hosts = "{wrong}"\n'
        )
    (root / "pylock.toml").write_text('lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.11"\n')
    (root / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    process, port = start_server(root, runtime, tmp_path / "server.log", JUPYTER_DATA_DIR=str(data))
    yield port, root, runtime, tmp_path / "host-root"
    stop_server(process)


#: State of the kinds a session holds: an array, a DataFrame, a fitted model, an instance of a class the
#: notebook defines.
STATE = """
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
arr = np.arange(10.0)
frame = pd.DataFrame({'x': range(5)})
model = LinearRegression().fit([[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0])
class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y
    def total(self):
        return self.x + self.y
p = Point(1, 2)
"""
CHECK = (
    "print(float(arr.sum()), int(frame.x.sum()), round(float(model.predict([[3.0]])[0]), 3), "
    "type(p).__name__, p.x, p.y, p.total())"
)


def session_kernel(port: int, session_id: str) -> str:
    return str(api(port, f"sessions/{session_id}")["kernel"]["id"])


def test_a_session_moves_to_the_host_and_back_with_its_variables(lab):
    port, root, runtime, host_root = lab
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("from helpers import double\ncounter = 41")]
    nbformat.write(nb, root / "train.ipynb")
    session = new_session(port, "train.ipynb")
    home_kernel = session["kernel"]["id"]
    run_in_kernel(
        runtime,
        home_kernel,
        "%load_ext nblift\nfrom helpers import double\ncounter = 41\ntable = {'a': [1, 2, 3]}\n"
        "numbers = (i for i in range(3))",
    )
    run_in_kernel(runtime, home_kernel, STATE, timeout=300)

    # a host whose key is not the one known_hosts holds is refused before anything is sent
    refused = run_in_kernel(
        runtime,
        home_kernel,
        "try:\n    %lift move ssh:evil --plan\nexcept Exception as e:\n    print(e)",
        timeout=300,
    )
    assert "cannot reach ssh target 'evil'" in refused and "known_hosts" in refused, refused

    plan = run_in_kernel(runtime, home_kernel, "%lift move ssh:box --plan", timeout=300)
    assert "move to ssh:box" in plan and "the host lacks" in plan and "environment: to build" in plan
    assert "not moved: numbers (cannot pickle" in plan and "cell [1] makes it again" in plan  # said first
    assert session_kernel(port, session["id"]) == home_kernel  # a plan moves nothing

    # --device cuda reaches the host (whose environment has no torch: no tensors to place, nothing to say)
    moved = run_in_kernel(runtime, home_kernel, "%lift move ssh:box --device cuda", timeout=600)
    assert "note:" not in moved
    assert "moved to box: 9 variable(s) restored there" in moved, moved
    remote_kernel = until(
        lambda: (k := session_kernel(port, session["id"])) != home_kernel and k, 60, "the session to switch"
    )
    # the same session now runs on the host, in the session's copy of the project, with the variables
    where = run_in_kernel(
        runtime,
        remote_kernel,
        "import os\nprint(bool(os.environ.get('SSH_CONNECTION')), os.getcwd())\n"
        "print(double(counter), table)",
    )
    folder = next((host_root / "sessions").iterdir())
    assert where.splitlines() == [f"True {folder}", "82 {'a': [1, 2, 3]}"]
    assert run_in_kernel(runtime, remote_kernel, CHECK).strip() == "45.0 10 7.0 Point 1 2 3"
    assert (folder / "helpers.py").is_file() and (folder / "train.ipynb").is_file()
    until(lambda: not _alive_kernel(port, home_kernel), 30, "the home kernel to stop")
    spec = json.loads((root.parent / "data" / "kernels" / "nblift-ssh-box" / "kernel.json").read_text())
    assert spec["metadata"]["kernel_provisioner"]["provisioner_name"] == "nblift-ssh"
    # the kernel, the server and the Status view say where it runs
    said = run_in_kernel(runtime, remote_kernel, "%lift status")
    sid = re.search(r"\(snapshot (\w+)\)", moved).group(1)
    assert f"kernel runs on  box (moved there with snapshot {sid}" in said, said
    status = api(port, f"status?kernel={remote_kernel}&path=train.ipynb", root="nblift/api")
    assert status["kernel"]["where"] == "ssh:box" and status["kernel"]["moved"] is True
    # the snapshot the session left with stays at home, signed and restorable if the host disappears
    from nblift.project import Project
    from nblift.snapshot import manifest as mf

    left = mf.load(Project.discover(root).state_dir, sid)
    mf.require_trusted(left)
    assert {"arr", "frame", "model", "p", "counter"} <= set(left["variables"])

    # a restart there starts fresh (the moved state is restored once, as the kernel first starts), and the
    # moved snapshot stays restorable on the host
    api(port, f"kernels/{remote_kernel}/restart", "POST")
    fresh = until(lambda: _try(runtime, remote_kernel, "print('arr' in globals())"), 60, "a restart")
    assert fresh.strip() == "False"
    restored = run_in_kernel(runtime, remote_kernel, f"%load_ext nblift\n%lift restore {sid}", timeout=120)
    assert "restored" in restored, restored
    assert run_in_kernel(runtime, remote_kernel, CHECK).strip() == "45.0 10 7.0 Point 1 2 3"

    # work goes on on the host, then the session comes home with it
    run_in_kernel(
        runtime,
        remote_kernel,
        "counter += 1\ntable['b'] = 'from the host'\narr = arr * 2\nframe['x'] = frame.x + 1\n"
        "p = Point(10, 20)",
    )
    back = run_in_kernel(runtime, remote_kernel, "%lift move back", timeout=300)
    assert "moving home: snapshot" in back
    home_again = until(
        lambda: (k := session_kernel(port, session["id"])) != remote_kernel and k,
        120,
        "the session to come home",
    )
    assert home_again != home_kernel
    here = until(
        lambda: _try(
            runtime, home_again, "import os\nprint(bool(os.environ.get('SSH_CONNECTION')), counter, table)"
        ),
        60,
        "the variables at home",
    )
    assert here.strip() == "False 42 {'a': [1, 2, 3], 'b': 'from the host'}"
    assert run_in_kernel(runtime, home_again, CHECK).strip() == "90.0 15 7.0 Point 10 20 30"
    until(lambda: not _alive_kernel(port, remote_kernel), 60, "the kernel on the host to stop")
    assert not list((folder / ".nblift" / "moves").glob("back.json"))

    # --no-switch --json (what JupyterLab's Move to… runs): the move happens and the session stays on this
    # kernel until the caller switches it to the kernel the JSON names. The environment is cached on the
    # host now, so the project's files are laid out there while the snapshot is taken: an edit made at home
    # since the last move is what the host gets.
    (root / "helpers.py").write_text("def double(x):\n    return 2 * x\n\ndef triple(x):\n    return 3 * x\n")
    said = run_in_kernel(runtime, home_again, "%lift move ssh:box --no-switch --json", timeout=300)
    result = json.loads(said)
    assert result["moved"] is True and result["kernel"] == "nblift-ssh-box", result
    there = result["kernel_id"]
    assert there and _alive_kernel(port, there) and f"in kernel {there}" in result["message"]
    time.sleep(0.5)  # longer than the server-side switch waits
    assert session_kernel(port, session["id"]) == home_again
    api(port, f"sessions/{session['id']}", "PATCH", {"kernel": {"id": there}})
    code = (
        "import os\nfrom helpers import triple\n"
        "print(counter, bool(os.environ.get('SSH_CONNECTION')), triple(2))"
    )
    assert run_in_kernel(runtime, there, code).strip() == "42 True 6"

    # and back with --no-switch (JupyterLab's Move back): home restores the state in a kernel there, the
    # status names it, the session stays until the caller switches it, and that switch stops the host's
    run_in_kernel(runtime, there, "counter += 100")
    said = run_in_kernel(runtime, there, "%lift move back --no-switch", timeout=300)
    assert "the notebook's session switches to it" in said, said
    status = f"status?kernel={there}&path=train.ipynb"
    home_last = until(
        lambda: api(port, status, root="nblift/api")["kernel"].get("home_kernel"), 120, "home's kernel"
    )
    assert session_kernel(port, session["id"]) == there
    api(port, f"sessions/{session['id']}", "PATCH", {"kernel": {"id": home_last}})
    here = run_in_kernel(
        runtime, home_last, "import os\nprint(counter, bool(os.environ.get('SSH_CONNECTION')))"
    )
    assert here.strip() == "142 False"
    until(lambda: not _alive_kernel(port, there), 60, "the kernel on the host to stop")


def _alive_kernel(port: int, kernel_id: str) -> bool:
    return any(k["id"] == kernel_id for k in api(port, "kernels"))


def _try(runtime: Path, kernel_id: str, code: str) -> str | None:
    try:
        return run_in_kernel(runtime, kernel_id, code, timeout=30)
    except (AssertionError, RuntimeError, OSError, TimeoutError):
        time.sleep(1)
        return None


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("move back", "this kernel was not moved by nblift"),
        ("move gpu1", "cannot move to 'gpu1'"),
        ("move ssh:box", "moves a notebook's kernel that a Jupyter server on this machine runs"),
    ],
)
def test_a_move_that_cannot_happen_says_why(tmp_path, line, says):
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nblift")
    try:
        with pytest.raises(UsageError, match=says):
            shell.run_line_magic("lift", f"-C {tmp_path} {line}")
    finally:
        shell.run_line_magic("unload_ext", "nblift")
