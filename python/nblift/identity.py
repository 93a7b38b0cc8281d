"""Who acts: one name per person in the audit trail, whichever door they came through.

The Jupyter server knows a real identity when its identity provider has one (JupyterHub, a configured
provider); with a shared token it makes up an anonymous user (a random hex id, "Anonymous Io") that names
nobody, so it is not used. Everywhere else (a kernel, the command line) the person is `NBLIFT_USER`, else
JupyterHub's `JUPYTERHUB_USER`, else the login name: the same answer the server falls back to.
"""

from __future__ import annotations

import getpass
import os
import re
from typing import Any

_ANONYMOUS_ID = re.compile(r"[0-9a-f]{32}")


def jupyter_name(user: Any) -> str | None:
    """The name a Jupyter identity provider gave `user` (its `username`), or None when it is anonymous."""
    username = str(getattr(user, "username", "") or "").strip()
    if not username:
        return None
    generated = _ANONYMOUS_ID.fullmatch(username) and str(getattr(user, "name", "")).startswith("Anonymous ")
    return None if generated else username


def local_name() -> str:
    """Who acts outside the Jupyter server, or where it knows no real identity."""
    return os.environ.get("NBLIFT_USER") or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()


def actor(jupyter_user: Any = None) -> str:
    """The name recorded for whoever acts: Jupyter's real identity when there is one, else `local_name()`."""
    return jupyter_name(jupyter_user) or local_name()
