from __future__ import annotations

import pytest

from tests.mirror.helpers import SignalRecorder


@pytest.fixture
def recorder():
    rec = SignalRecorder().connect()
    yield rec
    rec.disconnect()


@pytest.fixture
def connected():
    """Connect receivers for the test; disconnect them afterwards."""
    done = []

    def connect(signal, receiver):
        signal.connect(receiver, weak=False)
        done.append((signal, receiver))

    yield connect
    for signal, receiver in done:
        signal.disconnect(receiver)
