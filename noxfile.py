"""Test matrix: the suite on the oldest and newest supported (Python, Django) pairs.

``nox`` runs both sessions; ``nox -s "tests-3.11(django='5.2')"`` runs one. Each session
installs the package with the ``dev`` extra and pins Django to the session's series.
Pass pytest arguments after ``--`` (``.ci/run`` deselects the slow worker/browser tests).
"""

from __future__ import annotations

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

MATRIX = [("3.11", "5.2"), ("3.13", "6.1")]


@nox.session
@nox.parametrize(("python", "django"), MATRIX, ids=[f"py{p}-dj{d}" for p, d in MATRIX])
def tests(session: nox.Session, django: str) -> None:
    """Install django-axme with ``dev`` extras on the given Django series and run pytest."""
    session.install("-e", ".[dev]", f"Django~={django}.0")
    session.run("python", "-m", "django", "--version")
    var_dir = f"{session.virtualenv.location}/var"
    session.run("python", "-m", "pytest", *session.posargs, env={"TESTPROJECT_VAR_DIR": var_dir})
