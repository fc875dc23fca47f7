"""The no-op handler of ``benchmarks/agent.py`` (imported by the benchmark's worker)."""

from __future__ import annotations

import django_axme.agent

NOOP_TYPE = "bench.agent.noop.v1"


@django_axme.agent.handler(NOOP_TYPE)
def noop(intent):
    return {}
