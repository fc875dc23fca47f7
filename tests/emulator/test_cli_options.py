"""Option parsing shared by ``python -m django_axme.emulator`` and ``manage.py axme_emulator``."""

from __future__ import annotations

import argparse
import io
import threading

import pytest
import requests

from django_axme.emulator.agents import ApprovalScript, WorkerScript
from django_axme.emulator.cli import add_arguments, build_emulator, serve


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_agents_faults_seed_and_key_from_options():
    options = parse(
        "--seed",
        "9",
        "--api-key",
        "secret-1",
        "--agent",
        "agent://a=worker:delay=0.1",
        "--agent",
        "agent://b=approval:owner=agent://boss",
        "--faults",
        '[{"fault": "error_sequence", "method": "GET", "path": "/health", "statuses": [503]}]',
    )
    emulator = build_emulator(options)
    try:
        attached = emulator.agents.attached()
        assert isinstance(attached["agent://a"], WorkerScript)
        assert isinstance(attached["agent://b"], ApprovalScript)
        assert attached["agent://b"].owner_agent == "agent://boss"
        assert emulator.seed == 9 and emulator.api_key == "secret-1"
        assert len(emulator.faults._rules) == 1
    finally:
        emulator.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--faults", "{nope"], "--faults is not valid JSON"),
        (["--faults", '[{"fault": "meteor"}]'], "unknown fault 'meteor'"),
        (["--agent", "agent://x=worker:speed=2"], "unknown option 'speed'"),
    ],
)
def test_bad_options_are_named(argv, message):
    with pytest.raises(ValueError, match=message):
        build_emulator(parse(*argv))


def test_serve_prints_url_and_key_and_stops_on_event():
    out = io.StringIO()
    stop = threading.Event()
    options = parse("--port", "0", "--any-key")
    thread = threading.Thread(target=serve, args=(options, out, stop), daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if "listening" in out.getvalue():
                break
            stop.wait(0.05)
        line = out.getvalue().splitlines()[0]
        assert line.startswith("AXME emulator listening on http://127.0.0.1:")
        assert "(API key: any non-empty key)" in line
        url = line.split(" on ")[1].split(" ")[0]
        r = requests.get(f"{url}/health", headers={"x-api-key": "whatever"}, timeout=5)
        assert r.status_code == 200
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert "stopping" in out.getvalue()
