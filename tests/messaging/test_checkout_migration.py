"""Checkouts recorded by id before the hub keyed them by token (Shopify's API 2026-04 sends no id):
the migration leaves one row per (channel, token) and loses no completion."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.channels_app import factories

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("messaging", "0005_secrets_changed_at")]
AFTER = [("messaging", "0007_checkout_keyed_by_token")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_rows_by_id_become_one_row_per_token():
    channel = factories.shopify_channel()
    apps = migrate(BEFORE)
    try:
        Checkout = apps.get_model("messaging", "Checkout")
        common = {"organization_id": channel.organization_id, "channel_id": channel.pk}
        now = timezone.now()
        Checkout.objects.create(external_id="1", token="t-1", due_at=now, **common)
        # The same checkout twice (a race of its order and its checkouts/create): completed once.
        Checkout.objects.create(external_id="2", token="t-2", due_at=now, **common)
        Checkout.objects.create(external_id="3", token="t-2", completed_at=now, **common)
        Checkout.objects.create(external_id="4", token="", **common)
        # Reminded once already under its other row: never due again.
        Checkout.objects.create(external_id="5", token="t-5", due_at=now, **common)
        Checkout.objects.create(external_id="6", token="t-5", abandoned_at=now, **common)

        apps = migrate(AFTER)
    finally:
        latest()  # the other tests run on the whole schema

    Checkout = apps.get_model("messaging", "Checkout")
    rows = {row.token: row for row in Checkout.objects.all()}
    assert set(rows) == {"t-1", "t-2", "id:4", "t-5"}
    assert (rows["t-5"].external_id, rows["t-5"].abandoned_at, rows["t-5"].due_at) == ("5", now, None)
    assert rows["t-1"].due_at is not None and rows["t-1"].completed_at is None
    assert (rows["t-2"].external_id, rows["t-2"].completed_at, rows["t-2"].due_at) == ("2", now, None)
