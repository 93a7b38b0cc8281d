"""Resolve a path sent by a browser against a root folder, refusing anything that escapes it."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

from ..errors import InvalidInput, NotFound


def resolve_inside(root: Path, requested: str) -> Path:
    """`requested` (a path relative to `root`, `/`-separated) as a real path inside `root`.

    Decodes percent-escapes until stable (so `%252e%252e` is seen as `..`), refuses absolute paths,
    backslashes and `..` segments, then checks the real path (symlinks resolved) is `root` or under
    `root` + separator, so `/store/run1` never admits `/store/run10`.
    """
    decoded = requested
    for _ in range(4):
        again = unquote(decoded)
        if again == decoded:
            break
        decoded = again
    if "\x00" in decoded or "\\" in decoded:
        raise InvalidInput(f"path {requested!r} contains a forbidden character", hint="use / between folders")
    if decoded.startswith("/") or (len(decoded) > 1 and decoded[1] == ":"):
        raise InvalidInput(
            f"path {requested!r} must be relative to the server's root folder",
            hint="drop the leading / or drive",
        )
    parts = [p for p in decoded.split("/") if p not in ("", ".")]
    if any(p == ".." or p.startswith("..;") or p.endswith(";") for p in parts):
        raise InvalidInput(
            f"path {requested!r} may not contain '..'", hint="send a path inside the root folder"
        )
    real_root = Path(os.path.realpath(root))
    target = Path(os.path.realpath(real_root.joinpath(*parts)))
    if target != real_root and not str(target).startswith(str(real_root) + os.sep):
        raise NotFound(
            f"path {requested!r} is not inside the server's root folder",
            hint="open files under the root folder",
        )
    if not target.exists():
        raise NotFound(f"path {requested!r} does not exist", hint="check the path; save the file first")
    return target
