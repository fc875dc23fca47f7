"""The emulator leaves a served address to the real agent (issue 17): no simulated script
runs for intents addressed to it, and they reach its agent stream."""

from __future__ import annotations

import argparse
import time

from django_axme.emulator import Emulator, WorkerScript
from django_axme.emulator.cli import add_arguments, build_emulator

ADDRESS = "agent://tests/ws/served"


def test_a_served_address_gets_no_simulated_script_even_by_intent_type():
    emulator = Emulator(agents={"tests.served.v1": WorkerScript(delay=0.0)})
    try:
        emulator.serve_agent(ADDRESS)
        served = emulator.create_intent(
            {"intent_type": "tests.served.v1", "to_agent": ADDRESS, "payload": {}}
        )["intent_id"]
        other = emulator.create_intent(
            {"intent_type": "tests.served.v1", "to_agent": "agent://tests/ws/x", "payload": {}}
        )["intent_id"]
        emulator.wait_for_status(other, ("COMPLETED",), timeout=5)
        time.sleep(0.2)
        assert emulator.get_intent(served)["status"] == "SUBMITTED"
        feed = emulator.gateway.agent_feeds[ADDRESS]
        assert [e["intent_id"] for e in feed] == [served, served]
    finally:
        emulator.close()


def test_cli_serve_option():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    emulator = build_emulator(parser.parse_args(["--serve", ADDRESS]))
    try:
        assert emulator.agents.served() == frozenset({ADDRESS})
    finally:
        emulator.close()
