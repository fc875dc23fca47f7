"""The handler of the agent kill run (imported by the worker processes through CELERY_IMPORTS).

Each call appends a line to ``AXME_AGENT_CALLS`` (how often handlers ran) and applies its
effect once per ``ctx.idempotency_key`` (``INSERT ... ON CONFLICT DO NOTHING`` into the
``agent_kill_effects`` table the test created), after a pause long enough for a kill to land
while handlers run.
"""

from __future__ import annotations

import os
import random
import time

from django.db import connection

import django_axme.agent

KILL_TYPE = "tests.agent.kill.v1"


@django_axme.agent.handler(KILL_TYPE)
def slow_effect(intent, ctx):
    with open(os.environ["AXME_AGENT_CALLS"], "a", encoding="utf-8") as log:
        log.write(f"{intent.intent_id} {ctx.attempt}\n")
    time.sleep(random.uniform(0.5, 2.0))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO agent_kill_effects (key, intent_id) VALUES (%s, %s) "
            "ON CONFLICT (key) DO NOTHING",
            [ctx.idempotency_key, intent.intent_id],
        )
    return {"n": intent.payload.get("n")}
