"""Delivering messages on `messaging-delivery`: every rule applied, every decision recorded.

A delivery job carries a batch: a campaign's hundred messages, or the one message an automation
or an inbound keyword made. For each message, in order: no consent or opted out → suppressed;
inside the recipient's quiet hours → deferred to their end (a job scheduled for then; the message
stays queued); marketing past the frequency cap → suppressed; a template that cannot render →
failed with its error; else sent once.

The batch is claimed in one transaction under locks on its contacts' rows (an opt-out takes the
same lock): consent is read again there, and two deliveries to one contact cannot both slip under
the cap. Each message names the job that carries it (`job_id`), so the sweep asks Redis once per
job whether it still lives, and a message left SENDING by a job that died is looked for at the
provider before it is sent again. A job sends for at most half its timeout and hands what is left
to a new job; a provider that rate limits or fails gets the rest handed over for later, never a
worker held waiting.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from channels_app import http
from config.queues import SPECS, enqueue, get_queue
from messaging.backends import Backend, Outbound, Unsubscribed, backend_for
from messaging.checkouts import checkout_completed
from messaging.consent import consent_record
from messaging.models import (
    CampaignStatus,
    ConsentState,
    Contact,
    Message,
    MessageStatus,
    MessagingSettings,
    Suppression,
)
from messaging.rendering import TemplateError, render
from messaging.rules import marketing_sent, next_allowed, recipient_zone

logger = logging.getLogger(__name__)

DELIVER_JOB = "messaging.jobs.deliver_messages"
BULK = "messaging-bulk"
BATCH = 100  # messages per delivery job of a campaign
BUDGET = SPECS["messaging-delivery"].timeout / 2  # seconds a job sends before handing over the rest

RULES_TTL = 30.0  # seconds a worker keeps an organization's settings (a campaign reads them 10,000 times)
_rules: dict[int, tuple[float, MessagingSettings]] = {}


def rules_for(organization_id: int) -> MessagingSettings:
    cached = _rules.get(organization_id)
    if cached is not None and time.monotonic() - cached[0] < RULES_TTL:
        return cached[1]
    rules, _ = MessagingSettings.objects.get_or_create(organization_id=organization_id)
    _rules[organization_id] = (time.monotonic(), rules)
    return rules


def delivery_job_id(message_ids: Sequence[int], at: datetime | None = None) -> str:
    """`sms-<id>` for one message, `sms-<first id>_<how many>` for a batch, and `-<due
    timestamp>` after either for a delivery scheduled later."""
    more = f"_{len(message_ids)}" if len(message_ids) > 1 else ""
    return f"sms-{message_ids[0]}{more}" + (f"-{int(at.timestamp())}" if at else "")


def messages_enqueue(
    message_ids: Sequence[int], *, at: datetime | None = None, attempt: int = 0, bulk: bool = False
) -> str:
    """One delivery job for these messages, now or at `at`, recorded on them first (with Redis
    down the sweep finds them by it); its id. A campaign's (`bulk`) go on `messaging-bulk`, behind
    the messages one person is waiting for (an order shipped, the answer to their STOP)."""
    from rq.exceptions import DuplicateJobError

    ids = sorted(message_ids)
    job_id = delivery_job_id(ids, at)
    Message.objects.filter(pk__in=ids).update(job_id=job_id, updated_at=timezone.now())
    try:
        enqueue(BULK if bulk else "messaging-delivery", DELIVER_JOB, ids, attempt, job_id=job_id, at=at)
    except DuplicateJobError:
        pass  # that job is there already
    return job_id


def batches_enqueue(batches: Sequence[Sequence[int]]) -> None:
    """A campaign's delivery jobs, one per batch, in one Redis round trip (rq's enqueue_many in a
    pipeline); each batch's messages name their job first."""
    from rq import Retry

    from config.logs import current_request_id

    queue = get_queue(BULK)
    intervals = settings.HUB_JOB_RETRY_INTERVALS
    jobs = []
    for batch in batches:
        ids = sorted(batch)
        job_id = delivery_job_id(ids)
        Message.objects.filter(pk__in=ids).update(job_id=job_id, updated_at=timezone.now())
        jobs.append(
            queue.prepare_data(
                DELIVER_JOB,
                args=(ids, 0),
                job_id=job_id,
                timeout=SPECS[BULK].timeout,
                result_ttl=settings.HUB_JOB_RESULT_TTL,
                failure_ttl=settings.HUB_JOB_FAILURE_TTL,
                retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
                meta={"request_id": current_request_id()},
            )
        )
    with queue.connection.pipeline() as pipe:
        queue.enqueue_many(jobs, pipeline=pipe)
        pipe.execute()


def messages_deliver(message_ids: Sequence[int], attempt: int = 0) -> dict[str, int]:
    """Apply the rules to the messages and send those that may go; what became of them."""
    started = time.monotonic()
    outcome: Counter[str] = Counter()
    messages = list(
        Message.objects.select_related("contact", "campaign", "automation")
        .filter(pk__in=message_ids)
        .order_by("pk")
    )
    now = timezone.now()
    ready: list[Message] = []
    later: defaultdict[datetime, list[Message]] = defaultdict(list)
    suppress: defaultdict[str, list[int]] = defaultdict(list)
    for message in messages:
        if message.status == MessageStatus.SENDING:
            outcome[_resume(message)] += 1
            continue
        if message.status != MessageStatus.QUEUED:
            outcome["done before"] += 1  # a duplicate job, or a cancel that landed first
            continue
        if message.campaign_id is not None and message.campaign.status == CampaignStatus.CANCELLED:  # type: ignore[union-attr]
            suppress[Suppression.CAMPAIGN_CANCELLED].append(message.pk)
            continue
        decision, value = _decide(message, rules_for(message.organization_id), now)
        if decision == "suppress":
            suppress[value].append(message.pk)  # type: ignore[index]
        elif decision == "defer":
            later[value].append(message)  # type: ignore[index]
        elif not message.body and not _render(message):
            outcome["failed"] += 1
        else:
            ready.append(message)
    for reason, ids in suppress.items():
        outcome[_suppress(ids, reason)] += len(ids)
    for due, waiting in later.items():
        _defer([m.pk for m in waiting], due, bulk=_bulk(waiting))
        outcome["deferred"] += len(waiting)
    claimed = _claim(ready, outcome)
    backends: dict[int, Backend] = {}
    for index, message in enumerate(claimed):
        if index and time.monotonic() - started > BUDGET:
            # The rest to a new job: this one has used its time (a slow provider, a rate limit);
            # each job sends at least one, so a batch always moves.
            _hand_over(claimed[index:], sending=None, at=None, attempt=attempt)
            outcome["handed over"] += len(claimed) - index
            break
        rules = rules_for(message.organization_id)
        try:
            if message.organization_id not in backends:
                backends[message.organization_id] = backend_for(rules)
            outcome[_send(message, backends[message.organization_id])] += 1
        except http.PlatformError as exc:
            outcome |= _provider_failed(claimed[index:], exc, attempt)
            break
    return dict(outcome)


def _decide(message: Message, rules: MessagingSettings, now: datetime) -> tuple[str, Any]:
    """("send", None), ("suppress", reason) or ("defer", until when), from what was read."""
    if message.send_after and message.send_after > now:
        return "defer", message.send_after  # an automation's delay, or quiet hours: not yet
    if message.keyword_reply:
        # The one answer to a STOP, START or HELP the person just sent: whatever their consent
        # (a STOP's confirmation goes to someone now opted out) and the hour.
        return "send", None
    checkout = (message.context or {}).get("checkout")
    if checkout and checkout_completed(checkout["id"]):
        return "suppress", Suppression.CHECKOUT_COMPLETED  # bought after all: no reminder
    contact = message.contact
    if contact.consent != ConsentState.OPTED_IN:
        return "suppress", _no_consent_reason(contact)
    zone = recipient_zone(contact, rules, (message.context or {}).get("address_zone", ""))
    allowed = next_allowed(now, zone, rules.quiet_start, rules.quiet_end)
    return ("defer", allowed) if allowed > now else ("send", None)


def _no_consent_reason(contact: Contact) -> str:
    return Suppression.OPTED_OUT if contact.consent == ConsentState.OPTED_OUT else Suppression.NO_CONSENT


def _render(message: Message) -> bool:
    """Its body from its template; a template that cannot render fails the message, readably."""
    try:
        message.body = render(_template(message), _context(message))
    except TemplateError as exc:
        Message.objects.filter(pk=message.pk, status=MessageStatus.QUEUED).update(
            status=MessageStatus.FAILED, error=str(exc)[:2000], updated_at=timezone.now()
        )
        return False
    return True


def _claim(ready: list[Message], outcome: Counter[str]) -> list[Message]:
    """Under the contacts' locks (taken in id order): consent again, then the cap with the time
    read now; those still queued become SENDING, named by this job. The claimed, in order."""
    if not ready:
        return []
    job_id = _current_job_id()
    suppress: defaultdict[str, list[int]] = defaultdict(list)
    taken: list[Message] = []
    with transaction.atomic():
        contacts = {
            contact.pk: contact
            for contact in Contact.objects.select_for_update()
            .filter(pk__in={m.contact_id for m in ready})
            .order_by("pk")
            .only("pk", "consent")
        }
        now = timezone.now()
        counts = _marketing_counts([m for m in ready if not m.transactional], now)
        for message in ready:
            contact = contacts[message.contact_id]
            if not message.keyword_reply:
                if contact.consent != ConsentState.OPTED_IN:
                    suppress[_no_consent_reason(contact)].append(message.pk)
                    continue
                if not message.transactional:
                    if counts[message.contact_id] >= rules_for(message.organization_id).cap_messages:
                        suppress[Suppression.FREQUENCY_CAP].append(message.pk)
                        continue
                    counts[message.contact_id] += 1  # two in this batch for one contact
            taken.append(message)
        # Still queued (a cancel or another job may have been first), and ours until committed.
        mine = set(
            Message.objects.select_for_update()
            .filter(pk__in=[m.pk for m in taken], status=MessageStatus.QUEUED)
            .values_list("pk", flat=True)
        )
        taken = [m for m in taken if m.pk in mine]
        for message in taken:
            message.status, message.sent_at, message.job_id, message.updated_at = (
                MessageStatus.SENDING,
                now,
                job_id,
                now,
            )
        Message.objects.bulk_update(taken, ["status", "body", "sent_at", "job_id", "updated_at"])
        for reason, ids in suppress.items():
            outcome[_suppress(ids, reason)] += len(ids)
    outcome["taken by another job"] += len(ready) - len(taken) - sum(map(len, suppress.values()))
    return taken


def _marketing_counts(messages: list[Message], now: datetime) -> Counter[int]:
    """Marketing messages each of their contacts got inside their organization's cap window."""
    counts: Counter[int] = Counter()
    by_organization: defaultdict[int, set[int]] = defaultdict(set)
    for message in messages:
        by_organization[message.organization_id].add(message.contact_id)
    for organization_id, contact_ids in by_organization.items():
        counts.update(marketing_sent(contact_ids, rules_for(organization_id), now))
    return counts


def _current_job_id() -> str:
    from rq import get_current_job

    job = get_current_job()
    return job.id if job is not None else ""


def _send(message: Message, backend: Backend) -> str:
    """Send one claimed message; its status with the provider's id. A refusal that could pass
    (the provider down, its rate limit) is raised: the caller hands the rest over."""
    outbound = Outbound(message.pk, message.contact.phone, message.body, message.sent_at or timezone.now())
    try:
        # The local backend's record and the status commit together; Twilio's answer is written
        # as soon as it comes (its send is looked for if this process dies in between).
        with transaction.atomic():
            sent = backend.send(outbound)
            Message.objects.filter(pk=message.pk).update(
                status=MessageStatus.SENT, provider_id=sent.provider_id, error="", updated_at=timezone.now()
            )
    except Unsubscribed as exc:
        consent_record(message.contact, ConsentState.OPTED_OUT, source="carrier", text=str(exc))
        return _suppress([message.pk], Suppression.OPTED_OUT, error=str(exc))
    except http.PlatformError as exc:
        if not exc.permanent:
            raise
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.FAILED, error=str(exc)[:2000], updated_at=timezone.now()
        )
        return "failed"
    return "sent"


def _provider_failed(rest: list[Message], exc: http.PlatformError, attempt: int) -> Counter[str]:
    """The provider refused `rest[0]` for now. Refused before it acted (its rate limit, a 429):
    all of `rest` goes later. Else the first may have gone: it stays SENDING, to be looked for,
    and the rest follows it after a backoff; past the retries, all fail (retried hourly)."""
    outcome: Counter[str] = Counter()
    now = timezone.now()
    if exc.unsent:
        at = now + timedelta(seconds=max(1.0, exc.retry_after or 1.0))
        _hand_over(rest, sending=None, at=at, attempt=attempt)
        outcome["rate limited"] += len(rest)
        return outcome
    intervals = settings.HUB_JOB_RETRY_INTERVALS
    if attempt < len(intervals):
        delay = max(exc.retry_after or 0, intervals[attempt])
        _hand_over(rest, sending=rest[0], at=now + timedelta(seconds=delay), attempt=attempt + 1)
        outcome["provider failed, retrying"] += len(rest)
        return outcome
    logger.warning("messaging: the provider failed %s times in a row: %s", attempt + 1, exc)
    failed = {"status": MessageStatus.FAILED, "error": str(exc)[:2000], "retryable": True, "updated_at": now}
    Message.objects.filter(pk=rest[0].pk, status=MessageStatus.SENDING).update(**failed)
    # The others never went: their retry sends them without looking for them first.
    Message.objects.filter(pk__in=[m.pk for m in rest[1:]], status=MessageStatus.SENDING).update(
        sent_at=None, **failed
    )
    outcome["failed"] += len(rest)
    return outcome


def _hand_over(
    messages: list[Message], *, sending: Message | None, at: datetime | None, attempt: int
) -> None:
    """Give claimed messages to a new job (now, or at `at`): back to QUEUED, but for `sending`,
    which may have gone and stays SENDING for its new job to look for. The new job is scheduled
    even for now: its id, with the time, is never this job's own."""
    now = timezone.now()
    unclaimed = [m.pk for m in messages if m is not sending]
    Message.objects.filter(pk__in=unclaimed, status=MessageStatus.SENDING).update(
        status=MessageStatus.QUEUED, sent_at=None, updated_at=now
    )
    messages_enqueue([m.pk for m in messages], at=at or now, attempt=attempt, bulk=_bulk(messages))


def _resume(message: Message) -> str:
    """A message left SENDING. Only the job that claimed it (running again), or anyone once that
    job is dead, may take it on: a live job's send may be under way. Sent if the provider has it;
    else, if it may still go (consent, quiet hours), sent now."""
    from channels_app.sweeper import JobState, queue_job_state

    now = timezone.now()
    if message.job_id != _current_job_id():
        state, _ = queue_job_state(message.job_id, "messaging-delivery") if message.job_id else (None, "")
        if state in (JobState.LIVE, JobState.RUNNING):
            return "in progress"
    rules = rules_for(message.organization_id)
    outbound = Outbound(message.pk, message.contact.phone, message.body, message.sent_at or now)
    try:
        backend = backend_for(rules)
        found = backend.find(outbound)
    except http.PlatformError as exc:
        if not exc.permanent:
            raise  # rq tries the job again, later
        Message.objects.filter(pk=message.pk).update(status=MessageStatus.FAILED, error=str(exc)[:2000])
        return "failed"
    if found is not None:
        Message.objects.filter(pk=message.pk).update(
            status=MessageStatus.SENT, provider_id=found.provider_id, updated_at=now
        )
        return "sent (found)"
    message.contact.refresh_from_db()
    decision, value = _decide(message, rules, now)
    if decision == "suppress":
        return _suppress([message.pk], value)
    if decision == "defer":
        Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING).update(
            status=MessageStatus.QUEUED, sent_at=None, updated_at=now
        )
        _defer([message.pk], value, bulk=_bulk([message]))
        return "deferred"
    taken = Message.objects.filter(
        pk=message.pk, status=MessageStatus.SENDING, sent_at=message.sent_at
    ).update(sent_at=now, job_id=_current_job_id(), updated_at=now)
    if not taken:
        return "taken by another job"
    message.sent_at = now
    return _send(message, backend)


def _defer(message_ids: list[int], until: datetime, *, bulk: bool) -> None:
    """Past quiet hours (or an automation's delay): one job at their end for these messages."""
    Message.objects.filter(pk__in=message_ids, status=MessageStatus.QUEUED).update(
        send_after=until, updated_at=timezone.now()
    )
    messages_enqueue(message_ids, at=until, bulk=bulk)


def _bulk(messages: Sequence[Message]) -> bool:
    """Whether these are a campaign's (they go on `messaging-bulk`)."""
    return any(message.campaign_id is not None for message in messages)


def _suppress(message_ids: list[int], reason: str, error: str = "") -> str:
    Message.objects.filter(
        pk__in=message_ids, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
    ).update(
        status=MessageStatus.SUPPRESSED,
        suppression_reason=reason,
        error=error[:2000],
        updated_at=timezone.now(),
    )
    return f"suppressed: {reason}"


def _template(message: Message) -> str:
    if message.campaign_id:
        return message.campaign.template  # type: ignore[union-attr]
    if message.automation_id:
        return message.automation.template  # type: ignore[union-attr]
    raise TemplateError("its campaign or automation was deleted: no template to send")


def _context(message: Message) -> dict[str, Any]:
    contact = message.contact
    return {"contact": {"name": contact.name, "phone": contact.phone}, **(message.context or {})}


def messages_sweep(*, older_than: int = 300, jobs: int = 1000) -> dict[str, int]:
    """Enqueue again the deliveries whose job is gone: queued messages that are due (Redis lost
    their job, or was down), and messages left SENDING by a worker that died (their new job looks
    for the send first). The unfinished messages are grouped by the job that carries them, and
    Redis is asked once per job (at most `jobs` a pass), however long the backlog."""
    from django.db.models import Q

    from channels_app.sweeper import JobState, discard_job, queue_job_state

    stale = timezone.now() - timedelta(seconds=older_than)
    stuck = Message.objects.filter(
        Q(send_after__isnull=True) | Q(send_after__lte=stale),
        updated_at__lt=stale,
        status__in=[MessageStatus.QUEUED, MessageStatus.SENDING],
    )
    result = {"requeued": 0, "live": 0}
    carried = stuck.values_list("job_id").annotate(n=Count("pk")).order_by("job_id")[:jobs]
    for job_id, count in carried:
        state, _ = queue_job_state(job_id, "messaging-delivery") if job_id else (JobState.GONE, "")
        if state in (JobState.LIVE, JobState.RUNNING):
            result["live"] += count
            continue
        if job_id:
            discard_job(job_id)
        ids: dict[bool, list[int]] = {True: [], False: []}  # a campaign's, or not
        for pk, campaign_id in stuck.filter(job_id=job_id).order_by("pk").values_list("pk", "campaign_id"):
            ids[campaign_id is not None].append(pk)
        for bulk, waiting in ids.items():
            for start in range(0, len(waiting), BATCH):
                batch = waiting[start : start + BATCH]
                discard_job(delivery_job_id(batch))  # a finished namesake would refuse it
                messages_enqueue(batch, bulk=bulk)
            result["requeued"] += len(waiting)
    return result
