"""The one HTTP layer for platform calls, against a local HTTP server."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from werkzeug import Response

from channels_app import http, ratelimit
from tests.platforms import LOOPBACK

CALL = http.Call(platform="shopify", channel_id=7, bucket=None)


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(http, "BACKOFF", 0.01)


def test_a_429_is_retried_after_the_seconds_retry_after_says(httpserver):
    httpserver.expect_ordered_request("/x").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "1"})
    )
    httpserver.expect_ordered_request("/x").respond_with_json({"ok": True})
    started = time.monotonic()
    response = http.send(CALL, "GET", httpserver.url_for("/x"))
    assert response.json() == {"ok": True}
    assert time.monotonic() - started >= 0.95  # it waited as told, not its own short backoff
    assert len(httpserver.log) == 2


def test_a_5xx_is_retried_with_backoff_until_it_succeeds(httpserver):
    for status in (502, 503):
        httpserver.expect_ordered_request("/x", method="POST").respond_with_data("oops", status=status)
    httpserver.expect_ordered_request("/x", method="POST").respond_with_json({"id": 1})
    assert http.send(CALL, "POST", httpserver.url_for("/x"), json={"a": 1}).json() == {"id": 1}
    assert [request.get_json() for request, _ in httpserver.log] == [{"a": 1}] * 3


def test_a_5xx_that_persists_fails_for_the_job_to_retry_later(httpserver):
    httpserver.expect_request("/x").respond_with_data("down", status=500)
    with pytest.raises(http.PlatformError) as failure:
        http.send(CALL, "GET", httpserver.url_for("/x"))
    assert (failure.value.permanent, failure.value.status) == (False, 500)
    assert len(httpserver.log) == http.ATTEMPTS


def test_a_long_retry_after_gives_the_worker_back_at_once(httpserver):
    httpserver.expect_request("/x").respond_with_response(
        Response("", status=429, headers={"Retry-After": "600"})
    )
    with pytest.raises(http.PlatformError) as failure:
        http.send(CALL, "GET", httpserver.url_for("/x"))
    assert (failure.value.permanent, failure.value.retry_after) == (False, 600)
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_a_client_error_fails_permanently_without_retrying(httpserver, status):
    httpserver.expect_request("/x").respond_with_json({"errors": "Not Found"}, status=status)
    with pytest.raises(http.PlatformError) as failure:
        http.send(CALL, "GET", httpserver.url_for("/x"))
    assert failure.value.permanent and failure.value.status == status
    assert "Not Found" in str(failure.value)
    assert len(httpserver.log) == 1


def test_an_unreachable_server_is_a_transient_failure():
    with pytest.raises(http.PlatformError) as failure:
        http.send(CALL, "GET", "http://127.0.0.1:9/nothing-listens-here", attempts=2)
    assert not failure.value.permanent and "ConnectionError" in str(failure.value)


def test_each_call_is_logged_without_its_query_string_or_headers(httpserver, caplog):
    httpserver.expect_request("/api/v2/shop/get_shop_info").respond_with_json({})
    with caplog.at_level(logging.INFO, logger="channels_app.http"):
        http.send(
            CALL,
            "GET",
            httpserver.url_for("/api/v2/shop/get_shop_info"),
            params={"access_token": "SECRET-TOKEN"},
            headers={"X-Shopify-Access-Token": "shpat_SECRET"},
        )
    (record,) = [r for r in caplog.records if r.name == "channels_app.http"]  # (not the test server's)
    assert record.getMessage().startswith("shopify GET /api/v2/shop/get_shop_info -> 200 in ")
    assert (record.http_status, record.channel_id) == (200, 7)
    assert "SECRET" not in record.getMessage() + str(vars(record))


def test_the_bucket_is_shared_and_refills_at_its_rate(redis_connection):
    bucket = ratelimit.Bucket("channel:test", rate=20, capacity=2)
    assert ratelimit.acquire(redis_connection, bucket) == 0
    assert ratelimit.acquire(redis_connection, bucket) == 0  # the burst
    assert ratelimit.acquire(redis_connection, bucket) > 0  # then it waits for its token (~50 ms)
    ratelimit.set_available(redis_connection, bucket, 0)
    with pytest.raises(ratelimit.RateLimitWait):
        ratelimit.acquire(redis_connection, bucket, cost=2, max_wait=0.01)


def test_an_expensive_call_is_served_in_turn_not_starved_by_cheap_ones(redis_connection):
    bucket = ratelimit.Bucket("shopify:test", rate=100, capacity=100)
    ratelimit.set_available(redis_connection, bucket, 0)
    started = time.monotonic()
    assert ratelimit.acquire(redis_connection, bucket, cost=50) == pytest.approx(0.5, abs=0.05)
    assert time.monotonic() - started >= 0.45
    # The 50 points were taken when asked (the balance went to -50 and refilled while it waited):
    # a call asking then would have waited behind them instead of taking them.
    assert float(redis_connection.hget(bucket.redis_key, "tokens")) <= 0


CALLER = """
import sys, django
django.setup()
from channels_app import http, ratelimit
bucket = ratelimit.Bucket("channel:shared", rate=float(sys.argv[2]), capacity=1)
call = http.Call(platform="woocommerce", channel_id=1, bucket=bucket)
for _ in range(int(sys.argv[3])):
    http.send(call, "GET", sys.argv[1])
"""


def test_two_worker_processes_respect_one_shops_rate_limit_together(httpserver):
    """Two processes, 12 calls each, one bucket of 10 calls/s: together they take >= 2.3 s."""
    stamps: list[float] = []

    def handler(request):
        stamps.append(time.monotonic())
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/wp-json/wc/v3/system_status").respond_with_handler(handler)
    env = {
        **os.environ,
        "REDIS_URL": settings.REDIS_URL,
        "HUB_DEV_WARNING_SHOWN": "1",
        "HUB_OUTBOUND_ALLOW_NETWORKS": ",".join(LOOPBACK),
    }
    args = [sys.executable, "-c", CALLER, httpserver.url_for("/wp-json/wc/v3/system_status"), "10", "12"]
    processes = [subprocess.Popen(args, env=env) for _ in range(2)]
    assert [p.wait(timeout=60) for p in processes] == [0, 0]
    assert len(stamps) == 24
    # 24 calls from a bucket holding 1 and refilling 10/s: at least 2.3 s from first to last, and no
    # second holds more than the refill allows (11 calls: 10 refilled plus the one held).
    assert stamps[-1] - stamps[0] >= 2.2
    for first in stamps:
        assert sum(1 for t in stamps if first <= t < first + 1) <= 11
