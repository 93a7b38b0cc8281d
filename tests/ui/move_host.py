"""An SSH host on loopback for the UI test that moves a session there and back: an OpenSSH server started with
the UI tests' server, its own root folder standing for the GPU host, and a project `move-project/` naming it
(`ssh:box`) with a lock. The host builds the lock's environment offline from the uv cache, as the integration
tests' hosts do."""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

from sshd_server import Sshd  # noqa: E402


def serve_move_project(root: Path) -> Path:
    """Start the host (stopped when the server exits) and write the project that names it; its folder."""
    folder = root / "move-project"
    (folder / ".nblift").mkdir(parents=True, mode=0o700)
    sshd = Sshd(Path(tempfile.mkdtemp(prefix="nblift-ui-sshd-")))
    atexit.register(sshd.stop)
    host_root = Path(tempfile.mkdtemp(prefix="nblift-ui-host-"))
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    python = getattr(sys, "_base_executable", sys.executable)
    (folder / "pyproject.toml").write_text(
        "[tool.nblift.ssh_hosts.box]\n"
        f'host = "127.0.0.1"\nport = {sshd.port}\nidentity_file = "{sshd.folder / "client"}"\n'
        f'known_hosts = "{sshd.folder / "known_hosts"}"\nroot = "{host_root}"\npython = "{python}"\n'
        f'uv = "{uv}"\noffline = true\n',
        encoding="utf-8",
    )
    (folder / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.11"\n', encoding="utf-8"
    )
    return folder
