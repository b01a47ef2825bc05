"""The site's own answers outside any app: the admin-styled 403 page and the favicon."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import User
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

FAVICON = Path(settings.BASE_DIR) / "config" / "static" / "hub" / "favicon.ico"


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """403 in the admin's own page, saying what is needed and whom to ask; JSON to a client
    that asked for JSON (a page's script, a scraper), which has no use for a page."""
    reason = str(exception) or "this page needs a permission your account does not have"
    if request.accepts("application/json") and not request.accepts("text/html"):
        return JsonResponse({"error": reason}, status=403)
    context = {
        **admin.site.each_context(request),
        "title": "Permission needed",
        "reason": reason[:1].upper() + reason[1:],
        "administrators": _administrators() if request.user.is_staff else [],
    }
    return render(request, "admin/403.html", context, status=403)


def _administrators() -> list[str]:
    """Who can grant a permission: the active superusers, by their email where they have one."""
    users = User.objects.filter(is_superuser=True, is_active=True).order_by("username")
    return [user.email or user.username for user in users[:5]]


def favicon(request: HttpRequest) -> FileResponse:
    """/favicon.ico, which browsers ask for whatever the page links: a 404 on every page was noise
    in the logs. Cached for a day, like the icon the pages link."""
    response = FileResponse(FAVICON.open("rb"), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response
