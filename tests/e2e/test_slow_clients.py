"""Slow clients do not hold the web server that answers platforms (gunicorn as the hub runs it:
config/gunicorn.py, config/slowclients.py)."""

from __future__ import annotations

import socket
import time

import pytest

from channels_app.models import ProcessedWebhookEvent
from tests.channels_app import factories
from tests.e2e.conftest import post_uninstall

pytestmark = pytest.mark.e2e

SLOW = 20  # connections announcing 2 MB bodies that never come (two sync workers were held by 2)


def slow_connection(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /webhooks/shopify/ HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2097152\r\n\r\n{"
    )
    return sock


def test_slow_bodies_neither_stall_webhooks_nor_hold_a_thread_past_their_time(processes):
    base = processes.web(HUB_REQUEST_BODY_TIMEOUT="3")
    factories.shopify_channel()
    slow = [slow_connection(base) for _ in range(SLOW)]
    try:
        time.sleep(0.5)  # every one of them holds a thread, reading its body
        started = time.monotonic()
        response = post_uninstall(base)
        answered_in = time.monotonic() - started
        assert response.status_code == 200
        assert answered_in < 1, answered_in
        assert ProcessedWebhookEvent.objects.count() == 1
        # Past their time, each is answered 408 and its thread is free.
        for sock in slow:
            sock.settimeout(10)
            assert sock.recv(64).startswith(b"HTTP/1.1 408"), "a slow body was not cut"
    finally:
        for sock in slow:
            sock.close()
