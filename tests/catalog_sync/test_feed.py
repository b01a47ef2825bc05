"""The supplier feed index: parsing with per-line errors, and telling what changed."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from catalog_sync.feed import BATCH, IndexEntry, LineError, compare, index_parse
from catalog_sync.models import FeedRecord, Supplier
from tests.catalog_sync import factories as catalog
from tests.channels_app import factories

pytestmark = pytest.mark.django_db

INDEX = """\ufeffhttps://feed.example/records/1.json|a1b2
https://feed.example/records/2.json|c3d4

not a line
https://feed.example/records/3.json|
ftp://feed.example/records/4.json|e5f6
https://feed.example/records/with|pipe.json|g7h8
https://feed.example/records/1.json|a1b2
"""


def test_the_index_is_read_line_by_line_and_malformed_lines_are_reported_with_their_number():
    entries, errors = index_parse(INDEX)
    assert entries == [
        IndexEntry(8, "https://feed.example/records/1.json", "a1b2"),  # listed twice: counted once
        IndexEntry(2, "https://feed.example/records/2.json", "c3d4"),
        IndexEntry(7, "https://feed.example/records/with|pipe.json", "g7h8"),  # the HASH is after the last |
    ]
    assert errors == [
        LineError(4, "expected URL|HASH"),
        LineError(5, "expected URL|HASH"),
        LineError(6, "not an http(s) URL: ftp://feed.example/records/4.json"),
    ]


@pytest.fixture
def supplier():
    return catalog.supplier(factories.organization(), "A360", feed_url="https://feed.example/index.txt")


def test_only_new_or_changed_records_are_fetched_and_the_rest_counted(
    supplier, django_assert_max_num_queries
):
    entries = [IndexEntry(n, f"https://feed.example/r/{n}.json", f"h{n}") for n in range(1, 2 * BATCH + 2)]
    FeedRecord.objects.bulk_create(
        [FeedRecord(supplier=supplier, url=e.url, content_hash=e.content_hash) for e in entries[:BATCH]]
        + [FeedRecord(supplier=supplier, url=entries[BATCH].url, content_hash="old")]
    )
    with django_assert_max_num_queries(3):  # one query per thousand URLs
        result = compare(supplier.pk, entries)
    changed, unchanged = result.changed, result.unchanged
    assert unchanged == BATCH
    assert [e.line for e in changed] == list(range(BATCH + 1, 2 * BATCH + 2))  # changed, then new


def test_add_supplier_creates_then_updates(supplier, capsys):
    call_command(
        "add_supplier",
        "--org",
        "acme",
        "--code",
        "B7",
        "--name",
        "B7 Gifts",
        "--feed-url",
        "https://b7.example/i.txt",
    )
    created = json.loads(capsys.readouterr().out)
    assert created["created"] is True and Supplier.objects.get(code="B7").name == "B7 Gifts"
    call_command(
        "add_supplier",
        "--org",
        "acme",
        "--code",
        "B7",
        "--name",
        "B7",
        "--feed-url",
        "https://b7.example/new.txt",
    )
    assert json.loads(capsys.readouterr().out)["created"] is False
    assert Supplier.objects.get(code="B7").feed_url == "https://b7.example/new.txt"
    with pytest.raises(CommandError, match="no organization"):
        call_command(
            "add_supplier", "--org", "nope", "--code", "X", "--name", "X", "--feed-url", "https://x.example/"
        )
    with pytest.raises(CommandError, match="--feed-url"):
        call_command("add_supplier", "--org", "acme", "--code", "X", "--name", "X", "--feed-url", "not a url")
