"""Sphinx configuration of the nblift documentation (Sphinx + MyST, pydata theme)."""

import sys
from pathlib import Path

DOCS = Path(__file__).parent
sys.path.insert(0, str(DOCS.parent / "python"))
sys.path.insert(0, str(DOCS / "_ext"))

from nblift import __version__  # noqa: E402

project = "nblift"
author = "nblift contributors"
copyright = "nblift contributors"
version = release = __version__

extensions = [
    "myst_parser",
    "nblift_reference",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_examples", "Thumbs.db", ".DS_Store", "**/.ipynb_checkpoints"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"nblift {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
# Only the reference has pages below it; elsewhere the section navigation would be empty.
html_sidebars = {
    page: [] for page in ("index", "getting-started", "concepts", "configuration", "writing-a-backend")
}
