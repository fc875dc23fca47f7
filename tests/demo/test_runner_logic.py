"""The demo runner's pieces that do not need running servers: ports, verdict, admin pages."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from purchases.demo.admin_http import _FormFinder, page_messages
from purchases.demo.runner import (
    VAR_DIR_MARKER,
    DemoFailure,
    _redacted,
    parse_args,
    pick_port,
    reset_var_dir,
)
from purchases.demo.transcript import check_outcome, render_transcript
from purchases.models import PurchaseEvent, PurchaseOrder, PurchaseRequest

from django_axme.models import AgentJob, Approval, ApprovalDecision, Intent


def test_pick_port_prefers_the_default_and_falls_back_when_taken() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert pick_port("127.0.0.1", None, taken) != taken  # default taken: any free port
        with pytest.raises(DemoFailure, match=f"port {taken} on 127.0.0.1 is in use"):
            pick_port("127.0.0.1", taken, 8000)  # explicitly asked for: refuse
    assert pick_port("127.0.0.1", 0, 8000) > 0


def test_parse_args_defaults() -> None:
    options = parse_args([])
    assert options.headless is False and options.timeout == 120.0
    assert options.use_env is False  # embedded SQLite and filesystem broker unless asked
    assert parse_args(["--headless", "--port", "0"]).port == 0
    assert parse_args(["--use-env"]).use_env is True


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgres://app:s3cret@db:5432/axme", "postgres://app:***@db:5432/axme"),
        ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:***@127.0.0.1:5672//"),
        ("redis://127.0.0.1:6379/12", "redis://127.0.0.1:6379/12"),
        (None, ""),
    ],
)
def test_service_urls_are_shown_without_passwords(url: str | None, shown: str) -> None:
    assert _redacted(url) == shown


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "70000"], "a port is 0-65535"),
        (["--emulator-port", "-1"], "a port is 0-65535"),
        (["--timeout", "3"], "must be at least 10 seconds"),
        (["--worker-delay", "-0.5"], "must be at least 0 seconds"),
    ],
)
def test_parse_args_names_bad_values(argv: list[str], message: str, capsys: Any) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)
    assert message in capsys.readouterr().err


def test_reset_var_dir_wipes_only_its_own_directory(tmp_path: Any) -> None:
    demo_dir = tmp_path / "demo"
    reset_var_dir(demo_dir)
    (demo_dir / "db.sqlite3").write_text("old run")
    reset_var_dir(demo_dir)
    assert sorted(p.name for p in demo_dir.iterdir()) == [VAR_DIR_MARKER]

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(DemoFailure, match="not created by the demo; refusing to wipe it"):
        reset_var_dir(precious)
    assert (precious / "thesis.tex").read_text() == "years of work"
    reset_var_dir(tmp_path / "empty-is-fine")


def test_admin_page_helpers() -> None:
    html = (
        '<ul class="messagelist"><li class="success">Approved <b>x</b>: sent.</li>'
        '<li class="error">Gateway down</li></ul>'
        '<form method="post" action="/admin/django_axme/approval/1/decide/">'
        '<input type="hidden" name="csrfmiddlewaretoken" value="t">'
        '<button name="decision" value="approve">Approve</button></form>'
    )
    assert page_messages(html) == [("success", "Approved x: sent."), ("error", "Gateway down")]
    finder = _FormFinder()
    finder.feed(html)
    assert finder.actions == ["/admin/django_axme/approval/1/decide/"]
    assert finder.inputs["decision"] == "approve"


def _run(
    status: str,
    *,
    signals_seen: list[tuple[str, str, str, str]],
    rid: str,
    fulfilled_by_agent: bool = False,
) -> PurchaseRequest:
    intent = Intent.objects.create(intent_type="purchase.request.v1", intent_id=rid, status=status)
    purchase = PurchaseRequest.objects.create(
        item="Laptop", amount=Decimal("2400"), requester="a", intent=intent, status="fulfilled"
    )
    if fulfilled_by_agent:
        # This project received the fulfilment intent as the agent, resolved it, placed one order.
        fulfilment = Intent.objects.create(
            intent_type="intent.purchase.fulfil.v1",
            intent_id=f"f-{rid}",
            status="COMPLETED",
            direction="inbound",
        )
        AgentJob.objects.create(
            intent=fulfilment,
            address="agent://demo/purchasing",
            state="resolved",
            outcome_status="COMPLETED",
        )
        PurchaseOrder.objects.create(
            purchase=purchase,
            reference="PO-1",
            idempotency_key=f"axme-agent:f-{rid}",
            placed_by="agent://demo/purchasing",
        )
        purchase.fulfilment_intent = fulfilment
        purchase.save()
    for signal, before, after, message in signals_seen:
        PurchaseEvent.objects.create(
            purchase=purchase, signal=signal, from_status=before, to_status=after, message=message
        )
    return purchase


GOOD_APPROVAL_RUN = [
    ("intent_created", "draft", "submitted", ""),
    ("intent_status_changed", "submitted", "submitted", "r-ok CREATED -> SUBMITTED"),
    ("approval_requested", "submitted", "pending_approval", ""),
    ("approval_decided", "pending_approval", "approved", ""),
    ("intent_status_changed", "approved", "approved", "r-ok IN_PROGRESS -> COMPLETED"),
    ("intent_completed", "approved", "approved", "approval completed; fulfilment sent"),
    # The fulfilment intent, sent to and handled by this project itself.
    ("intent_created", "approved", "approved", ""),
    ("intent_received", "approved", "approved", ""),
    ("intent_status_changed", "approved", "approved", "f-r-ok DELIVERED -> COMPLETED"),
    ("intent_completed", "approved", "fulfilled", "order PO-1 placed"),
]


@pytest.mark.django_db
def test_check_outcome_accepts_a_complete_run_and_names_each_gap() -> None:
    admin = get_user_model().objects.create_user("admin")
    purchase = _run(
        "COMPLETED", signals_seen=GOOD_APPROVAL_RUN, rid="r-ok", fulfilled_by_agent=True
    )
    approval = Approval.objects.create(thread_id="t", intent=purchase.intent)
    ApprovalDecision.objects.create(
        approval=approval, decision="approve", idempotency_key="k", state="confirmed", user=admin
    )
    assert (
        check_outcome({purchase.pk: "fulfilled"}, {purchase.pk: "approve"}, username="admin") == []
    )
    transcript = render_transcript([purchase.pk])
    assert "Laptop" in transcript and "(fulfilment f-r-ok, inbound)" in transcript
    assert "order PO-1 placed by this project as agent://demo/purchasing" in transcript

    # The same run seen twice, an intent still open, a missing decision, a wrong status.
    twice = _run("IN_PROGRESS", signals_seen=GOOD_APPROVAL_RUN + GOOD_APPROVAL_RUN[1:2], rid="r-2")
    problems = check_outcome({twice.pk: "rejected"}, {twice.pk: "approve"}, username="admin")
    text = "\n".join(problems)
    assert "still IN_PROGRESS" in text
    assert "status is fulfilled, expected rejected" in text
    assert "signalled more than once: ['r-ok CREATED -> SUBMITTED']" in text
    assert "no confirmed approve decision by admin" in text

    # Fulfilled, but not by this project's agent (no fulfilment intent received, no order).
    by_nobody = _run("COMPLETED", signals_seen=GOOD_APPROVAL_RUN[:6], rid="r-4")
    problems = check_outcome({by_nobody.pk: "fulfilled"}, {}, username="admin")
    assert f"#{by_nobody.pk} Laptop: no fulfilment intent was sent" in problems

    silent = _run("COMPLETED", signals_seen=[], rid="r-3")
    assert check_outcome({silent.pk: "fulfilled"}, {}, username="admin") == [
        f"#{silent.pk} Laptop: the purchases receivers never ran"
    ]


@pytest.mark.django_db
def test_adding_a_purchase_in_the_admin_sends_its_intent_through_the_outbox(
    admin_client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = admin_client.post(
            "/admin/purchases/purchaserequest/add/",
            {"item": "Monitor", "amount": "1200.00", "requester": "erin", "note": ""},
        )
    assert answer.status_code == 302, answer.content[:2000]
    purchase = PurchaseRequest.objects.get(item="Monitor")
    assert purchase.needs_approval is True
    assert purchase.intent is not None and purchase.intent.send_state == "pending"
    assert purchase.intent.created_by is not None
    assert len(callbacks) == 1
    page = admin_client.get(f"/admin/purchases/purchaserequest/{purchase.pk}/change/")
    assert page.status_code == 200
    assert b"(in the outbox)" in page.content
    assert b"No signal received yet." in page.content
    assert b'name="_save"' not in page.content  # submitted requests are view-only
    PurchaseEvent.objects.create(
        purchase=purchase,
        signal="approval_requested",
        from_status="draft",
        to_status="pending_approval",
    )
    page = admin_client.get(f"/admin/purchases/purchaserequest/{purchase.pk}/change/")
    assert b"<code>approval_requested</code>" in page.content
    assert "draft → pending_approval".encode() in page.content
    assert (
        admin_client.post(f"/admin/purchases/purchaserequest/{purchase.pk}/change/", {}).status_code
        == 403
    )
    assert admin_client.get("/admin/purchases/purchaserequest/").status_code == 200


@pytest.mark.slow
def test_use_env_refuses_a_database_that_already_holds_purchases(tmp_path: Any) -> None:
    project = Path(__file__).resolve().parents[2] / "testproject"
    env = {
        **{k: v for k, v in os.environ.items() if k != "TESTPROJECT_VAR_DIR"},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'used.sqlite3'}",
        "TESTPROJECT_VAR_DIR": str(tmp_path / "var"),
    }
    create = (
        "from purchases.models import PurchaseRequest; "
        "PurchaseRequest.objects.create(item='chair', amount='90', requester='eve')"
    )
    for command in (["migrate", "-v", "0"], ["shell", "-c", create]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=project, env=env, check=True, timeout=120
        )
    demo = subprocess.run(
        [sys.executable, "demo.py", "--headless", "--use-env", "--var-dir", str(tmp_path / "d")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 1
    assert "already holds purchase requests" in demo.stdout
    assert "starting the AXME emulator" not in demo.stdout  # refused before starting anything
