"""IPython front door: `%load_ext nblift` registers `%lift`."""

from __future__ import annotations

from typing import Any

from .lift import LiftMagics

__all__ = ["LiftMagics", "register", "unregister"]


def register(ipython: Any) -> None:
    ipython.register_magics(LiftMagics)


def unregister(ipython: Any) -> None:
    line_magics = ipython.magics_manager.magics.get("line", {})
    line_magics.pop("lift", None)
