"""The ops gate on queue and job pages, and the audit trail of what ops do there.

django-rq's own pages need only `is_staff`: any staff user could empty a queue. Here every one of
them (and every hub action on jobs or events) needs the explicit ops permission, and each change
made through them is written to the admin log: who, what, when.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any

from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import ngettext
from django_rq.models import Dashboard
from django_rq.settings import get_api_token, get_queues_list

# django-rq's own "Access admin page" permission, granted to ops only (never implied by is_staff).
OPS_PERMISSION = "django_rq.admin"
# What a user without it is told, on the admin's styled 403 page.
OPS_NEEDED = "queue and job pages need the ops permission (django_rq | Django-RQ | Access admin page)"

# django-rq's views that change something when POSTed, and how the admin log names the change.
AUDITED_VIEWS: dict[str, tuple[int, str]] = {
    "delete_job": (DELETION, "deleted job"),
    "requeue_job_view": (CHANGE, "requeued job"),
    "enqueue_job": (CHANGE, "enqueued job"),
    "stop_job": (CHANGE, "stopped job"),
    "clear_queue": (DELETION, "emptied queue"),
    "requeue_all": (CHANGE, "requeued every failed job"),
    "delete_failed_jobs": (DELETION, "deleted every failed job"),
    "actions": (CHANGE, "ran a bulk action"),
}


def is_ops(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.has_perm(OPS_PERMISSION)


def audit(request: HttpRequest, flag: int, what: str, *, obj: Model | None = None, target: str = "") -> None:
    """One admin log line for an ops action on a queue, a job or an event."""
    model: type[Model] = type(obj) if obj is not None else Dashboard
    assert request.user.pk is not None  # Only logged-in ops get here, so the user has an id.
    LogEntry.objects.create(
        user_id=request.user.pk,
        content_type=ContentType.objects.get_for_model(model, for_concrete_model=False),
        object_id=str(obj.pk if obj is not None else target)[:200],
        object_repr=(str(obj) if obj is not None else target)[:200],
        action_flag=flag,
        change_message=f"{what} {target}".strip(),
    )


def ops_or_api_token(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For django-rq's stats JSON and Prometheus views, which let any staff user in (and show
    Redis' host, port and database): the ops permission, or RQ_API_TOKEN as a bearer header or
    in django-rq's token path, for a scraper."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if is_ops(request) or _api_token_given(request, kwargs.get("token") or ""):
            return view(request, *args, **kwargs)
        return JsonResponse({"error": "the ops permission or the API token is required"}, status=403)

    return wrapper


def _api_token_given(request: HttpRequest, in_path: str) -> bool:
    expected = get_api_token().encode()
    bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(expected) and any(
        hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected) for given in (in_path, bearer)
    )


def ops_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """403 for anyone without the ops permission (GET and POST alike); audit what changes."""
    audited = AUDITED_VIEWS.get(view.__name__)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_ops(request):
            raise PermissionDenied(OPS_NEEDED)
        response = view(request, *args, **kwargs)
        if audited and request.method == "POST" and response.status_code < 400:
            flag, what = audited
            target = _describe(request, kwargs)
            audit(request, flag, what, target=target)
        return response

    return wrapper


def _describe(request: HttpRequest, kwargs: dict[str, Any]) -> str:
    parts = []
    if "queue_index" in kwargs:
        queues = get_queues_list()
        index = int(kwargs["queue_index"])
        parts.append(f"queue {queues[index]['name'] if index < len(queues) else index}")
    if "job_id" in kwargs:
        parts.append(f"job {kwargs['job_id']}")
    if request.POST.get("action"):
        job_ids = request.POST.getlist("job_ids")
        jobs = ngettext("%(n)d job", "%(n)d jobs", len(job_ids)) % {"n": len(job_ids)}
        parts.append(f"action {request.POST['action']} on {jobs}: {', '.join(job_ids)[:120]}")
    return ", ".join(parts)
