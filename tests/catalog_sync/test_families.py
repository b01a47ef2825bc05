"""A catalog product's title: the family's, never its first variant's name (which the stores would
show as the product's title)."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps as django_apps

from bench.feedgen import Feed
from catalog_sync.families import family_title
from catalog_sync.models import FamilyChange, Supplier
from channels_app.models import Organization, SyncStatus
from inventory.models import Product


def variant(name: str, family_name: str | None = None, **attributes: str) -> dict[str, object]:
    record: dict[str, object] = {"name": name, "attributes": attributes}
    if family_name is not None:
        record["family_name"] = family_name
    return record


@pytest.mark.parametrize(
    ("names", "title"),
    [
        (["Trail shirt blue", "Trail shirt green", "Trail shirt red"], "Trail shirt"),
        (["Trail shirt - blue", "Trail shirt - green"], "Trail shirt"),
        (["Trail shirt, blue", "Trail shirt, green"], "Trail shirt"),
        (["Trail Shirt blue", "trail shirt green"], "Trail Shirt"),  # the first name's capitals
        (["Mug A1 size 0", "Mug A1 size 1"], "Mug A1"),  # "size" names what tells them apart
        (["Trail shirt blue"], "Trail shirt blue"),  # one variant: its name is the product's
        (["Blue shirt", "Green shirt"], "Blue shirt"),  # nothing in common: the first name
        (["Mug", "Mug"], "Mug"),
    ],
)
def test_the_title_is_the_words_the_variants_names_begin_with(names, title):
    assert family_title([variant(name, size="0") for name in names]) == title


def test_the_feeds_family_name_is_the_title_when_a_variant_gives_one():
    variants = [variant("Trail shirt blue"), variant("Trail shirt green", family_name="Trail Shirt Pro")]
    assert family_title(variants) == "Trail Shirt Pro"


@pytest.mark.django_db(transaction=True)
def test_a_synced_family_is_titled_by_its_family_name_or_its_variants_shared_words(httpserver, sync):
    feed = Feed(httpserver.url_for("/"), families=2, variants=3, images=0)
    for number, colour in enumerate(("blue", "green", "red")):
        feed.change(f"/records/ART-00000-{number}.json", name=f"Trail shirt {colour}")
        feed.change(f"/records/ART-00001-{number}.json", family_name="Harbour mug")
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)
    organization = Organization.objects.create(slug="acme", name="Acme")
    supplier = Supplier.objects.create(organization=organization, code="A", name="A", feed_url=feed.index_url)

    run = sync(supplier)

    assert run.status == SyncStatus.SUCCEEDED, run.error
    titles = dict(Product.objects.values_list("families__family_key", "title"))
    assert titles == {"ART-00000": "Trail shirt", "ART-00001": "Harbour mug"}


@pytest.mark.django_db(transaction=True)
def test_products_titled_by_their_first_variant_before_are_retitled_by_the_next_sync(httpserver, sync):
    feed = Feed(httpserver.url_for("/"), families=2, variants=2, images=0)
    feed.change("/records/ART-00001-1.json", family="ART-00001-ALONE")  # a family of one variant
    httpserver.expect_request(re.compile(".*")).respond_with_handler(feed.respond)
    organization = Organization.objects.create(slug="acme", name="Acme")
    supplier = Supplier.objects.create(organization=organization, code="A", name="A", feed_url=feed.index_url)
    sync(supplier)
    Product.objects.filter(families__family_key="ART-00000").update(title="Mug ART-00000 size 0")
    migration = importlib.import_module("catalog_sync.migrations.0003_family_titles")

    migration.families_rewrite(django_apps, None)
    run = sync(supplier)

    assert (run.families_changed, run.products_updated, run.records_fetched) == (1, 1, 0)
    assert Product.objects.get(families__family_key="ART-00000").title == "Mug ART-00000"
    change = FamilyChange.objects.filter(family__family_key="ART-00000").latest("pk")
    assert change.changes == {"product": {"title": ["Mug ART-00000 size 0", "Mug ART-00000"]}}
