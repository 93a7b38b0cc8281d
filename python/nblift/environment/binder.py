"""`binder/` files kept in step with the lock: what repo2docker (mybinder.org) reads.

repo2docker installs `binder/requirements.txt` with pip and picks Python from `binder/runtime.txt`
(`python-3.11`). Binder builds linux-x86_64 images from the repository alone, so packages that exist only in
this project's bundle (local wheels under `.nblift/`, which is not committed) are left out and named in a
comment, and a lock made for another platform is noted in the file rather than silently reused.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInput
from . import write_public

BINDER_DIR = "binder"
MARK = "# Written by nblift from the project's lock"
BINDER_PLATFORM = "linux-x86_64"


def binder_requirements(requirements_text: str, platform: str) -> str:
    """The lock's requirements without bundle-only wheels (binder cannot see `.nblift/`)."""
    out = [MARK + " (`nblift pin` rewrites it; edit the inputs, not this file)."]
    if platform != BINDER_PLATFORM:
        out.append(f"# Note: the lock was resolved for {platform}; binder runs {BINDER_PLATFORM}.")
    skipping = False
    left_out: list[str] = []
    body: list[str] = []
    for line in requirements_text.splitlines():
        if line.startswith("#") and not body:
            continue  # uv's header: replaced by ours
        if line.startswith("./.nblift/"):
            left_out.append(line.split()[0].rsplit("/", 1)[-1])
            skipping = True
            continue
        if skipping and line.startswith((" ", "\t")):
            continue  # the skipped entry's hash and annotation lines
        skipping = False
        body.append(line)
    if left_out:
        out.append("# Left out (built from local sources into the bundle, not in the repository):")
        out += [f"#   {name}" for name in left_out]
    return "\n".join(out + body).rstrip("\n") + "\n"


def _check_ours(path: Path, force: bool) -> None:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:300]
    except OSError:
        return
    if MARK not in head and not force:
        raise InvalidInput(
            f"{path} exists and was not written by nblift",
            hint="move it aside (nblift keeps binder files in step with the lock) or pass --force",
        )


def write_binder(
    root: Path, requirements_text: str, python: str, platform: str, *, force: bool = False
) -> list[str]:
    """Write `binder/requirements.txt` and `binder/runtime.txt`; the paths written (unchanged ones too)."""
    folder = root / BINDER_DIR
    reqs, runtime = folder / "requirements.txt", folder / "runtime.txt"
    _check_ours(reqs, force)
    runtime_text = f"python-{python}\n"
    try:
        current = runtime.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current is not None and not force and not current.strip().startswith("python-"):
        raise InvalidInput(f"{runtime} holds something other than a Python version", hint="pass --force")
    write_public(reqs, binder_requirements(requirements_text, platform).encode())
    write_public(runtime, runtime_text.encode())
    return [str(reqs), str(runtime)]


def write_binder_from_lock(root: Path, *, force: bool = False) -> list[str]:
    """Binder files from the project's current lock (`nblift env binder`)."""
    from .lock import read_lock

    lock = read_lock(root)
    try:
        text = (root / lock.requirements).read_text(encoding="utf-8")
    except OSError:
        raise InvalidInput(
            f"no {lock.requirements} beside the lock", hint="re-pin with `%lift pin`"
        ) from None
    return write_binder(root, text, lock.python or "3.11", lock.platform or BINDER_PLATFORM, force=force)
