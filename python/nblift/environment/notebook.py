"""What a notebook uses, read from its saved cells without running them: the modules its code imports, the
files it reads (string literals passed to open, pd.read_*, np.load, Path, ...), the folders it adds to
sys.path; and which installed distributions provide an import name (top_level.txt, RECORD, editable paths).

Cells are parsed with ast after IPython's TransformerManager, as the snapshot history does, so magics and
`!commands` do not hide the code; `%time`/`%%timeit` bodies are parsed too.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInput, NotFound
from ..project import Project
from ..snapshot.history import _cell_code
from .capture import Distribution, scan_distributions

#: Call names whose first string argument is a path the notebook reads.
READERS = frozenset(
    {"open", "Path", "load", "loadtxt", "genfromtxt", "fromfile", "memmap", "imread", "read_image"}
)
_SKIP_IMPORTS = frozenset({"__future__", "__main__"})
_CODE_MAGICS = frozenset({"time", "timeit", "prun", "capture", "debug"})


def find_notebook(
    project: Project, notebook: Path | str | None, environ: Mapping[str, str] | None = None
) -> Path:
    """The notebook to check: the one named, the kernel's (`kernel_session`: a renamed one followed), or the
    project's only one."""
    from ..kernel_session import kernel_notebook

    if notebook is None:
        notebook = kernel_notebook(environ)
    if notebook is not None:
        path = Path(notebook).expanduser()
        path = path if path.is_absolute() else (Path.cwd() / path if path.exists() else project.root / path)
        if not path.is_file():
            raise NotFound(f"no notebook at {path}", hint="pass --notebook PATH")
        return path.resolve()
    found = sorted(p for p in project.root.glob("*.ipynb"))
    if len(found) != 1:
        raise InvalidInput(
            f"{len(found) or 'no'} notebooks in {project.root}: which one?", hint="pass --notebook PATH"
        )
    return found[0].resolve()


def cells_of(notebook: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(notebook.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"{notebook} is not a readable notebook ({exc})", hint="save it from JupyterLab"
        ) from None
    return [c for c in document.get("cells", []) if isinstance(c, dict)]


def source_of(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def code_trees(cells: Sequence[Mapping[str, Any]]) -> Iterator[tuple[int, ast.AST]]:
    """(cell index, parsed code) of each code cell, IPython syntax included (unparsable cells skipped)."""
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        try:
            yield index, ast.parse(_cell_code(source_of(cell)))
        except SyntaxError:
            continue


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _first_str(node: ast.Call) -> str | None:
    args = [
        *node.args,
        *(k.value for k in node.keywords if k.arg in ("path", "fname", "filepath_or_buffer", "file")),
    ]
    first = args[0] if args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


@dataclasses.dataclass
class NotebookUse:
    """What the notebook's code imports, reads and adds to sys.path, with the first cell of each."""

    imports: dict[str, int]
    reads: dict[str, int]
    sys_path: list[str]


def notebook_use(cells: Sequence[Mapping[str, Any]]) -> NotebookUse:
    imports: dict[str, int] = {}
    reads: dict[str, int] = {}
    sys_path: list[str] = []
    for index, tree in code_trees(cells):
        pending = [tree]
        while pending:
            _walk_use(pending.pop(), index, imports, reads, sys_path, pending)
    for skip in _SKIP_IMPORTS:
        imports.pop(skip, None)
    return NotebookUse(imports, reads, sys_path)


def _magic_code(node: ast.Call) -> ast.AST | None:
    """The code inside `%time ...`/`%%timeit` and the like (IPython turned it into a string argument)."""
    name = _call_name(node)
    position = {"run_line_magic": 1, "run_cell_magic": 2}.get(name)
    if position is None or len(node.args) <= position:
        return None
    magic, code = node.args[0], node.args[position]
    if not (isinstance(magic, ast.Constant) and magic.value in _CODE_MAGICS):
        return None
    if not (isinstance(code, ast.Constant) and isinstance(code.value, str)):
        return None
    try:
        return ast.parse(_cell_code(code.value))
    except SyntaxError:
        return None


def _walk_use(
    tree: ast.AST,
    index: int,
    imports: dict[str, int],
    reads: dict[str, int],
    sys_path: list[str],
    pending: list[ast.AST],
) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports.setdefault(alias.name.split(".")[0], index)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imports.setdefault(node.module.split(".")[0], index)
        elif isinstance(node, ast.Call):
            inner = _magic_code(node)
            if inner is not None:
                pending.append(inner)
                continue
            name = _call_name(node)
            if name in ("append", "insert") and ast.unparse(node.func).startswith("sys.path."):
                literal = node.args[-1] if node.args else None
                if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                    sys_path.append(literal.value)
                continue
            value = _first_str(node)
            if value is None:
                continue
            if name in ("import_module", "__import__"):
                imports.setdefault(value.split(".")[0], index)
            elif (name in READERS or name.startswith("read_")) and "://" not in value:
                reads.setdefault(value, index)


# -- imports and distributions -----------------------------------------------------------------------------


def _import_names(dist: Distribution) -> set[str]:
    """Top-level import names a distribution provides: top_level.txt, else RECORD, else its editable path."""
    info = Path(dist.location)
    try:
        return {line.strip() for line in (info / "top_level.txt").read_text().splitlines() if line.strip()}
    except OSError:
        pass
    names: set[str] = set()
    try:
        record = (info / "RECORD").read_text(encoding="utf-8", errors="replace")
    except OSError:
        record = ""
    for line in record.splitlines():
        first = line.split(",", 1)[0].split("/", 1)
        top = first[0]
        if top.endswith((".dist-info", ".data", ".pth")) or top in ("..", "__pycache__") or not top:
            continue
        if len(first) == 1:
            if top.endswith((".py", ".so", ".pyd")):
                names.add(top.split(".", 1)[0])
        else:
            names.add(top)
    if dist.path and Path(dist.path).is_dir():  # an editable install: its packages are in its source tree
        for base in (Path(dist.path) / "src", Path(dist.path)):
            for child in base.glob("*/__init__.py") if base.is_dir() else ():
                names.add(child.parent.name)
            for child in base.glob("*.py") if base.is_dir() and base.name == "src" else ():
                names.add(child.stem)
    return {n for n in names if n.isidentifier()}


def import_map(dists: Sequence[Distribution]) -> dict[str, set[str]]:
    """Import name -> canonical names of the installed distributions that provide it."""
    mapping: dict[str, set[str]] = {}
    for dist in dists:
        for name in _import_names(dist):
            mapping.setdefault(name, set()).add(dist.key)
    return mapping


def imported_distributions(notebook: Path, dists: Sequence[Distribution] | None = None) -> list[str]:
    """Canonical names of the installed distributions the notebook imports."""
    mapping = import_map(scan_distributions() if dists is None else dists)
    use = notebook_use(cells_of(notebook))
    return sorted({d for name in use.imports for d in mapping.get(name, ())})
