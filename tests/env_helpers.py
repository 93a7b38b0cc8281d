"""Helpers for the environment tests: tiny local packages, a real virtual environment holding them (editable,
git+file:// and local-wheel installs), and a loopback package index that demands credentials."""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from nblift.environment.wheels import find_uv


def uv() -> str | None:
    try:
        return find_uv()
    except Exception:  # noqa: BLE001
        return None


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without pip/uv index settings (this machine's pip.conf names local mirrors)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_")) and k not in ("PYTHONPATH",)
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env.update(extra)
    return env


def make_package(
    folder: Path,
    name: str,
    version: str = "0.1.0",
    deps: tuple[str, ...] = (),
    requires_python: str = ">=3.8",
) -> Path:
    """A hatchling project `name` with one module of the same name."""
    folder.mkdir(parents=True, exist_ok=True)
    dep_list = ", ".join(f'"{d}"' for d in deps)
    (folder / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{dep_list}]\n'
        f'requires-python = "{requires_python}"\n'
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        f'[tool.hatch.build.targets.wheel]\npackages = ["{name}"]\n'
    )
    (folder / name).mkdir(exist_ok=True)
    (folder / name / "__init__.py").write_text(f"VALUE = {name!r}\n")
    return folder


def run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd}: {out.stderr}"
    return out.stdout


def git_repo(folder: Path) -> str:
    """Commit everything in `folder` to a fresh repository; the commit id."""
    env = clean_env(
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.com",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.com",
    )
    run(["git", "init", "-q", "-b", "main"], folder, env)
    run(["git", "add", "-A"], folder, env)
    run(["git", "commit", "-q", "-m", "init"], folder, env)
    return run(["git", "rev-parse", "HEAD"], folder, env).strip()


def build_wheel(source: Path, out: Path) -> Path:
    run([uv() or "uv", "build", "--wheel", "-q", "-o", str(out), str(source)])
    return next(out.glob("*.whl"))


def make_venv(tmp: Path) -> dict[str, object]:
    """A venv with `editpkg` (editable), `gitpkg` (git+file://), `wheelpkg` (local wheel) and six."""
    tool = uv() or "uv"
    edit = make_package(tmp / "editpkg", "editpkg", deps=("six",))
    repo = make_package(tmp / "gitrepo", "gitpkg", "0.2.0")
    commit = git_repo(repo)
    wheel = build_wheel(make_package(tmp / "wheelsrc", "wheelpkg", "0.3.0"), tmp / "dist")
    venv = tmp / "venv"
    run([tool, "venv", "-q", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    run(
        [
            tool,
            "pip",
            "install",
            "-q",
            "--python",
            str(python),
            "-e",
            str(edit),
            f"gitpkg @ git+{repo.as_uri()}",
            str(wheel),
            "six",
        ]
    )
    return {"python": python, "edit": edit, "repo": repo, "commit": commit, "wheel": wheel}


class WheelIndex:
    """A PEP 503 index on 127.0.0.1 serving `wheels`; with `user` and `password`, it answers 401 without
    those Basic credentials."""

    def __init__(self, wheels: list[Path], user: str | None = None, password: str | None = None) -> None:
        files = {w.name: w for w in wheels}
        projects: dict[str, list[Path]] = {}
        for wheel in wheels:
            projects.setdefault(wheel.name.split("-")[0].replace("_", "-"), []).append(wheel)
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode() if user else None
        self.requests = 0
        index = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def do_GET(self) -> None:
                self._answer(head=False)

            def _answer(self, head: bool) -> None:
                index.requests += 1
                if expected and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="test"')
                    self.end_headers()
                    return
                name = self.path.rstrip("/").removeprefix("/simple/")
                if self.path.startswith("/simple/") and name in projects:
                    links = ((w.name, hashlib.sha256(w.read_bytes()).hexdigest()) for w in projects[name])
                    body = "".join(f'<a href="/files/{n}#sha256={d}">{n}</a>' for n, d in links).encode()
                    kind = "text/html"
                elif self.path.startswith("/files/") and self.path.removeprefix("/files/") in files:
                    body = files[self.path.removeprefix("/files/")].read_bytes()
                    kind = "application/octet-stream"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        auth = f"{user}:{password}@" if user else ""
        self.url = f"http://{auth}127.0.0.1:{self.port}/simple/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WheelIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class AuthIndex(WheelIndex):
    """A private index serving one wheel, answering 401 without the right Basic credentials."""

    def __init__(self, wheel: Path, user: str, password: str) -> None:
        super().__init__([wheel], user, password)
        self.wheel = wheel


def require_tools() -> None:
    """The real-environment tests need uv and git: `./dev test` installs uv, and git made the checkout."""
    assert uv() is not None, "uv is not installed: run the tests through `./dev test`, which installs it"
    assert shutil.which("git") is not None, "git is not installed: apt-get install git"
