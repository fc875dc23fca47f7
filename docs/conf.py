"""Sphinx configuration of the django-axme documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are errors).
Django is set up with the test project's settings so that autodoc can import the package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(ROOT / "testproject")]

# autodoc imports django_axme modules; they need configured settings. A throwaway var dir
# keeps the build from touching the test project's SQLite files.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testproject.settings")
os.environ.setdefault("TESTPROJECT_VAR_DIR", str(DOCS / "_build" / "var"))

import django  # noqa: E402

django.setup()

import django_axme  # noqa: E402

project = "django-axme"
author = "The django-axme developers"
copyright = "2026, The django-axme developers"
release = django_axme.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",  # only for including CHANGELOG.md
]

source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "diagrams", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

html_theme = "furo"
html_title = f"django-axme {release}"
html_static_path = ["_static"]

autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# No intersphinx: CI builds offline (only package registries are reachable).
suppress_warnings = ["myst.header"]

myst_heading_anchors = 3
nitpicky = False
