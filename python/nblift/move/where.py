"""Where a notebook's kernel runs: here, or on the SSH host a move took it to (light: no SSH, no Jupyter)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

#: The kernel spec a move writes (one per target), in this user's Jupyter data folder.
SPEC_PREFIX = "nblift-ssh-"
#: Environment of a moved kernel: what it was moved from (JSON), for `%lift move back`.
MOVED_ENV = "NBLIFT_MOVED"
PROVISIONER = "nblift-ssh"


def _home() -> dict[str, Any]:
    return {"where": "home", "moved": False, "text": "this machine"}


def this_kernel() -> dict[str, Any]:
    """Where the kernel this code runs in is: a moved kernel knows from its environment."""
    try:
        moved = json.loads(os.environ.get(MOVED_ENV) or "null")
    except ValueError:
        moved = None
    if not isinstance(moved, dict) or not moved.get("target"):
        return _home()
    target, snapshot = str(moved["target"]), moved.get("snapshot", "?")
    text = f"{target} (moved there with snapshot {snapshot}; `%lift move back` brings it home)"
    return {"where": f"ssh:{target}", "moved": True, "text": text}


def of_kernel_spec(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """Where a kernel of a spec with this `metadata` runs (the server's view of a notebook's kernel)."""
    provisioner = (metadata or {}).get("kernel_provisioner") or {}
    if not isinstance(provisioner, Mapping) or provisioner.get("provisioner_name") != PROVISIONER:
        return _home()
    config = provisioner.get("config") or {}
    target = str(config.get("target") or "?")
    moved = bool(config.get("session_folder"))
    text = f"{target} ({'moved there; Move back brings it home' if moved else 'an SSH kernel'})"
    return {"where": f"ssh:{target}", "moved": moved, "text": text}
