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


def _cells(inputs: Sequence[object]) -> list[Cell]:
    """Cells from an IPython input list whose index is the execution count (index 0 is a placeholder)."""
    return [Cell(count, src) for count, src in enumerate(inputs) if count > 0 and isinstance(src, str)]


def kernel_history(user_ns: Mapping[str, Any]) -> list[Cell]:
    """The kernel's executed cells from IPython's `In` list (index = execution count).

    `In` holds the TRANSFORMED source (`%timeit x` is `get_ipython().run_line_magic('timeit', 'x')`), not
    what the user typed: prefer `kernel_history_raw`, which a saved notebook can be compared with.
    """
    inputs = user_ns.get("In") or user_ns.get("_ih") or []
    return _cells(inputs)


def cell_seconds(shell: Any) -> dict[int, float]:
    """How long each cell of this kernel ran (execution count -> seconds), as the cell hook measured it."""
    seconds: dict[int, float] = shell.__dict__.setdefault("_nblift_cell_seconds", {})
    return seconds


def timed_cells(history: Sequence[Mapping[str, Any]], sources: Sequence[str]) -> tuple[float | None, int]:
    """The time a notebook's code cells (`sources`, in order) took when they last ran in a snapshot's
    `history` (entries with `source` and `seconds`): their sum, or None when a cell has no timing; and how
    many were timed."""
    last: dict[str, float] = {}
    for cell in history:
        if isinstance(cell.get("seconds"), (int, float)):
            last[str(cell.get("source", "")).strip()] = float(cell["seconds"])
    wanted = [s.strip() for s in sources if s.strip()]
    found = [last[s] for s in wanted if s in last]
    return (sum(found) if wanted and len(found) == len(wanted) else None), len(found)


def kernel_history_raw(shell: Any) -> list[Cell]:
    """The kernel's executed cells as the user typed them (magics, `!cmd`, `x?` unchanged).

    Reads `shell.history_manager.input_hist_raw` (index = execution count; IPython strips each cell's
    trailing newlines); a shell without a history manager falls back to `user_ns['In']`.
    """
    raw = getattr(getattr(shell, "history_manager", None), "input_hist_raw", None)
    if isinstance(raw, Sequence) and not isinstance(raw, str):
        return _cells(raw)
    return kernel_history(getattr(shell, "user_ns", None) or {})


def defining_cells(history: Sequence[Cell]) -> dict[str, Cell]:
    """For each name, the last cell that bound it (raw or transformed cells: `cell_names` reads both)."""
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


def normalized_source(source: str) -> str:
    """`source` as compared with a saved notebook: each line's trailing whitespace and the surrounding
    whitespace dropped, line endings unified (IPython strips trailing newlines, editors add or keep them)."""
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def hidden_state_warnings(
    history: Sequence[Cell], defining: Mapping[str, Cell], names: Iterable[str], notebook_json: bytes | None
) -> list[str]:
    """Warnings a reader of the notebook would otherwise miss.

    - cells whose execution counts are not increasing in document order (run out of order);
    - variables whose defining cell is no longer in the notebook, or was edited after it ran.

    `history` should be the raw history (`kernel_history_raw`): it is compared with the raw sources the
    notebook file holds, ignoring trailing whitespace. A cell that does not match raw is also compared
    after IPython's transformation on both sides, so a transformed history (`kernel_history`, with
    `get_ipython().run_line_magic(...)` for `%magic`) never reports a magic cell as edited either.
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
    by_count = {c for c, _ in cells if isinstance(c, int)}
    sources = {normalized_source(src) for _, src in cells}
    transformed: set[str] | None = None  # the notebook's cells as IPython runs them, made when first needed
    for name in sorted(names):
        cell = defining.get(name)
        if cell is None or normalized_source(cell.source) in sources:
            continue
        if transformed is None:
            transformed = {normalized_source(_cell_code(src)) for _, src in cells}
        if normalized_source(_cell_code(cell.source)) in transformed:
            continue
        if cell.count in by_count:
            warnings.append(f"{name}: cell [{cell.count}] that defined it was edited after it ran")
        else:
            warnings.append(f"{name}: cell [{cell.count}] that defined it is no longer in the notebook")
    return warnings
