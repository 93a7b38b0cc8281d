"""Project: the folder a notebook lives in, and nblift's state folder (`.nblift/`) inside it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path

from .errors import InvalidInput
from .settings import Settings, load_settings

STATE_DIR_MODE = 0o700


def _find_root(start: Path) -> Path:
    """The nearest folder at or above `start` that already holds nblift state; else `start` itself."""
    for folder in (start, *start.parents):
        if (folder / ".nblift").is_dir():
            return folder
    return start


def notebook_folder(environ: Mapping[str, str] | None = None) -> Path:
    """The folder of the notebook this kernel serves (`kernel_session`), or the current directory."""
    from .kernel_session import kernel_notebook

    notebook = kernel_notebook(environ)
    if notebook is not None and notebook.parent.is_dir():
        return notebook.parent.resolve()
    return Path.cwd().resolve()


@dataclasses.dataclass(frozen=True)
class Project:
    """A project folder and its settings. Creating one touches nothing on disk."""

    root: Path
    settings: Settings

    @classmethod
    def discover(cls, start: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Project:
        """The project for `start` (a folder or a notebook path), or for the running notebook."""
        if start is None:
            folder = notebook_folder(environ)
        else:
            path = Path(start).expanduser()
            if not path.exists():
                raise InvalidInput(f"{path} does not exist", hint="pass an existing folder or notebook")
            folder = (path if path.is_dir() else path.parent).resolve()
        root = _find_root(folder)
        return cls(root=root, settings=load_settings(root, environ))

    @cached_property
    def state_dir(self) -> Path:
        state = (self.root / self.settings.state_dir).resolve()
        if not state.is_relative_to(self.root):
            raise InvalidInput(
                f"state_dir {self.settings.state_dir!r} points outside the project {self.root}",
                hint="use a folder name inside the project, such as .nblift",
            )
        return state

    @property
    def objects_dir(self) -> Path:
        return self.state_dir / "objects"

    def ensure_state_dir(self) -> Path:
        """Create the state folder (0700) if missing and return it."""
        self.state_dir.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
        self.state_dir.chmod(STATE_DIR_MODE)
        return self.state_dir
