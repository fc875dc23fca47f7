"""Sphinx configuration of the django-axme documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are errors).
Needs only the ``docs`` extra (``pip install "django-axme[docs]"``): autodoc imports the
package with minimal settings configured here (no test project, no database access).
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

if not settings.configured:
    settings.configure(
        SECRET_KEY="django-axme-docs-build",
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django_axme",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        AXME={"BASE_URL": "http://127.0.0.1:8765", "API_KEY": "axme_sa_docs-build"},
    )
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
