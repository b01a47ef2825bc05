"""Channel.warehouse_for: where a channel's orders reserve and its stock reports land."""

from __future__ import annotations

import pytest

from channels_app.models import ChannelLocation, Organization
from inventory.models import Warehouse
from tests.channels_app.factories import shopify_channel, woocommerce_channel

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel():
    return shopify_channel()


def warehouse(channel, code: str, *, default: bool = False, organization=None) -> Warehouse:
    return Warehouse.objects.create(
        organization=organization or channel.organization, code=code, name=code.title(), is_default=default
    )


def location(channel, external_id: str, mapped_to: Warehouse | None) -> ChannelLocation:
    return ChannelLocation.objects.create(channel=channel, external_id=external_id, warehouse=mapped_to)


def test_a_named_location_that_is_mapped_gives_its_warehouse(channel):
    warehouse(channel, "main", default=True)
    east = warehouse(channel, "east")
    location(channel, "100", warehouse(channel, "west"))
    location(channel, "200", east)

    found = channel.warehouse_for("200")

    assert found == east
    assert found.code == "east" and found.organization_id == channel.organization_id


def test_a_named_location_not_mapped_gives_the_default_not_another_locations(channel):
    main = warehouse(channel, "main", default=True)
    location(channel, "100", warehouse(channel, "west"))
    location(channel, "200", None)

    assert channel.warehouse_for("200") == main
    assert channel.warehouse_for("unknown") == main


def test_no_location_named_gives_the_first_mapped_location_then_the_default(channel):
    main = warehouse(channel, "main", default=True)
    location(channel, "900", None)  # not mapped: skipped
    west = warehouse(channel, "west")
    location(channel, "100", west)
    location(channel, "050", warehouse(channel, "east"))  # mapped later: second

    assert channel.warehouse_for() == west
    ChannelLocation.objects.filter(channel=channel).delete()
    assert channel.warehouse_for() == main


def test_another_channels_locations_and_another_organizations_default_are_not_used(channel):
    other_org = Organization.objects.create(slug="other", name="Other")
    warehouse(channel, "theirs", default=True, organization=other_org)
    store = woocommerce_channel()
    location(store, "100", warehouse(channel, "stores"))

    assert channel.warehouse_for() is None
    assert channel.warehouse_for("100") is None
    mine = warehouse(channel, "mine", default=True)
    assert channel.warehouse_for("100") == mine
