"""Hidden-state warnings in a real kernel: a notebook full of magics, run as saved, warns about nothing;
editing one cell in the saved file warns about exactly that cell's variables.

The kernel is told its notebook through JPY_SESSION_NAME, as Jupyter does, and the snapshot compares the
kernel's history with the saved .ipynb.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from kernel_helpers import Kernel

from nblift.snapshot import manifest as mf
from nblift.store import ObjectStore

pytestmark = pytest.mark.integration

# What the user typed, one notebook cell each; every cell binds at least one variable.
CELLS = [
    "%matplotlib inline\nimport math",
    "%timeit -n1 -r1 math.sqrt(2)\nroot = math.sqrt(2)",
    "%%time\ntimed = sum(range(10))",
    "!echo hi\ngreeting = 'hi'",
    "files = !ls",
    "helped = 2\nhelped?",
    "plain = 1\nsquare = plain * plain\n",  # saved with a trailing newline, which IPython strips
]
NAMES = ["math", "root", "timed", "greeting", "files", "helped", "plain", "square"]
EDITED = 1  # the `%timeit` cell


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    folder.mkdir()
    return folder / "analysis.ipynb"


@pytest.fixture
def kernel(notebook: Path, tmp_path: Path):
    k = Kernel(
        notebook.parent,
        {"NBLIFT_SECRET_FILE": str(tmp_path / "keys" / "mine"), "JPY_SESSION_NAME": str(notebook)},
    )
    yield k
    k.shutdown()


def _execute(k: Kernel, source: str) -> int:
    """Run one notebook cell as the frontend does; its execution count."""
    reply = k.kc.execute_interactive(source, output_hook=lambda msg: None, timeout=120)
    assert reply["content"]["status"] == "ok", (source, reply["content"])
    return int(reply["content"]["execution_count"])


def _save(path: Path, cells: list[tuple[int, str]]) -> None:
    nb = nbformat.v4.new_notebook()
    for count, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.execution_count = count
        nb.cells.append(cell)
    path.write_text(nbformat.writes(nb))


def _hidden_state(warnings: list[str]) -> list[str]:
    return [w for w in warnings if "that defined it" in w or "out of document order" in w]


def _snapshot(k: Kernel, message: str) -> dict[str, Any]:
    k.run(f"_r = get_ipython().run_line_magic('lift', '--json snapshot --wait -m {message}')")
    return k.value("_r.data")


def _direct_warnings(k: Kernel, notebook: Path) -> list[str]:
    """The history functions called inside the kernel on its own shell, without a snapshot."""
    k.run(
        "from pathlib import Path as _P\n"
        "from nblift.snapshot.history import defining_cells as _d, hidden_state_warnings as _w,"
        " kernel_history_raw as _k\n"
        "_h = _k(get_ipython())\n"
        f"_ws = _w(_h, _d(_h), {NAMES!r}, _P({str(notebook)!r}).read_bytes())"
    )
    return k.value("_ws")


def test_magic_cells_run_as_saved_give_no_warning_and_an_edit_warns(kernel: Kernel, notebook: Path) -> None:
    kernel.run("%load_ext nblift")
    ran = [(_execute(kernel, source), source) for source in CELLS]
    assert [count for count, _ in ran] == list(range(ran[0][0], ran[0][0] + len(CELLS)))
    _save(notebook, ran)

    # the kernel's raw history is what the user typed, index = execution count
    raw = kernel.value(
        "{c.count: c.source for c in __import__('nblift.snapshot.history', fromlist=['_'])"
        ".kernel_history_raw(get_ipython())}"
    )
    for count, source in ran:
        assert raw[str(count)] == source.rstrip("\n")
    assert _direct_warnings(kernel, notebook) == []

    first = _snapshot(kernel, "as-saved")
    assert _hidden_state(first["warnings"]) == []
    assert {"root", "timed", "greeting", "files", "helped", "plain", "square"} <= set(first["added"])
    # the stored history shows what the user typed, not IPython's transformed code
    state = notebook.parent / ".nblift"
    manifest = mf.load(state, first["id"])
    stored = {
        c["count"]: c["source"] for c in json.loads(ObjectStore(state).get_bytes(manifest["history_object"]))
    }
    count, source = ran[EDITED]
    assert stored[count] == source
    assert not any("get_ipython()" in s for c, s in stored.items() if c in dict(ran))

    # edit the `%timeit` cell in the saved file (it has not been run again)
    edited = list(ran)
    edited[EDITED] = (count, "%timeit -n1 -r1 math.sqrt(3)\nroot = math.sqrt(3)")
    _save(notebook, edited)
    expected = [f"root: cell [{count}] that defined it was edited after it ran"]
    assert _direct_warnings(kernel, notebook) == expected
    second = _snapshot(kernel, "edited")
    assert _hidden_state(second["warnings"]) == expected
