"""Execution history read as the user typed it, and hidden-state warnings that compare like with like.

IPython keeps two input lists: `In`/`_ih` holds each cell TRANSFORMED (`%timeit x` is
`get_ipython().run_line_magic('timeit', 'x')`), `history_manager.input_hist_raw` holds it as typed. A saved
notebook holds what was typed, so only the raw history can be compared with it.
"""

from __future__ import annotations

import types
from typing import Any

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

from nblift.snapshot.history import (
    Cell,
    defining_cells,
    hidden_state_warnings,
    kernel_history,
    kernel_history_raw,
    normalized_source,
)

# Cells with every kind of IPython syntax, as a user types them, each binding a variable.
MAGIC_CELLS = [
    "%matplotlib inline\nimport math",
    "%timeit -n1 -r1 math.sqrt(2)\nroot = math.sqrt(2)",
    "%%time\ntimed = sum(range(10))\n",
    "!echo hi\ngreeting = 'hi'",
    "files = !ls",
    "helped = 2\nhelped?",
    "%time clock = 1 + 1",
    "plain = 1\nsquare = plain * plain",
]
NAMES = ["math", "root", "timed", "greeting", "files", "helped", "clock", "plain", "square"]


def _shell(raw_cells: list[str], *, history_manager: bool = True) -> Any:
    """A stand-in for an IPython shell after running `raw_cells` ([1], [2], ... in order).

    As IPython does: `In` holds each cell transformed, `input_hist_raw` as typed; both without the trailing
    newline, index 0 is an empty placeholder.
    """
    transform = TransformerManager().transform_cell
    parsed = ["", *(transform(c).rstrip("\n") for c in raw_cells)]
    raw = ["", *(c.rstrip("\n") for c in raw_cells)]
    manager = types.SimpleNamespace(input_hist_raw=raw, input_hist_parsed=parsed) if history_manager else None
    return types.SimpleNamespace(history_manager=manager, user_ns={"In": parsed, "_ih": parsed})


def _notebook(cells: list[tuple[int | None, str]]) -> bytes:
    nb = nbformat.v4.new_notebook()
    for count, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.execution_count = count
        nb.cells.append(cell)
    return nbformat.writes(nb).encode()


def _hidden_state(history: list[Cell], document: bytes) -> list[str]:
    return hidden_state_warnings(history, defining_cells(history), NAMES, document)


def test_raw_history_is_what_the_user_typed() -> None:
    shell = _shell(MAGIC_CELLS)
    history = kernel_history_raw(shell)
    assert [c.count for c in history] == list(range(1, len(MAGIC_CELLS) + 1))
    assert [c.source for c in history] == [c.rstrip("\n") for c in MAGIC_CELLS]
    assert not any("get_ipython()" in c.source for c in history)
    # the transformed history is still there for other callers
    assert "get_ipython().run_line_magic('timeit'" in kernel_history(shell.user_ns)[1].source


def test_raw_history_falls_back_to_In_without_a_history_manager() -> None:
    shell = _shell(["a = 1", "b = 2"], history_manager=False)
    assert kernel_history_raw(shell) == [Cell(1, "a = 1"), Cell(2, "b = 2")]
    assert kernel_history_raw(types.SimpleNamespace(user_ns={})) == []
    bare = types.SimpleNamespace(history_manager=types.SimpleNamespace(), user_ns={"In": ["", "c = 3"]})
    assert kernel_history_raw(bare) == [Cell(1, "c = 3")]


def test_raw_cells_bind_the_names_their_code_binds() -> None:
    defining = defining_cells(kernel_history_raw(_shell(MAGIC_CELLS)))
    assert {name: cell.count for name, cell in defining.items() if name in NAMES} == {
        "math": 1,
        "root": 2,
        "timed": 3,
        "greeting": 4,
        "files": 5,
        "helped": 6,
        "clock": 7,
        "plain": 8,
        "square": 8,
    }


def test_magic_cells_run_as_saved_give_no_hidden_state_warning() -> None:
    # the notebook file keeps the trailing newline IPython strips, and an editor left trailing spaces
    saved = [(i, src if src.endswith("\n") else src + "\n") for i, src in enumerate(MAGIC_CELLS, 1)]
    saved[7] = (8, "plain = 1   \r\nsquare = plain * plain\r\n\r\n")
    document = _notebook(saved)
    assert _hidden_state(kernel_history_raw(_shell(MAGIC_CELLS)), document) == []


def test_a_transformed_history_is_compared_like_with_like_too() -> None:
    # what core.py passed before it read the raw history: `In`, transformed
    document = _notebook(list(enumerate(MAGIC_CELLS, 1)))
    assert _hidden_state(kernel_history(_shell(MAGIC_CELLS).user_ns), document) == []


@pytest.mark.parametrize("reader", ["raw", "transformed"])
def test_an_edited_magic_cell_warns_for_exactly_its_variables(reader: str) -> None:
    shell = _shell(MAGIC_CELLS)
    history = kernel_history_raw(shell) if reader == "raw" else kernel_history(shell.user_ns)
    saved = list(enumerate(MAGIC_CELLS, 1))
    saved[1] = (2, "%timeit -n1 -r1 math.sqrt(3)\nroot = math.sqrt(3)")  # [2] edited after it ran
    del saved[4]  # [5] (`files = !ls`) deleted from the notebook
    saved[6] = (8, "plain = 2\nsquare = plain * plain")  # [8] edited: both its names
    assert _hidden_state(history, _notebook(saved)) == [
        "files: cell [5] that defined it is no longer in the notebook",
        "plain: cell [8] that defined it was edited after it ran",
        "root: cell [2] that defined it was edited after it ran",
        "square: cell [8] that defined it was edited after it ran",
    ]


def test_whitespace_inside_a_line_is_still_an_edit() -> None:
    history = [Cell(1, "x = 'a b'")]
    document = _notebook([(1, "x = 'a  b'")])
    assert hidden_state_warnings(history, defining_cells(history), ["x"], document) == [
        "x: cell [1] that defined it was edited after it ran"
    ]


def test_normalized_source() -> None:
    assert normalized_source("a = 1  \r\nb = 2\n\n") == "a = 1\nb = 2"
    assert normalized_source("\n\na = 1\n") == "a = 1"
    assert normalized_source("if x:\n    y = 1 \n") == "if x:\n    y = 1"
