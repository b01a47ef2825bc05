"""Delivering messages: every rule applied, every decision recorded.

A delivery job carries a batch: a campaign's hundred messages (on `messaging-bulk`), or the one
message an automation or an inbound keyword made (on `messaging-delivery`, which workers take
first). For each message, in order: no consent or opted out → suppressed;
inside the recipient's quiet hours → deferred to their end (a job scheduled for then; the message
stays queued); marketing past the frequency cap → suppressed; a template that cannot render →
failed with its error; else sent once.

The batch is claimed in one transaction under locks on its contacts' rows (an opt-out takes the
same lock): consent is read again there, and two deliveries to one contact cannot both slip under
the cap. Each message names the job that carries it (`job_id`), so the sweep asks Redis once per
job whether it still lives. A claim (SENDING, with its time) is its job's for a lease longer than
the job's timeout; only then may one other job take it over (compare-and-set on the claim), and
it looks for the message at the provider before sending it again. Every write to a claimed
message checks the claim, so a job that lost it changes nothing. A job sends for at most half its
timeout and hands what is left to a new job; a provider that rate limits or fails gets the rest
handed over for later, never a worker held waiting.
"""

from __future__ import annotations

import logging
import operator
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import reduce
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from channels_app import http
from channels_app.sweeper import discard_job, job_live
from config.queues import SPECS, enqueue, get_queue, job_options
from messaging.backends import Backend, Outbound, Unsubscribed, backend_for
from messaging.checkouts import checkout_completed
from messaging.consent import consent_record, no_consent_reason
from messaging.models import (
    Campaign,
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
RECHECK = 1.0  # seconds between two looks for cancels and opt-outs during a batch's sends
# A claim (SENDING, with its time) is its holder's for this long: past the job's timeout, so a
# holder still alive is always done with its send; only then may another job take it over.
LEASE = timedelta(seconds=SPECS["messaging-delivery"].timeout + 60)
EARLY = timedelta(seconds=2)  # rq's scheduler may start a job this much before its time

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
    queue = BULK if bulk else "messaging-delivery"
    try:
        enqueue(queue, DELIVER_JOB, ids, attempt, job_id=job_id, at=at)
    except DuplicateJobError:
        if job_live(job_id, "messaging-delivery"):
            return job_id  # that job is there already, and takes them
        discard_job(job_id)  # a finished namesake (rq keeps results a day): replaced
        try:
            enqueue(queue, DELIVER_JOB, ids, attempt, job_id=job_id, at=at)
        except DuplicateJobError:
            pass  # another process just did
    return job_id


def batches_enqueue(batches: Sequence[Sequence[int]]) -> None:
    """A campaign's delivery jobs, one per batch, in one Redis round trip (rq's enqueue_many in a
    pipeline); each batch's messages name their job first."""
    from rq.job import Job

    queue = get_queue(BULK)
    batches = [sorted(batch) for batch in batches if batch]
    with queue.connection.pipeline() as pipe:
        for batch in batches:
            pipe.exists(Job.key_for(delivery_job_id(batch)))
        present = pipe.execute()
    jobs = []
    for ids, exists in zip(batches, present, strict=True):
        job_id = delivery_job_id(ids)
        if exists:  # a retried fan-out: the job of this batch is there if still alive
            if job_live(job_id, "messaging-delivery"):
                continue
            discard_job(job_id)
        Message.objects.filter(pk__in=ids).update(job_id=job_id, updated_at=timezone.now())
        jobs.append(
            queue.prepare_data(
                DELIVER_JOB, args=(ids, 0), job_id=job_id, timeout=SPECS[BULK].timeout, **job_options()
            )
        )
    if jobs:
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()


def messages_deliver(message_ids: Sequence[int], attempt: int = 0) -> dict[str, int]:
    """Apply the rules to the messages and send those that may go; what became of them."""
    started = checked = time.monotonic()
    outcome: Counter[str] = Counter()
    messages = list(
        Message.objects.select_related("contact", "campaign", "automation")
        .filter(pk__in=message_ids)
        .order_by("pk")
    )
    now = timezone.now()
    ready: list[Message] = []
    resuming: list[Message] = []  # left SENDING by a dead job (or by this one, run again)
    later: defaultdict[datetime, list[Message]] = defaultdict(list)
    suppress: defaultdict[str, list[int]] = defaultdict(list)
    for message in messages:
        if message.status == MessageStatus.SENDING:
            if message.sent_at and message.sent_at > now - LEASE:
                outcome["in progress"] += 1  # its claimer's still: sending, or dead and then swept
            else:
                resuming.append(message)
            continue
        if message.status != MessageStatus.QUEUED:
            outcome["done before"] += 1  # a duplicate job, or a cancel that landed first
            continue
        decision, value = _decide(message, rules_for(message.organization_id), now)
        if decision == "suppress":
            suppress[value].append(message.pk)
        elif decision == "defer":
            later[value].append(message)
        elif not message.body and not _render(message):
            outcome["failed"] += 1
        else:
            ready.append(message)
    for reason, ids in suppress.items():
        outcome[_suppress(ids, reason)] += len(ids)
    for due, waiting in later.items():
        _defer([m.pk for m in waiting], due, bulk=_bulk(waiting))
        outcome["deferred"] += len(waiting)
    work = resuming + _claim(ready, outcome)
    backends: dict[int, Backend] = {}
    withdrawn: dict[int, str] = {}
    sent_any = False
    for index, message in enumerate(work):
        if index and time.monotonic() - started > BUDGET:
            # The rest to a new job: this one has used its time (a slow provider, a rate limit);
            # each job sends at least one, so a batch always moves.
            _hand_over(work[index:], resuming, at=None, attempt=0 if sent_any else attempt)
            outcome["handed over"] += len(work) - index
            break
        if time.monotonic() - checked > RECHECK:
            # A cancel or an opt-out since the claim withdraws what this job has not sent yet.
            checked = time.monotonic()
            withdrawn = _withdrawn(work[index:], resuming)
        if message.pk in withdrawn:
            Message.objects.filter(_held([message])).update(
                status=MessageStatus.SUPPRESSED,
                suppression_reason=withdrawn[message.pk],
                updated_at=timezone.now(),
            )
            outcome[f"suppressed: {withdrawn[message.pk]}"] += 1
            continue
        try:
            backend = backends.get(message.organization_id)
            if backend is None:
                backend = backends[message.organization_id] = backend_for(rules_for(message.organization_id))
            done = _resume(message, backend) if message in resuming else _send(message, backend)
        except http.PlatformError as exc:
            outcome.update(_provider_failed(work[index:], exc, 0 if sent_any else attempt, resuming))
            break
        outcome[done] += 1
        sent_any = True
    return dict(+outcome)  # what happened, without the zero counts


def _withdrawn(rest: list[Message], resuming: list[Message]) -> dict[int, str]:
    """Of the claimed messages not sent yet, those whose campaign was cancelled or whose contact
    opted out since the claim, with the reason (a resumed one decides again by itself)."""
    claimed = [m for m in rest if m not in resuming and not m.keyword_reply]
    campaigns = {m.campaign_id for m in claimed if m.campaign_id is not None}
    cancelled = set(
        Campaign.objects.filter(pk__in=campaigns, status=CampaignStatus.CANCELLED).values_list(
            "pk", flat=True
        )
    )
    consent = dict(
        Contact.objects.filter(pk__in={m.contact_id for m in claimed})
        .exclude(consent=ConsentState.OPTED_IN)
        .values_list("pk", "consent")
    )
    withdrawn: dict[int, str] = {}
    for message in claimed:
        if message.campaign_id in cancelled:
            withdrawn[message.pk] = Suppression.CAMPAIGN_CANCELLED
        elif message.contact_id in consent:
            withdrawn[message.pk] = no_consent_reason(consent[message.contact_id])
    return withdrawn


def _decide(message: Message, rules: MessagingSettings, now: datetime) -> tuple[str, Any]:
    """("send", None), ("suppress", reason) or ("defer", until when), from what was read."""
    if message.campaign_id is not None and message.campaign.status == CampaignStatus.CANCELLED:  # type: ignore[union-attr]
        return "suppress", Suppression.CAMPAIGN_CANCELLED
    soon = now + EARLY  # a deferred job started a moment early is on time, not deferred again
    if message.send_after and message.send_after > soon:
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
        return "suppress", no_consent_reason(contact.consent)
    zone = recipient_zone(contact, rules, (message.context or {}).get("address_zone", ""))
    allowed = next_allowed(soon, zone, rules.quiet_start, rules.quiet_end)
    return ("defer", allowed) if allowed > soon else ("send", None)


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
                    suppress[no_consent_reason(contact.consent)].append(message.pk)
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
            .order_by("pk")
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
    # Still this job's claim (the claim's time) through the send: a job that took the message
    # over meanwhile (its claimer looked dead) wins, and the two never both send. A provider's
    # send cannot be undone, so its claim is renewed first with a new time (compare-and-set: no
    # lock held over the call; a takeover needs the old time). The local backend's record can,
    # so it is checked after, and record and status commit together. Twilio's answer is written
    # as soon as it comes (looked for if this process dies in between).
    claim = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING, sent_at=message.sent_at)
    if not backend.rolls_back:
        renewed = timezone.now()
        if not claim.update(sent_at=renewed, updated_at=renewed):
            return "taken by another job"
        message.sent_at = renewed
        claim = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING, sent_at=renewed)
    outbound = Outbound(message.pk, message.contact.phone, message.body, message.sent_at or timezone.now())
    done = {"status": MessageStatus.SENT, "error": "", "updated_at": timezone.now()}
    try:
        if backend.rolls_back:
            with transaction.atomic():
                sent = backend.send(outbound)
                if not claim.update(provider_id=sent.provider_id, **done):
                    transaction.set_rollback(True)
                    return "taken by another job"
        else:
            # No transaction around the call: SQLite's would hold every writer for its length.
            sent = backend.send(outbound)
            if not claim.update(provider_id=sent.provider_id, **done):
                return "taken by another job"  # which finds this send at the provider
    except Unsubscribed as exc:
        consent_record(message.contact, ConsentState.OPTED_OUT, source="carrier", text=str(exc))
        claim.update(
            status=MessageStatus.SUPPRESSED,
            suppression_reason=Suppression.OPTED_OUT,
            error=str(exc)[:2000],
            updated_at=timezone.now(),
        )
        return f"suppressed: {Suppression.OPTED_OUT}"
    except http.PlatformError as exc:
        if not exc.permanent:
            raise
        claim.update(status=MessageStatus.FAILED, error=str(exc)[:2000], updated_at=timezone.now())
        return "failed"
    return "sent"


def _provider_failed(
    rest: list[Message], exc: http.PlatformError, attempt: int, resuming: list[Message]
) -> Counter[str]:
    """The provider refused `rest[0]` for now. Refused before it acted (its rate limit, a 429):
    all of `rest` goes later. Else the first may have gone: it stays SENDING, to be looked for,
    and the rest follows it after a backoff; past the retries, all fail (retried hourly). A
    refusal that will not pass (no Twilio account) fails them all for good."""
    outcome: Counter[str] = Counter()
    now = timezone.now()
    if exc.permanent:
        Message.objects.filter(_held(rest)).update(
            status=MessageStatus.FAILED, error=str(exc)[:2000], updated_at=now
        )
        outcome["failed"] += len(rest)
        return outcome
    if exc.unsent:
        at = now + timedelta(seconds=max(1.0, exc.retry_after or 1.0))
        _hand_over(rest, resuming, at=at, attempt=attempt)
        outcome["rate limited"] += len(rest)
        return outcome
    may_have_gone = [rest[0], *resuming]
    intervals = settings.HUB_JOB_RETRY_INTERVALS
    if attempt < len(intervals):
        delay = max(exc.retry_after or 0, intervals[attempt])
        _hand_over(rest, may_have_gone, at=now + timedelta(seconds=delay), attempt=attempt + 1)
        outcome["provider failed, retrying"] += len(rest)
        return outcome
    logger.warning("messaging: the provider failed %s times in a row: %s", attempt + 1, exc)
    failed = {"status": MessageStatus.FAILED, "error": str(exc)[:2000], "retryable": True, "updated_at": now}
    Message.objects.filter(_held(may_have_gone)).update(**failed)
    # The others never went: their retry sends them without looking for them first.
    Message.objects.filter(_held([m for m in rest if m not in may_have_gone])).update(sent_at=None, **failed)
    outcome["failed"] += len(rest)
    return outcome


def _hand_over(
    messages: list[Message], may_have_gone: list[Message], *, at: datetime | None, attempt: int
) -> None:
    """Give this job's messages to a new job (now, or at `at`): back to QUEUED, but for those that
    may have gone, which stay SENDING with their lease given up, for the new job to take over and
    look for at once. The new job is scheduled even for now: its id, with the time, is never this
    job's own."""
    now = timezone.now()
    gone = [m for m in may_have_gone if m in messages]
    expired = now - LEASE - EARLY
    # A claim's time is also when its attempt began (a lookup searches from there): one already
    # past its lease keeps it.
    recent = [m for m in gone if m.sent_at is None or m.sent_at > expired]
    if recent:
        Message.objects.filter(_held(recent)).update(sent_at=expired, updated_at=now)
    unclaimed = [m for m in messages if m not in gone]
    if unclaimed:
        Message.objects.filter(_held(unclaimed)).update(
            status=MessageStatus.QUEUED, sent_at=None, updated_at=now
        )
    messages_enqueue([m.pk for m in messages], at=at or now, attempt=attempt, bulk=_bulk(messages))


def _held(messages: Sequence[Message]) -> Q:
    """These messages, as long as their claims are still the ones this job holds (SENDING, with
    the claim's time): a write to a message another job took over changes nothing."""
    by_claim: defaultdict[datetime | None, list[int]] = defaultdict(list)
    for message in messages:
        by_claim[message.sent_at].append(message.pk)
    held = [
        Q(sent_at=at, pk__in=pks) if at else Q(sent_at__isnull=True, pk__in=pks)
        for at, pks in by_claim.items()
    ]
    return Q(status=MessageStatus.SENDING) & reduce(operator.or_, held, Q(pk__in=[]))


def _resume(message: Message, backend: Backend) -> str:
    """A message left SENDING whose lease ran out (its job died, or gave it up): taken over first
    (compare-and-set on the old claim: one job wins), then looked for at the provider from when
    that attempt began; sent if it is not there and may still go (consent, the campaign, quiet
    hours). A refusal that could pass is raised, as for a send."""
    now = timezone.now()
    attempted = message.sent_at or now - timedelta(days=1)
    if not Message.objects.filter(_held([message])).update(
        sent_at=now, job_id=_current_job_id(), updated_at=now
    ):
        return "taken by another job"
    message.sent_at = now
    mine = Message.objects.filter(_held([message]))
    try:
        found = backend.find(Outbound(message.pk, message.contact.phone, message.body, attempted))
    except http.PlatformError as exc:
        if not exc.permanent:
            # Handed over: the next lookup must search from the lost attempt, not from here.
            mine.update(sent_at=attempted)
            message.sent_at = attempted
            raise
        mine.update(status=MessageStatus.FAILED, error=str(exc)[:2000], updated_at=now)
        return "failed"  # the provider cannot be asked: not sent again blindly
    if found is not None:
        mine.update(status=MessageStatus.SENT, provider_id=found.provider_id, updated_at=now)
        return "sent (found)"
    message.contact.refresh_from_db()
    if message.campaign_id is not None:
        message.campaign.refresh_from_db(fields=["status"])  # type: ignore[union-attr]
    decision, value = _decide(message, rules_for(message.organization_id), now)
    if decision == "suppress":
        mine.update(status=MessageStatus.SUPPRESSED, suppression_reason=value, updated_at=now)
        return f"suppressed: {value}"
    if decision == "defer":
        if mine.update(status=MessageStatus.QUEUED, sent_at=None, updated_at=now):
            _defer([message.pk], value, bulk=_bulk([message]))
        return "deferred"
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


def messages_sweep(*, older_than: int = 300, limit: int = 10_000) -> dict[str, int]:
    """Enqueue again the deliveries whose job is gone: queued messages that are due (Redis lost
    their job, or was down), and messages left SENDING by a worker that died (their new job looks
    for the send first). The stalest unfinished messages are grouped by the job that carries
    them and Redis is asked once per job; live ones are touched, so the next pass (a minute
    later) looks further down a long backlog."""
    from django.db.models import Q

    now = timezone.now()
    stale = now - timedelta(seconds=older_than)
    stuck = (
        Message.objects.filter(updated_at__lt=stale, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING])
        .filter(Q(send_after__isnull=True) | Q(send_after__lte=stale))
        .order_by("updated_at")
        .values_list("pk", "job_id", "campaign_id")[:limit]
    )
    by_job: defaultdict[str, dict[bool, list[int]]] = defaultdict(lambda: {True: [], False: []})
    for pk, job_id, campaign_id in stuck:
        by_job[job_id][campaign_id is not None].append(pk)  # a campaign's go on messaging-bulk
    result = {"requeued": 0, "live": 0}
    live: list[int] = []
    for job_id, carried in by_job.items():
        if job_id and job_live(job_id, "messaging-delivery"):
            live += carried[True] + carried[False]
            continue
        if job_id:
            discard_job(job_id)
        for bulk, waiting in carried.items():
            waiting.sort()
            for start in range(0, len(waiting), BATCH):
                messages_enqueue(waiting[start : start + BATCH], bulk=bulk)
            result["requeued"] += len(waiting)
    for start in range(0, len(live), 1000):
        Message.objects.filter(pk__in=live[start : start + 1000]).update(updated_at=now)
    result["live"] = len(live)
    return result
