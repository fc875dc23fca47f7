from __future__ import annotations

import pytest

from tests.mirror.helpers import SignalRecorder


@pytest.fixture
def recorder():
    rec = SignalRecorder().connect()
    yield rec
    rec.disconnect()
