"""Which notebook this kernel serves, now: a renamed or moved notebook is followed.

Jupyter tells a kernel its notebook once, when it starts it (`JPY_SESSION_NAME`); renaming the notebook in
JupyterLab changes the server's session, not the kernel's environment. So the kernel asks the Jupyter servers
running on this machine (their `jpserver-*.json` files in Jupyter's runtime folder: URL, token, root folder)
for the session of its own kernel id, and only falls back to `JPY_SESSION_NAME` when none answers. The answer
is reused for a moment: every verb asks, renames are rare.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .move.where import MOVED_ENV

#: How long an answer of the server is reused, and how long one server may take to answer.
REUSE_S = 2.0
ASK_TIMEOUT_S = 0.5

_answer: tuple[float, Path | None] | None = None


def kernel_id() -> str | None:
    """This kernel's id (from its connection file), or None outside a kernel ipykernel started."""
    if "ipykernel" not in sys.modules:
        return None
    try:
        from ipykernel.connect import get_connection_file

        name = Path(get_connection_file()).name
    except Exception:  # noqa: BLE001 - not a running kernel app: no kernel id
        return None
    return name.removeprefix("kernel-").removesuffix(".json") if name.startswith("kernel-") else None


def find_session(kernel_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(server, session) for `kernel_id`: the Jupyter server of this machine that runs it (its
    `jpserver-*.json`: url, token, root_dir) and the session model it keeps for it; None when none answers."""
    import urllib.request

    from jupyter_core.paths import jupyter_runtime_dir

    files = sorted(Path(jupyter_runtime_dir()).glob("jpserver-*.json"), key=os.path.getmtime, reverse=True)
    for info_file in files:
        try:
            info = json.loads(info_file.read_text())
            url = str(info["url"])
            if not url.startswith(("http://", "https://")):
                continue
            headers = {"Authorization": f"token {info.get('token', '')}"}
            request = urllib.request.Request(url.rstrip("/") + "/api/sessions", headers=headers)  # noqa: S310
            with urllib.request.urlopen(request, timeout=ASK_TIMEOUT_S) as reply:  # noqa: S310 - http(s) only
                sessions = json.load(reply)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a stale file of a server that is gone, or one that does not answer
        for session in sessions if isinstance(sessions, list) else []:
            if (session.get("kernel") or {}).get("id") == kernel_id:
                return info, session
    return None


def _ask_servers(kernel_id: str) -> Path | None:
    """The notebook of `kernel_id`'s session on a server of this machine, or None."""
    found = find_session(kernel_id)
    if found is None or not str(found[1].get("path", "")).endswith(".ipynb"):
        return None
    info, session = found
    return Path(str(info.get("root_dir") or Path.cwd())).expanduser() / str(session["path"])


def kernel_notebook(environ: Mapping[str, str] | None = None, *, ask: bool = True) -> Path | None:
    """The notebook this kernel serves as the Jupyter server knows it now, else as it was when the kernel
    started (`JPY_SESSION_NAME`, relative to the current folder when relative); None outside a notebook.

    `ask=False` uses the last answer without asking (a forked snapshot child: no import, no socket). A kernel
    that `%lift move` started on a host never asks: the servers it could find there are not the one serving
    its notebook (on a host that shares home's files, home's server names the notebook at home), and its
    notebook is the one in the session's copy of the project, which `JPY_SESSION_NAME` names."""
    global _answer
    environ = os.environ if environ is None else environ
    if ask and not environ.get(MOVED_ENV) and (kid := kernel_id()) is not None:
        now = time.monotonic()
        if _answer is None or now - _answer[0] > REUSE_S:
            _answer = (now, _ask_servers(kid))
    if _answer is not None and _answer[1] is not None:
        return _answer[1]
    session = environ.get("JPY_SESSION_NAME", "")
    if not session.endswith(".ipynb"):
        return None
    path = Path(session).expanduser()
    return path if path.is_absolute() else Path.cwd() / path
