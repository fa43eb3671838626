"""Sphinx configuration of the user's guide and reference (``pip install -e ".[docs]"``, then
``sphinx-build -W --keep-going docs build/docs``; CI builds it so, with warnings as errors: a broken
link or anchor, a page in no table of contents, a missing page or a docstring that does not render
fails the run).

Sphinx rather than MkDocs: napari and MONAI build their sites with it, its autodoc imports the
installed package (``training/`` is installed as ``napari_mrisr.training``, which static readers
cannot see), sphinx-argparse renders the command lines from their parsers, and MkDocs' Material
theme has announced its end of life. Pages are Markdown (MyST), as the README is.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

import napari_mrisr  # noqa: E402

project = "napari-mrisr"
author = "the napari-mrisr developers"
copyright = f"{author}, BSD-3-Clause"
release = napari_mrisr.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinxarg.ext",
    "sphinx_copybutton",
    "mrisr_tables",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_ext", "*.py"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # links to sections: page.md#a-heading

autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_class_signature = "separated"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
suppress_warnings = ["myst.xref_ambiguous"]

html_theme = "pydata_sphinx_theme"
html_title = "napari-mrisr"
html_theme_options = {
    "github_url": "https://github.com/napari-mrisr/napari-mrisr",
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []
