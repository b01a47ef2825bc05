"""A 4,000-contact campaign on real worker processes, one delivery worker killed midway (the
benchmark sends 100,000; this checks what a kill leaves, which needs only many batches)."""

from __future__ import annotations

import json
import time
from datetime import time as clock
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, F

from channels_app.models import Organization
from config.queues import get_queue
from messaging.models import ConsentState, Contact, Message, MessageStatus, MessagingSettings, OutboxRecord
from messaging.queueing import messages_sweep
from tests.e2e.conftest import wait_for, waiting_for_locks, worker_blocked_mid_job

pytestmark = pytest.mark.e2e

OPTED_IN, OPTED_OUT, UNKNOWN = 3_600, 240, 160
CONTACTS = OPTED_IN + OPTED_OUT + UNKNOWN  # 36 delivery batches of 100


def audience(organization: Organization) -> None:
    states = [ConsentState.OPTED_IN] * OPTED_IN + [ConsentState.OPTED_OUT] * OPTED_OUT
    states += [ConsentState.UNKNOWN] * UNKNOWN
    Contact.objects.bulk_create(
        [
            Contact(organization=organization, phone=f"+1415{n:07d}", name=f"P{n}", consent=state)
            for n, state in enumerate(states)
        ],
        batch_size=2000,
    )


def test_a_campaign_to_4000_contacts_sends_exactly_one_message_each_with_a_delivery_worker_killed(
    processes,
):
    organization = Organization.objects.create(name="Acme", slug="acme")
    # No quiet hours: the suite runs at any hour.
    MessagingSettings.objects.create(organization=organization, quiet_start=clock(0), quiet_end=clock(0))
    audience(organization)
    out = StringIO()
    call_command(
        "send_campaign", "--org", "acme", "--name", "Sale", "--template", "Hi {{ contact.name }}", stdout=out
    )
    campaign_id = int(out.getvalue())

    processes.worker("messaging-campaigns", name="campaigns", burst=True)
    doomed = processes.worker("messaging-delivery", "messaging-bulk", name="doomed")
    processes.worker("messaging-delivery", "messaging-bulk", name="steady")
    wait_for(lambda: OutboxRecord.objects.count() >= 1_200, timeout=120)
    # PostgreSQL: the outbox table held (claims still commit; each worker waits at a send inside
    # a batch it claimed). SQLite: the whole database (a worker waits at its next write).
    with worker_blocked_mid_job(lock="LOCK TABLE messaging_outboxrecord IN SHARE MODE"):
        if connection.vendor == "postgresql":
            wait_for(lambda: waiting_for_locks(2), timeout=30)  # both inside a claimed batch
        else:
            time.sleep(1)
        processes.kill(doomed)
        doomed.wait()
    connection.close()
    # The survivor sends everything but what the killed worker held: its batch, claimed (SENDING,
    # the claims' lease running) or not yet.
    unfinished = Message.objects.filter(status__in=[MessageStatus.QUEUED, MessageStatus.SENDING])

    def only_the_killed_batch_left() -> bool:
        idle = get_queue("messaging-bulk").count == 0 and Message.objects.count() == CONTACTS
        return idle and len(set(unfinished.values_list("job_id", flat=True))) <= 1

    wait_for(only_the_killed_batch_left, timeout=240, interval=0.5)
    # Two minutes later (a claim's lease outlives its job's timeout), the sweep (every minute in
    # production) enqueues that batch again; the survivor looks for each claimed one first.
    Message.objects.filter(status=MessageStatus.SENDING).update(sent_at=F("sent_at") - timedelta(minutes=3))
    requeued = messages_sweep(older_than=0)["requeued"]
    if connection.vendor == "postgresql":
        assert requeued > 0  # it was killed inside a batch it had claimed
    wait_for(lambda: not unfinished.exists(), timeout=120, interval=0.5)

    by_status = dict(Message.objects.values_list("status").annotate(n=Count("pk")).order_by())
    assert by_status == {MessageStatus.SENT: OPTED_IN, MessageStatus.SUPPRESSED: OPTED_OUT + UNKNOWN}
    # Exactly one send per eligible contact: the outbox is the record of what went out.
    assert OutboxRecord.objects.count() == OPTED_IN
    twice = OutboxRecord.objects.values("message__contact").annotate(n=Count("pk")).filter(n__gt=1)
    assert not twice.exists()
    assert (
        OutboxRecord.objects.filter(message__contact__consent=ConsentState.OPTED_IN)
        .values("message__contact")
        .distinct()
        .count()
        == OPTED_IN
    )
    out = StringIO()
    call_command("campaign_report", str(campaign_id), "--json", stdout=out)
    assert json.loads(out.getvalue())["suppressed_by_reason"] == {
        "no_consent": UNKNOWN,
        "opted_out": OPTED_OUT,
    }
