"""The HTTP server, the module entry point and the management command."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from django_axme.emulator import Emulator, EmulatorServer

from .helpers import WORKER, create, headers, intent_body

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"AXME emulator listening on (http://\S+) \(API key: (\S+)\)")


def test_json_and_stream_over_http_keep_alive():
    with Emulator() as emulator, EmulatorServer(emulator) as server:
        session = requests.Session()
        r = session.get(f"{server.url}/health")
        assert r.status_code == 200 and r.json()["ok"] is True
        intent_id = create(server.url, emulator.api_key)
        r = session.get(
            f"{server.url}/v1/intents/{intent_id}/events/stream",
            params={"since": 0, "wait_seconds": 1},
            headers=headers(emulator.api_key),
        )
        assert r.headers["Content-Type"].startswith("text/event-stream")
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert b"event: stream.timeout" in r.content
        # same connection still usable after a stream
        assert session.get(f"{server.url}/health").status_code == 200


def test_unauthenticated_and_unknown_routes_are_answered_not_crashed():
    with Emulator() as emulator, EmulatorServer(emulator) as server:
        r = requests.post(f"{server.url}/v1/intents", json=intent_body(WORKER))
        assert r.status_code == 401
        r = requests.post(
            f"{server.url}/v1/intents", data=b"{not json", headers=headers(emulator.api_key)
        )
        assert 400 <= r.status_code < 500


def test_stop_closes_open_streams_promptly():
    emulator = Emulator()
    server = EmulatorServer(emulator).start()
    intent_id = emulator.create_intent(intent_body(WORKER))["intent_id"]
    r = requests.get(
        f"{server.url}/v1/intents/{intent_id}/events/stream",
        params={"since": 0, "wait_seconds": 60},
        headers=headers(emulator.api_key),
        stream=True,
        timeout=30,
    )
    chunks = r.iter_content(chunk_size=None)
    assert b"intent.created" in next(chunks)
    started = time.monotonic()
    server.stop()
    try:
        for _ in chunks:
            pass
    except requests.exceptions.RequestException:
        pass
    assert time.monotonic() - started < 2.0
    emulator.close()


def _run_until_listening(cmd: list[str], cwd: Path, env: dict[str, str] | None = None):
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    match = URL_LINE.search(line)
    assert match, (
        f"no listening line: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}"
    )
    return proc, match.group(1), match.group(2)


def _drive_and_stop(proc, url: str, key: str, sig: int) -> None:
    try:
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
        intent_id = create(url, key, to_agent="agent://cli/worker")
        deadline = time.monotonic() + 5
        while True:
            r = requests.get(f"{url}/v1/intents/{intent_id}", headers=headers(key), timeout=5)
            if r.json()["intent"]["status"] == "COMPLETED":
                break
            assert time.monotonic() < deadline, r.json()
            time.sleep(0.05)
        proc.send_signal(sig)
        assert proc.wait(10) == 0
        assert "stopping" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_module_entry_point_serves_agents_and_stops_on_sigterm():
    proc, url, key = _run_until_listening(
        [
            sys.executable,
            "-m",
            "django_axme.emulator",
            "--port",
            "0",
            "--api-key",
            "k-test-123",
            "--seed",
            "5",
            "--agent",
            "agent://cli/worker=worker:delay=0",
        ],
        ROOT,
    )
    assert key == "k-test-123"
    assert url.startswith("http://127.0.0.1:")
    _drive_and_stop(proc, url, key, signal.SIGTERM)


def test_management_command_serves_and_stops_on_sigint(tmp_path):
    proc, url, key = _run_until_listening(
        [
            sys.executable,
            "manage.py",
            "axme_emulator",
            "--port",
            "0",
            "--agent",
            "agent://cli/worker=worker",
        ],
        ROOT / "testproject",
        env={"TESTPROJECT_VAR_DIR": str(tmp_path)},
    )
    _drive_and_stop(proc, url, key, signal.SIGINT)


def test_cli_rejects_bad_agent_spec():
    result = subprocess.run(
        [sys.executable, "-m", "django_axme.emulator", "--port", "0", "--agent", "agent://x=dance"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "unknown agent script 'dance'" in result.stderr


def test_unknown_methods_get_405_and_422_detail_is_the_openapi_array():
    with Emulator() as emulator, EmulatorServer(emulator) as server:
        for method in ("TRACE", "CONNECT", "PROPFIND", "BREW"):
            r = requests.request(method, f"{server.url}/v1/intents")
            assert r.status_code == 405, method
            assert r.json()["error"]["code"] == "method_not_allowed"
            assert "TRACE" not in r.headers["Allow"] and "GET" in r.headers["Allow"]
        # the server still answers after those
        assert requests.get(f"{server.url}/health").status_code == 200
        r = requests.post(
            f"{server.url}/v1/intents",
            json=intent_body(WORKER, intent_type="Not A Type"),
            headers=headers(emulator.api_key),
        )
        assert r.status_code == 422
        (item,) = r.json()["detail"]  # HTTPValidationError in tests/data/axme/openapi
        assert item["loc"] == ["body", "intent_type"]
        assert set(item) == {"loc", "msg", "type"} and item["msg"].startswith("intent_type")
