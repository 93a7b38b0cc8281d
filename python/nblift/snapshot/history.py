"""Execution history: which cells ran in which order, what each assigned, and hidden-state warnings."""

from __future__ import annotations

import ast
import dataclasses
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class CellNames:
    """Names a cell's code binds (assign, import, def, class, for, with, walrus), deletes or reads."""

    assigned: frozenset[str]
    deleted: frozenset[str]
    loaded: frozenset[str]


def _cell_code(source: str) -> str:
    """The Python code of a cell, with IPython syntax (magics, `!cmd`, `x?`) turned into Python."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython is a dependency
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - a cell IPython itself cannot transform
        return source


#: Magics whose argument (or cell body) is Python code that runs in the user's namespace.
CODE_MAGICS = frozenset({"time", "timeit", "prun", "capture", "debug", "lprun"})


def _magic_code(node: ast.AST) -> list[str]:
    """The code a `get_ipython().run_line_magic('time', 'x = f()')` (or run_cell_magic) call runs."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return []
    if node.func.attr not in ("run_line_magic", "run_cell_magic") or not node.args:
        return []
    name = node.args[0]
    if not (isinstance(name, ast.Constant) and name.value in CODE_MAGICS):
        return []
    code = [a.value for a in node.args[1:] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if name.value == "timeit" or node.func.attr == "run_line_magic":
        code = [c.split(None, 1)[-1] if c.lstrip().startswith("-") else c for c in code]
    return code


def cell_names(source: str) -> CellNames:
    """What the cell binds, deletes and reads at module level (best effort on syntax errors)."""
    try:
        tree = ast.parse(_cell_code(source))
    except SyntaxError:
        return CellNames(frozenset(), frozenset(), frozenset())
    assigned: set[str] = set()
    deleted: set[str] = set()
    loaded: set[str] = set()
    for node in ast.walk(tree):
        for inner in _magic_code(node):
            names = cell_names(inner)
            assigned |= names.assigned
            deleted |= names.deleted
            loaded |= names.loaded
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Store):
                assigned.add(node.id)
            elif isinstance(node.ctx, ast.Del):
                deleted.add(node.id)
            else:
                loaded.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            assigned.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                assigned.add((alias.asname or alias.name).split(".", 1)[0])
        elif isinstance(node, ast.Global | ast.Nonlocal):
            assigned.update(node.names)
    return CellNames(frozenset(assigned), frozenset(deleted), frozenset(loaded))


@dataclasses.dataclass(frozen=True)
class Cell:
    """One executed cell: its execution count and source, in the order the kernel really ran it."""

    count: int
    source: str


def kernel_history(user_ns: Mapping[str, Any]) -> list[Cell]:
    """The kernel's executed cells from IPython's `In` list (index = execution count)."""
    inputs = user_ns.get("In") or user_ns.get("_ih") or []
    return [Cell(count, src) for count, src in enumerate(inputs) if count > 0 and isinstance(src, str)]


def defining_cells(history: Sequence[Cell]) -> dict[str, Cell]:
    """For each name, the last cell that bound it."""
    defining: dict[str, Cell] = {}
    for cell in history:
        names = cell_names(cell.source)
        for name in names.assigned:
            defining[name] = cell
        for name in names.deleted:
            defining.pop(name, None)
    return defining


def notebook_cells(notebook_json: bytes) -> list[tuple[int | None, str]]:
    """(execution count, source) of every code cell in a saved .ipynb, in document order."""
    try:
        document = json.loads(notebook_json)
    except ValueError:
        return []
    cells = []
    for cell in document.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        cells.append((cell.get("execution_count"), "".join(source) if isinstance(source, list) else source))
    return cells


def hidden_state_warnings(
    history: Sequence[Cell], defining: Mapping[str, Cell], names: Iterable[str], notebook_json: bytes | None
) -> list[str]:
    """Warnings a reader of the notebook would otherwise miss.

    - cells whose execution counts are not increasing in document order (run out of order);
    - variables whose defining cell is no longer in the notebook, or was edited after it ran.
    """
    if notebook_json is None:
        return []
    cells = notebook_cells(notebook_json)
    warnings: list[str] = []
    counts = [c for c, _ in cells if isinstance(c, int)]
    out_of_order = [b for a, b in itertools.pairwise(counts) if b < a]
    if out_of_order:
        shown = ", ".join(f"[{c}]" for c in out_of_order[:5])
        warnings.append(
            f"cells ran out of document order (for example {shown}); re-running top to bottom may differ"
        )
    by_count = {c: src.strip() for c, src in cells if isinstance(c, int)}
    sources = {src.strip() for _, src in cells}
    for name in sorted(names):
        cell = defining.get(name)
        if cell is None:
            continue
        if cell.source.strip() in sources:
            continue
        if cell.count in by_count:
            warnings.append(f"{name}: cell [{cell.count}] that defined it was edited after it ran")
        else:
            warnings.append(f"{name}: cell [{cell.count}] that defined it is no longer in the notebook")
    return warnings
