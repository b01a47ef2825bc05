"""The ops console's own pages, inside the admin (wired in config.ops.admin.OpsQueueAdmin)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from django.contrib import admin, messages
from django.contrib.admin.models import CHANGE, DELETION
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import ngettext
from django_rq.settings import get_queues_map

from channels_app.models import Channel, EventStatus, ProcessedWebhookEvent
from channels_app.sweeper import events_waiting
from config import throughput
from config.health import live_workers, queue_stats
from config.ops import failed_jobs as dlq
from config.ops.access import audit
from config.queues import QUEUE_NAMES, get_queue


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Per queue: jobs by state, workers and what they run, the oldest queued job's age, and the
    last hour's throughput and failure rate (the hub's own per-minute counts). Refreshes itself."""
    stats = queue_stats()
    series = throughput.last_hour(get_queue("webhooks").connection)
    rows = []
    for row in stats:
        counts = series.get(row["queue"], {"finished": [0] * 60, "failed": [0] * 60})
        finished, failed = sum(counts["finished"]), sum(counts["failed"])
        per_minute = [a + b for a, b in zip(counts["finished"], counts["failed"], strict=True)]
        peak = max(per_minute) or 1
        queue = get_queue(row["queue"])
        # A worker serving several queues is listed under each of them; its current job belongs
        # under the one queue it came from, whose started registry holds it.
        started = set(queue.started_job_registry.get_job_ids())
        current = [(worker.name[:12], worker.get_current_job_id()) for worker in live_workers(queue)]
        busy = [(name, job_id) for name, job_id in current if job_id in started]
        rows.append(
            {
                **row,
                "index": get_queues_map()[row["queue"]],
                "hour_done": finished + failed,
                "hour_failed": failed,
                "failure_rate": f"{100 * failed / (finished + failed):.1f}%" if finished + failed else "-",
                # A sparkline: one point per minute, 120 x 24 px, newest on the right.
                "spark": " ".join(f"{i * 2},{24 - round(22 * n / peak)}" for i, n in enumerate(per_minute)),
                "busy": busy,
            }
        )
    waiting = [(source, n, age) for source, (n, age) in sorted(events_waiting().items())]
    context = {**admin.site.each_context(request), "title": "Queues", "rows": rows, "waiting": waiting}
    return render(request, "admin/ops/dashboard.html", context)


def failed_jobs_view(request: HttpRequest) -> HttpResponse:
    """Failed jobs of every queue: filter, group by exception, retry or delete (one, selected, all
    matching the filter, after a confirmation that says how many)."""
    filters = _filters(request)
    # Read once, grouped over every filter but the exception type, so each group is one click away.
    every_type = dlq.failed_jobs(replace(filters, exception_type=""))
    jobs = [
        job
        for job in every_type
        if not filters.exception_type or job.exception_type == filters.exception_type
    ]
    if request.method == "POST":
        return _act(request, jobs)
    page = Paginator(jobs, 100).get_page(request.GET.get("page"))
    context = {
        **admin.site.each_context(request),
        "title": "Failed jobs",
        "page": page,
        "total": len(jobs),
        "groups": dlq.counts_by_exception(every_type),
        "queues": QUEUE_NAMES,
        "channels": Channel.objects.order_by("name").values_list("pk", "name", "platform"),
        "filters": filters,
        "query": request.GET.urlencode(),
        "without_exception": _query_without(request, "exception", "page"),
        # Not failed jobs, but the same kind of trouble: events waiting for a merchant's mapping.
        "needs_mapping": ProcessedWebhookEvent.objects.filter(status=EventStatus.NEEDS_MAPPING).count(),
    }
    return render(request, "admin/ops/failed_jobs.html", context)


def _filters(request: HttpRequest) -> dlq.Filters:
    """The page's filters from its query string; a malformed value is ignored, not an error."""
    get = request.GET
    channel = get.get("channel", "")
    return dlq.Filters(
        queue=get.get("queue", "") if get.get("queue") in QUEUE_NAMES else "",
        exception_type=get.get("exception", ""),
        channel_id=int(channel) if channel.isdigit() else None,
        failed_from=_date(get.get("from", "")),
        failed_to=_date(get.get("to", "")),
        search=get.get("q", "").strip(),
    )


def _date(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _query_without(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def _act(request: HttpRequest, jobs: list[dlq.FailedJob]) -> HttpResponse:
    action = request.POST.get("action", "")
    if request.POST.get("scope") == "all":
        chosen = [(job.queue, job.job_id) for job in jobs]
    else:
        chosen = [
            (queue, job_id)
            for queue, _, job_id in (value.partition(":") for value in request.POST.getlist("job"))
            if queue in QUEUE_NAMES and job_id
        ]
    if action not in ("retry", "delete") or not chosen:
        messages.warning(request, "Choose jobs and an action.")
        return redirect(request.get_full_path())
    if not request.POST.get("confirmed"):
        context = {
            **admin.site.each_context(request),
            "title": ngettext("%(action)s %(n)d failed job?", "%(action)s %(n)d failed jobs?", len(chosen))
            % {"action": action.title(), "n": len(chosen)},
            "action": action,
            "chosen": chosen,
            "scope": request.POST.get("scope", ""),
        }
        return render(request, "admin/ops/confirm_failed_jobs.html", context)
    notes: list[str] = []
    if action == "retry":
        retried = [
            dlq.retry(queue, job_id, requested_by=request.user.get_username()) for queue, job_id in chosen
        ]
        done = sum(r.done for r in retried)
        notes = [r.note for r in retried if r.note]
    else:
        done = sum(dlq.delete(queue, job_id) for queue, job_id in chosen)
    verb = "retried" if action == "retry" else "deleted"
    audit(
        request,
        CHANGE if action == "retry" else DELETION,
        ngettext("%(verb)s %(n)d failed job", "%(verb)s %(n)d failed jobs", done) % {"verb": verb, "n": done},
        target=", ".join(job_id for _, job_id in chosen)[:180],
    )
    said = ngettext(
        "%(verb)s %(done)d of %(n)d failed job", "%(verb)s %(done)d of %(n)d failed jobs", len(chosen)
    ) % {"verb": verb.title(), "done": done, "n": len(chosen)}
    # What the retries reopened or started, so that ops know what now runs ("reopened catalog run #5").
    messages.success(request, "; ".join([said, *notes]) + ".")
    return redirect(request.get_full_path())
