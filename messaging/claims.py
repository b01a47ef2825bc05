"""The claim on a message while it is sent, and what a provider's failure does to a batch.

A batch is claimed in one transaction under locks on its contacts' rows (an opt-out takes the
same lock), so consent is read again there and two deliveries to one contact cannot both slip
under the frequency cap. A claim is the message's SENDING status with the claim's time in
`sent_at`. It is its job's for a lease longer than the job's timeout; only then may one other job
take it over, by a compare-and-set on the claim's time, and that job looks for the message at the
provider before sending it again. Every write to a claimed message checks the claim, so a job that
lost it changes nothing. A provider that rate limits or fails gets the rest of the batch handed
over to a new job for later, so that no worker is held waiting.
"""

from __future__ import annotations

import logging
import operator
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from functools import reduce

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from rq import get_current_job

from channels_app import http
from config.queues import SPECS
from messaging.backends import Backend, Outbound, Unsubscribed
from messaging.consent import consent_record, no_consent_reason
from messaging.models import ConsentState, Contact, Message, MessageStatus, Suppression
from messaging.queueing import is_bulk, messages_defer, messages_enqueue
from messaging.rules import EARLY, Defer, Suppress, marketing_counts, message_decide, rules_for

logger = logging.getLogger(__name__)

# A claim (SENDING, with its time) is its holder's for this long: past the job's timeout, so a
# holder still alive is always done with its send; only then may another job take it over.
LEASE = timedelta(seconds=SPECS["messaging-delivery"].timeout + 60)


class MessageOutcome(StrEnum):
    """What became of a message, as a delivery job's result counts it. The texts are the keys of
    the result rq stores with the job, so they stay as they are."""

    SENT = "sent"
    SENT_FOUND = "sent (found)"  # an earlier attempt's send, found at the provider
    FAILED = "failed"
    DEFERRED = "deferred"
    IN_PROGRESS = "in progress"
    DONE_BEFORE = "done before"
    TAKEN = "taken by another job"
    HANDED_OVER = "handed over"
    RATE_LIMITED = "rate limited"
    RETRYING = "provider failed, retrying"


def suppressed(reason: str) -> str:
    """The outcome of a message suppressed for `reason` (a Suppression value)."""
    return f"suppressed: {reason}"


def current_job_id() -> str:
    """The id of the rq job running this code; "" outside a job (a test, a shell)."""
    job = get_current_job()
    return job.id if job is not None else ""


def messages_claim(ready: list[Message], outcome: Counter[str]) -> list[Message]:
    """Claim the ready messages for this job and return those it got, in order.

    Their contacts' rows are locked in id order, so that two claims never deadlock. Under those
    locks consent is read again and the frequency cap is counted with the time read now. The
    messages still queued become SENDING, named by this job; the others are counted in `outcome`."""
    if not ready:
        return []
    job_id = current_job_id()
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
        counts = marketing_counts([m for m in ready if not m.transactional], now)
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
                    counts[message.contact_id] += 1  # A second one in this batch counts too.
            taken.append(message)
        # Only messages still queued are claimed: a cancel or another job may have been first. The
        # row locks keep them this job's until the commit.
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
            outcome[messages_suppress(ids, reason)] += len(ids)
    outcome[MessageOutcome.TAKEN] += len(ready) - len(taken) - sum(map(len, suppress.values()))
    return taken


def message_send(message: Message, backend: Backend) -> str:
    """Send one claimed message and record its status with the provider's id. A refusal that may
    pass (the provider down, its rate limit) is raised, and the caller hands the rest over."""
    # The message is sent only while this job still holds its claim (the claim's time). A job
    # that took it over meanwhile, because its claimer looked dead, wins, and the two never both
    # send. A provider's send cannot be undone, so the claim is renewed with a new time before the
    # call; that is a compare-and-set, so no lock is held over the call, and a takeover needs the
    # old time. The local backend's record can be undone, so its claim is checked after the send,
    # and record and status commit together. The provider's answer is written as soon as it
    # comes; if this process dies in between, the job that takes over looks for the send.
    claim = Message.objects.filter(pk=message.pk, status=MessageStatus.SENDING, sent_at=message.sent_at)
    if not backend.rolls_back:
        renewed = timezone.now()
        if not claim.update(sent_at=renewed, updated_at=renewed):
            return MessageOutcome.TAKEN
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
                    return MessageOutcome.TAKEN
        else:
            # No transaction around the call: on SQLite it would block every other writer for as
            # long as the provider takes.
            sent = backend.send(outbound)
            if not claim.update(provider_id=sent.provider_id, **done):
                return MessageOutcome.TAKEN  # The job that took it over finds this send.
    except Unsubscribed as exc:
        consent_record(message.contact, ConsentState.OPTED_OUT, source="carrier", text=str(exc))
        claim.update(
            status=MessageStatus.SUPPRESSED,
            suppression_reason=Suppression.OPTED_OUT,
            error=str(exc)[:2000],
            updated_at=timezone.now(),
        )
        return suppressed(Suppression.OPTED_OUT)
    except http.PlatformError as exc:
        if not exc.permanent:
            raise
        claim.update(status=MessageStatus.FAILED, error=str(exc)[:2000], updated_at=timezone.now())
        return MessageOutcome.FAILED
    return MessageOutcome.SENT


def provider_failed(
    rest: list[Message], exc: http.PlatformError, attempt: int, resuming: list[Message]
) -> Counter[str]:
    """The provider refused `rest[0]`; decide what becomes of `rest`, and count it.

    A refusal before the provider acted (its rate limit, a 429) hands all of `rest` to a job for
    later. Otherwise the first message may have gone: it stays SENDING, to be looked for, and the
    rest follows it after the retry backoff; past the last retry they all fail, and housekeeping
    retries them hourly. A refusal that will not pass (no Twilio account) fails them for good."""
    outcome: Counter[str] = Counter()
    now = timezone.now()
    if exc.permanent:
        Message.objects.filter(held(rest)).update(
            status=MessageStatus.FAILED, error=str(exc)[:2000], updated_at=now
        )
        outcome[MessageOutcome.FAILED] += len(rest)
        return outcome
    if exc.unsent:
        at = now + timedelta(seconds=max(1.0, exc.retry_after or 1.0))
        messages_hand_over(rest, resuming, at=at, attempt=attempt)
        outcome[MessageOutcome.RATE_LIMITED] += len(rest)
        return outcome
    may_have_gone = [rest[0], *resuming]
    intervals = settings.HUB_JOB_RETRY_INTERVALS
    if attempt < len(intervals):
        delay = max(exc.retry_after or 0, intervals[attempt])
        messages_hand_over(rest, may_have_gone, at=now + timedelta(seconds=delay), attempt=attempt + 1)
        outcome[MessageOutcome.RETRYING] += len(rest)
        return outcome
    logger.warning("messaging: the provider failed %s times in a row: %s", attempt + 1, exc)
    failed = {"status": MessageStatus.FAILED, "error": str(exc)[:2000], "retryable": True, "updated_at": now}
    Message.objects.filter(held(may_have_gone)).update(**failed)
    # The others never went, so their retry sends them without looking for them first.
    Message.objects.filter(held([m for m in rest if m not in may_have_gone])).update(sent_at=None, **failed)
    outcome[MessageOutcome.FAILED] += len(rest)
    return outcome


def messages_hand_over(
    messages: list[Message], may_have_gone: list[Message], *, at: datetime | None, attempt: int
) -> None:
    """Give this job's messages to a new job, now or at `at`.

    They go back to QUEUED, except those that may have gone: these stay SENDING with their lease
    given up, so that the new job takes them over and looks for them at once. The new job is
    scheduled even when it is for now, because the time in its id keeps it apart from this job's
    own id."""
    now = timezone.now()
    gone = [m for m in may_have_gone if m in messages]
    expired = now - LEASE - EARLY
    # A claim's time is also when its attempt began, and a lookup at the provider searches from
    # there. So only a claim still within its lease is moved back; an older one keeps its time.
    recent = [m for m in gone if m.sent_at is None or m.sent_at > expired]
    if recent:
        Message.objects.filter(held(recent)).update(sent_at=expired, updated_at=now)
    unclaimed = [m for m in messages if m not in gone]
    if unclaimed:
        Message.objects.filter(held(unclaimed)).update(
            status=MessageStatus.QUEUED, sent_at=None, updated_at=now
        )
    messages_enqueue([m.pk for m in messages], at=at or now, attempt=attempt, bulk=is_bulk(messages))


def held(messages: Sequence[Message]) -> Q:
    """The query for these messages while this job still holds their claims (SENDING, with the
    claim's time), so that a write to a message another job took over changes nothing."""
    by_claim: defaultdict[datetime | None, list[int]] = defaultdict(list)
    for message in messages:
        by_claim[message.sent_at].append(message.pk)
    claims = [
        Q(sent_at=at, pk__in=pks) if at else Q(sent_at__isnull=True, pk__in=pks)
        for at, pks in by_claim.items()
    ]
    return Q(status=MessageStatus.SENDING) & reduce(operator.or_, claims, Q(pk__in=[]))


def message_resume(message: Message, backend: Backend) -> str:
    """Take over a message left SENDING whose lease ran out (its job died, or gave it up) and
    finish it.

    The takeover is a compare-and-set on the old claim, so only one job wins. The message is then
    looked for at the provider from when that attempt began, and sent only if it is not there and
    may still go (consent, its campaign, the quiet hours). A refusal that may pass is raised, as
    for a send."""
    now = timezone.now()
    attempted = message.sent_at or now - timedelta(days=1)
    if not Message.objects.filter(held([message])).update(
        sent_at=now, job_id=current_job_id(), updated_at=now
    ):
        return MessageOutcome.TAKEN
    message.sent_at = now
    mine = Message.objects.filter(held([message]))
    try:
        found = backend.find(Outbound(message.pk, message.contact.phone, message.body, attempted))
    except http.PlatformError as exc:
        if not exc.permanent:
            # It is handed over, and the next lookup must search from the lost attempt, not now.
            mine.update(sent_at=attempted)
            message.sent_at = attempted
            raise
        mine.update(status=MessageStatus.FAILED, error=str(exc)[:2000], updated_at=now)
        # The provider cannot say whether it went, and it is never sent again blindly.
        return MessageOutcome.FAILED
    if found is not None:
        mine.update(status=MessageStatus.SENT, provider_id=found.provider_id, updated_at=now)
        return MessageOutcome.SENT_FOUND
    message.contact.refresh_from_db()
    if message.campaign_id is not None:
        message.campaign.refresh_from_db(fields=["status"])  # type: ignore[union-attr]
    decision = message_decide(message, rules_for(message.organization_id), now)
    if isinstance(decision, Suppress):
        mine.update(status=MessageStatus.SUPPRESSED, suppression_reason=decision.reason, updated_at=now)
        return suppressed(decision.reason)
    if isinstance(decision, Defer):
        if mine.update(status=MessageStatus.QUEUED, sent_at=None, updated_at=now):
            messages_defer([message.pk], decision.until, bulk=is_bulk([message]))
        return MessageOutcome.DEFERRED
    return message_send(message, backend)


def messages_suppress(message_ids: list[int], reason: str, error: str = "") -> str:
    """Suppress these messages, unless they are finished already; the outcome to count them as."""
    Message.objects.filter(
        pk__in=message_ids, status__in=[MessageStatus.QUEUED, MessageStatus.SENDING]
    ).update(
        status=MessageStatus.SUPPRESSED,
        suppression_reason=reason,
        error=error[:2000],
        updated_at=timezone.now(),
    )
    return suppressed(reason)
