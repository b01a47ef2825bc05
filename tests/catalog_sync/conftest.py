import re

import pytest

from bench.feedgen import Feed


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    """Fetched images go to this test's own folder; the test server's feeds are on loopback."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CATALOG_ALLOW_PRIVATE_ADDRESSES = True


@pytest.fixture
def small_feed(httpserver):
    """Two families of two variants, each family with two images, served by the test server."""
    feed = Feed(httpserver.url_for("/"), families=2)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)
    return feed
