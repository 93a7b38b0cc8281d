"""The notebook the run benchmarks execute: a `parameters` cell naming a stamp file, a cell that writes the
time it starts into that file (launch-to-first-cell), then cells of small work."""

from __future__ import annotations

from pathlib import Path

import nbformat


def make_notebook(path: Path, cells: int) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("stamp_file = ''\nn = 100_000")
    params.metadata["tags"] = ["parameters"]
    body = [params, nbformat.v4.new_code_cell("import time\nopen(stamp_file, 'w').write(repr(time.time()))")]
    body += [nbformat.v4.new_code_cell(f"x{i} = sum(range(n)) + {i}\nprint(x{i})") for i in range(cells - 2)]
    nb.cells = body
    nbformat.write(nb, path)
