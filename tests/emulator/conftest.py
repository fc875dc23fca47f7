"""Fixtures for the emulator's own tests (the user-facing ones come from the pytest plugin)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["live", "mock"])
def front(request):
    """The same emulator handle over real HTTP ("live") and through ``responses`` ("mock")."""
    name = "axme_emulator" if request.param == "live" else "axme_mock"
    return request.getfixturevalue(name)
