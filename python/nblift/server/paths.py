"""Resolve a path sent by a browser against a root folder, refusing anything that escapes it."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

from ..errors import InvalidInput, NotFound

#: Longer paths or folder names than the file system takes are refused before any system call sees them.
MAX_PATH_BYTES = 4096
MAX_NAME_BYTES = 255


def resolve_inside(root: Path, requested: str) -> Path:
    """`requested` (a path relative to `root`, `/`-separated) as a real path inside `root`.

    Decodes percent-escapes until stable (so `%252e%252e` is seen as `..`), refuses absolute paths,
    backslashes and `..` segments, then checks the real path (symlinks resolved) is `root` or under
    `root` + separator, so `/store/run1` never admits `/store/run10`.
    """
    shown = requested if len(requested) <= 200 else requested[:200] + "..."
    decoded = requested
    for _ in range(4):
        again = unquote(decoded)
        if again == decoded:
            break
        decoded = again
    if "\x00" in decoded or "\\" in decoded:
        raise InvalidInput(f"path {shown!r} contains a forbidden character", hint="use / between folders")
    if decoded.startswith("/") or (len(decoded) > 1 and decoded[1] == ":"):
        raise InvalidInput(
            f"path {shown!r} must be relative to the server's root folder",
            hint="drop the leading / or drive",
        )
    if len(decoded.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise InvalidInput(
            f"path of {len(decoded)} characters is too long", hint=f"send a path under {MAX_PATH_BYTES} bytes"
        )
    parts = [p for p in decoded.split("/") if p not in ("", ".")]
    if any(len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        raise InvalidInput(
            "a folder or file name in the path is too long",
            hint=f"names are at most {MAX_NAME_BYTES} bytes",
        )
    if any(p == ".." or p.startswith("..;") or p.endswith(";") for p in parts):
        raise InvalidInput(f"path {shown!r} may not contain '..'", hint="send a path inside the root folder")
    real_root = Path(os.path.realpath(root))
    try:
        target = Path(os.path.realpath(real_root.joinpath(*parts)))
        exists = target.exists()
    except (OSError, ValueError) as exc:  # a name the file system refuses (too long after links, bad bytes)
        reason = getattr(exc, "strerror", None) or "not a valid name"  # never the absolute path
        raise InvalidInput(f"path {shown!r} cannot be used: {reason}", hint="send a shorter path") from None
    if target != real_root and not str(target).startswith(str(real_root) + os.sep):
        raise NotFound(
            f"path {shown!r} is not inside the server's root folder",
            hint="open files under the root folder",
        )
    if not exists:
        raise NotFound(f"path {shown!r} does not exist", hint="check the path; save the file first")
    return target
