"""The single initial migration matches the models, whatever the project's DEFAULT_AUTO_FIELD."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "auto_field", ["django.db.models.AutoField", "django.db.models.BigAutoField"]
)
def test_makemigrations_check_is_clean(auto_field, tmp_path):
    env = {
        **os.environ,
        "DEFAULT_AUTO_FIELD": auto_field,
        "TESTPROJECT_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "django_axme", "--check", "--dry-run"],
        cwd=ROOT / "testproject",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No changes detected" in proc.stdout
