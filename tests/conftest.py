"""Test setup: real Redis (REDIS_URL, else a private embedded Valkey), real database, real workers."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from django.conf import settings

from config.embedded import EmbeddedValkey
from config.queues import QUEUE_NAMES, get_queue, rq_queues
from tests.platforms import LOOPBACK

_embedded: EmbeddedValkey | None = None


# Tests flush their database, never the one the hub uses (0) or the benchmarks' (14): 15, and for
# each further pytest-xdist worker (gw1, gw2, ...) one below, so parallel workers never meet.
TEST_REDIS_DBS = (15, 13, 12, 11, 10, 9, 8, 7)


def _test_database(redis_url: str) -> str:
    """The same Redis, in this test process's own database."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    db = TEST_REDIS_DBS[int(worker.removeprefix("gw")) % len(TEST_REDIS_DBS)]
    parts = urlsplit(redis_url)
    if parts.scheme == "unix":
        query = dict(parse_qsl(parts.query)) | {"db": str(db)}
        return f"unix://{parts.path}?{urlencode(query)}"
    return urlunsplit(parts._replace(path=f"/{db}"))


def pytest_configure(config: pytest.Config) -> None:
    """Redis for the tests: TEST_REDIS_URL, else database 15 of REDIS_URL, else a private Valkey."""
    global _embedded
    if settings.REDIS_IS_EMBEDDED:
        _embedded = EmbeddedValkey(Path(tempfile.mkdtemp(prefix="hub-test-valkey-")), persist=False)
        _embedded.start()
        url = _embedded.url
    else:
        url = _test_database(os.environ.get("TEST_REDIS_URL") or settings.REDIS_URL)
    os.environ["REDIS_URL"] = url  # for the server and worker processes tests start
    settings.REDIS_URL = url
    settings.RQ_QUEUES = rq_queues(url, sentinels=[], sentinel_master="")
    get_queue.cache_clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _embedded is not None:
        _embedded.stop()


@pytest.fixture(autouse=True)
def clean_redis() -> Iterator[None]:
    get_queue("webhooks").connection.flushdb()
    yield


@pytest.fixture(scope="session", autouse=True)
def batch_helpers_stopped(django_db_setup: None) -> Iterator[None]:
    """The threads that run batch-mates (channels_app.drain) keep a database connection each: they
    end, and their connections close, before the test database is dropped."""
    yield
    from channels_app import drain

    drain.helpers_stop()


@pytest.fixture
def redis_connection():
    return get_queue("webhooks").connection


@pytest.fixture
def run_worker():
    """Run a real burst worker (the hub's worker class, in this process) on the given queues."""
    from django_rq import get_worker

    def run(*queues: str) -> bool:
        worker = get_worker(*(queues or QUEUE_NAMES))
        # Always in this process, even for queues whose workers fork in production: a forked child
        # would share (and close) this test's database connection, inside its transaction.
        worker.in_process = True
        return worker.work(burst=True)

    return run


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    """The platforms' stand-ins listen on loopback; the tests of the refusal take this back."""
    settings.HUB_OUTBOUND_ALLOW_NETWORKS = LOOPBACK


@pytest.fixture(autouse=True)
def no_redis_backoff():
    """Each test starts with a web process that has not seen Redis fail."""
    from channels_app import intake

    intake._redis_unavailable_until = 0.0


@pytest.fixture(autouse=True)
def no_cached_channels():
    """Each test starts with a web process that has kept no channel: a test's rolled-back rows
    must not be found by the next one (channels_app.channel_cache)."""
    from channels_app import channel_cache

    channel_cache.forget_all()


@pytest.fixture(autouse=True)
def shopify_documents_valid(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever GraphQL a test's Shopify stand-in received must be valid against Shopify's published
    schema of the hub's API version, without a deprecated field (tests/shopify_schema.py): the
    stand-ins answer anything, Shopify would not."""
    if "httpserver" not in request.fixturenames or request.node.get_closest_marker("invalid_graphql"):
        yield
        return
    server = request.getfixturevalue("httpserver")  # torn down after this fixture: its log is kept
    yield
    from tests.shopify_schema import document_errors

    problems = []
    for sent, _ in server.log:
        if not sent.path.endswith("/graphql.json") or sent.method != "POST":
            continue
        body = sent.get_json(silent=True) or {}
        for error in document_errors(body.get("query", ""), body.get("variables") or {}):
            problems.append(f"{error}\n  in: {' '.join(body.get('query', '').split())[:300]}")
    assert not problems, "Shopify would refuse what the hub sent:\n" + "\n".join(problems)
