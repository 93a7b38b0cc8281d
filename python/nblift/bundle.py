"""Bundle: what a remote run needs (the notebook, its lock, its local modules, the files it reads), as a
manifest of content hashes in the object store. Unchanged work gives the same bundle and stores nothing new.

`.nbliftignore` in the project root (gitignore syntax: `dir/`, `*`, `**`, `?`, leading `/`, `!negation`)
excludes files; a parent folder that is excluded cannot have files re-included, as in git.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .environment.lock import LOCK_FILE, OWN_REQUIREMENTS_FILE, REQUIREMENTS_FILE
from .environment.notebook import cells_of, notebook_use
from .errors import InvalidInput
from .fsutil import atomic_write, ensure_dir
from .project import Project
from .render import human_bytes
from .store import ObjectStore, check_oid, hash_file

MANIFEST_FORMAT = "nblift.bundle/1"
IGNORE_FILE = ".nbliftignore"
_SKIP_DIRS = frozenset({"__pycache__", ".git", ".ipynb_checkpoints"})
_SKIP_SUFFIXES = frozenset({".pyc", ".pyo"})


@dataclasses.dataclass(frozen=True)
class Bundle:
    id: str
    files: dict[str, str]
    size: int
    new_bytes: int

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- .nbliftignore ---------------------------------------------------------------------------------------


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body[0] == "!" else body).replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


@dataclasses.dataclass(frozen=True)
class IgnoreRules:
    """Parsed `.nbliftignore` rules: (regex, negated, folders only), last match wins."""

    rules: tuple[tuple[re.Pattern[str], bool, bool], ...]

    @classmethod
    def parse(cls, text: str) -> IgnoreRules:
        rules = []
        for raw in text.splitlines():
            line = raw.rstrip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line[1:] if negated else line.removeprefix("\\")
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            line = line.lstrip("/")
            if not line:
                continue
            prefix = "" if anchored else "(?:.*/)?"
            rules.append((re.compile(f"^{prefix}{_glob_regex(line)}$"), negated, dir_only))
        return cls(tuple(rules))

    @classmethod
    def load(cls, root: Path) -> IgnoreRules:
        path = root / IGNORE_FILE
        return cls.parse(path.read_text(encoding="utf-8")) if path.is_file() else cls(())

    def _match(self, path: str, is_dir: bool) -> bool:
        ignored = False
        for regex, negated, dir_only in self.rules:
            if (is_dir or not dir_only) and regex.match(path):
                ignored = not negated
        return ignored

    def ignores(self, relpath: str) -> bool:
        """Whether the project-relative POSIX file path is excluded (by itself or by a parent folder)."""
        parts = relpath.split("/")
        for n in range(1, len(parts)):
            if self._match("/".join(parts[:n]), is_dir=True):
                return True
        return self._match(relpath, is_dir=False)


# -- what goes in --------------------------------------------------------------------------------------


def walk_files(folder: Path) -> Iterator[Path]:
    """Files under `folder`, sorted, without hidden ones, caches and bytecode."""
    for current, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(names):
            if not name.startswith(".") and Path(name).suffix not in _SKIP_SUFFIXES:
                yield Path(current) / name


def module_imports(path: Path) -> set[str]:
    """Top-level names a Python file imports (absolute imports; relative ones stay inside its package)."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _local_modules(names: set[str], folders: list[Path]) -> Iterator[Path]:
    """The files of local modules and packages the notebook imports, and of those they import in turn."""
    pending, seen = sorted(names), set(names)
    while pending:
        name = pending.pop(0)
        if name in sys.stdlib_module_names or name in sys.builtin_module_names:
            continue
        for folder in folders:
            module, package = folder / f"{name}.py", folder / name
            files = [module] if module.is_file() else []
            if not files and package.is_dir() and any(package.glob("*.py")):
                files = list(walk_files(package))
            if files:
                yield from files
                for path in files:
                    for found in sorted(module_imports(path) - seen) if path.suffix == ".py" else ():
                        seen.add(found)
                        pending.append(found)
                break


def _search_folders(project: Project, notebook: Path, sys_path: list[str]) -> list[Path]:
    """Where the notebook's imports are looked for: its folder, the project root, and the folders the notebook
    adds to sys.path (those inside the project)."""
    nb_dir, root = notebook.parent, project.root.resolve()
    extra = [(nb_dir / entry).resolve() for entry in sys_path]
    return list(dict.fromkeys([nb_dir, root, *(p for p in extra if p.is_dir() and p.is_relative_to(root))]))


def _candidates(project: Project, notebook: Path) -> Iterator[Path]:
    root, nb_dir = project.root, notebook.parent
    yield notebook
    for lock in (LOCK_FILE, REQUIREMENTS_FILE, OWN_REQUIREMENTS_FILE):
        for folder in dict.fromkeys((nb_dir, root)):
            if (folder / lock).is_file():
                yield folder / lock
    use = notebook_use(cells_of(notebook))
    yield from _local_modules(set(use.imports), _search_folders(project, notebook, use.sys_path))
    for literal in use.reads:
        path = Path(literal).expanduser()
        path = path if path.is_absolute() else nb_dir / path
        try:
            if path.is_file():
                yield path
            elif path.is_dir() and path.resolve() != root and not project.state_dir.is_relative_to(path):
                yield from walk_files(path)
        except OSError:
            continue


def _relative(path: Path, root: Path) -> str | None:
    """The project-relative POSIX path of `path`, or None when it (or its symlink target) is outside."""
    if not path.resolve().is_relative_to(root):
        return None
    plain = Path(os.path.normpath(path.absolute()))
    rel = plain.relative_to(root) if plain.is_relative_to(root) else path.resolve().relative_to(root)
    return rel.as_posix()


def _too_big(message: str, sizes: dict[str, int], limit_name: str) -> InvalidInput:
    largest = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    names = ", ".join(f"{rel} ({human_bytes(size)})" for rel, size in largest)
    return InvalidInput(
        f"{message}; largest: {names}",
        hint=f"add them to {IGNORE_FILE} in the project root, or raise {limit_name}",
    )


def build_bundle(
    project: Project,
    notebook: Path,
    *,
    max_file_bytes: int = 100 << 20,
    max_total_bytes: int = 2 << 30,
) -> Bundle:
    """Hash the notebook and everything it needs into the store; return the bundle (its manifest's id)."""
    root = project.root.resolve()
    notebook = (notebook if notebook.is_absolute() else root / notebook).absolute()
    if not notebook.is_file():
        raise InvalidInput(f"no notebook at {notebook}", hint="pass the path of a saved notebook")
    notebook_rel = _relative(notebook, root)
    if notebook_rel is None:
        raise InvalidInput(f"{notebook} is outside the project {root}", hint="open it from its project")
    ignore = IgnoreRules.load(root)
    state_dir = project.state_dir
    chosen: dict[str, Path] = {}
    outside: list[str] = []
    for path in _candidates(project, notebook):
        rel = _relative(path, root)
        if rel is None:
            outside.append(str(path))
        elif rel == notebook_rel or not (ignore.ignores(rel) or path.resolve().is_relative_to(state_dir)):
            chosen.setdefault(rel, path)
    if outside:
        raise InvalidInput(
            f"the notebook uses files outside the project {root}: {', '.join(sorted(set(outside)))}",
            hint="copy them into the project (a symlink must point inside it), or read them from a URL",
        )
    sizes = {rel: path.stat().st_size for rel, path in chosen.items()}
    over = {rel: size for rel, size in sizes.items() if size > max_file_bytes}
    if over:
        raise _too_big(f"{len(over)} file(s) over {human_bytes(max_file_bytes)}", over, "max_file_bytes")
    total = sum(sizes.values())
    if total > max_total_bytes:
        raise _too_big(
            f"the bundle is {human_bytes(total)}, over {human_bytes(max_total_bytes)}",
            sizes,
            "max_total_bytes",
        )
    store = ObjectStore(project.ensure_state_dir())
    files: dict[str, str] = {}
    entries: dict[str, dict[str, Any]] = {}
    for rel in sorted(chosen):
        oid = hash_file(chosen[rel])
        files[rel] = oid if store.has(oid) else store.put_file(chosen[rel])
        entries[rel] = {"oid": oid, "size": sizes[rel]}
        if chosen[rel].stat().st_mode & stat.S_IXUSR:
            entries[rel]["exec"] = True  # scripts stay runnable where the bundle is unpacked
    manifest = {"format": MANIFEST_FORMAT, "notebook": notebook_rel, "files": entries}
    bundle_id = store.put_bytes(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode())
    store.set_ref("bundles", bundle_id, [bundle_id, *files.values()])
    return Bundle(id=bundle_id, files=files, size=total, new_bytes=store.bytes_written)


# -- materialize -----------------------------------------------------------------------------------------


def _safe_target(destination: Path, rel: object) -> Path:
    bad = InvalidInput(f"bundle entry {rel!r} is not a safe relative path", hint="the manifest is damaged")
    if not isinstance(rel, str) or not rel or "\\" in rel or "\0" in rel:
        raise bad
    posix = PurePosixPath(rel)
    if posix.is_absolute() or PureWindowsPath(rel).drive or any(p in ("..", ".") for p in posix.parts):
        raise bad
    target = destination.joinpath(*posix.parts)
    if not target.resolve().is_relative_to(destination.resolve()):
        raise bad
    return target


def read_manifest(store: ObjectStore, bundle_id: str) -> dict[str, Any]:
    """The manifest of bundle `bundle_id`: `notebook` (its path in the bundle) and `files`."""
    manifest = json.loads(store.get_bytes(check_oid(bundle_id)))
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise InvalidInput(f"{bundle_id} is not a bundle manifest", hint="pass the id build_bundle returned")
    return manifest


def materialize(store: ObjectStore, bundle_id: str, destination: Path) -> Path:
    """Write the bundle's files under `destination` (every object verified, every path kept inside)."""
    manifest = read_manifest(store, bundle_id)
    entries = manifest.get("files")
    if not isinstance(entries, dict):
        raise InvalidInput(f"bundle {bundle_id} has no file list", hint="the manifest is damaged")
    plan = [
        (
            _safe_target(destination, rel),
            check_oid(entry.get("oid") if isinstance(entry, dict) else None),
            isinstance(entry, dict) and entry.get("exec") is True,
        )
        for rel, entry in entries.items()
    ]
    ensure_dir(destination)
    for target, oid, executable in plan:
        data = store.get_bytes(oid)
        ensure_dir(target.parent)
        if not target.resolve().is_relative_to(destination.resolve()):
            raise InvalidInput(f"{target} escapes {destination}", hint="remove symlinks from the destination")
        atomic_write(target, data)
        if executable:
            target.chmod(0o700)
    return destination
