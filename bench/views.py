"""Baselines for the webhook endpoint: the same request through the same middleware, doing less."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def noop(request: HttpRequest) -> HttpResponse:
    """No database, no Redis. The body is read because the webhook view reads it too, and a socket
    closed with unread data may be reset before the client reads the answer."""
    request.body  # noqa: B018
    return HttpResponse(b"ok")


@csrf_exempt
@require_POST
def insert(request: HttpRequest) -> HttpResponse:
    """One durable INSERT of the body (autocommit: one commit, as the webhook's one transaction)."""
    with connection.cursor() as cursor:
        body = request.body.decode("utf-8", "replace")
        cursor.execute("INSERT INTO bench_insert (body) VALUES (%s)", [body])
    return HttpResponse(b"ok")
