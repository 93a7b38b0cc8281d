"""Environments: capture the kernel's, pin it for the target machine, compare two, check before a push.

- `capture`: Python, OS, every installed distribution with its source, CUDA/driver/GPU, CPU/RAM (fast: reads
  the dist-info folders directly).
- `lock`: `pylock.toml` (PEP 751) and a hashed `requirements.txt` resolved with uv for the target platform;
  local-only packages built into `.nblift/bundle/wheels/`.
- `diff`: drift between the kernel, the lock and a snapshot's recorded environment, each with a severity.
- `preflight`: what would make a remote run fail, found before the push.
- `dockerfile` and `binder`: files generated from the lock.

Nothing here imports a heavy library at module level; credentials are removed from every URL at capture time.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..fsutil import open_temp, publish

#: Mode of the files written into the user's project (they are meant to be shared, committed and built).
PUBLIC_FILE_MODE = 0o644


def write_public(path: Path, data: bytes) -> bool:
    """Write `data` to `path` atomically (mode 0644); False (nothing written) when the bytes are unchanged."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)  # a project folder: the user's umask, not 0700
    with open_temp(path.parent) as (temp, fh):
        fh.write(data)
        os.fchmod(fh.fileno(), PUBLIC_FILE_MODE)
    publish(temp, path)
    return True
