"""Merchants see and change only their organizations' data, however they ask."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.forms.models import model_to_dict
from django.urls import reverse

from catalog_sync.models import (
    CatalogSyncRun,
    FamilyChange,
    FamilyImage,
    ImageAsset,
    ProductFamily,
    ProductListing,
    Supplier,
)
from channels_app.models import ProcessedWebhookEvent, SyncRun
from inventory.models import Product, StockLevel
from messaging.models import (
    Automation,
    Campaign,
    Checkout,
    ConsentEvent,
    Contact,
    DailyReport,
    Message,
    MessagingSettings,
    OutboxRecord,
)
from orders.services import LineData, OrderData, order_sync
from tests.channels_app import factories
from tests.inventory.factories import sku, warehouse

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_shops():
    """Acme (ours) and Globex (someone else's), each with a channel, an event, an order and stock."""
    ours = factories.shopify_channel()
    theirs = factories.woocommerce_channel()
    theirs.organization = type(ours.organization).objects.create(name="Globex", slug="globex")
    theirs.save()
    data = {}
    for name, channel in (("ours", ours), ("theirs", theirs)):
        main = warehouse(channel.organization, f"{name}-main")
        item = sku(channel.organization, f"{name}-SKU", on_hand=2, at=main)
        item.product = Product.objects.create(organization=channel.organization, title=f"{name} product")
        item.save()
        event = ProcessedWebhookEvent.objects.create(
            source=channel.platform, channel=channel, topic="t", event_key=f"{name}-k", payload={}
        )
        order = order_sync(
            channel=channel,
            data=OrderData(
                external_id=f"{name}-1",
                number=f"#{name}",
                financial_status="paid",  # so it holds a reservation
                lines=(LineData("1", 1, 1, sku_code=f"{name}-SKU"),),
            ),
        ).order
        SyncRun.objects.create(channel=channel, kind="products", status="SUCCEEDED")
        supplier = Supplier.objects.create(
            organization=channel.organization,
            code=f"{name}-sup",
            name=name,
            feed_url="https://feed.example/i.txt",
        )
        family = ProductFamily.objects.create(supplier=supplier, family_key=f"{name}-F1")
        run = CatalogSyncRun.objects.create(supplier=supplier)
        FamilyChange.objects.create(family=family, run=run, action="created", content_hash="h")
        asset = ImageAsset.objects.create(digest=f"{name:0<64}", source_url="https://feed.example/a.jpg")
        FamilyImage.objects.create(family=family, source_url=asset.source_url, asset=asset, status="failed")
        product = Product.objects.create(organization=channel.organization, title=f"{name} mug")
        ProductListing.objects.create(channel=channel, product=product, status="failed", error="refused")
        contact = Contact.objects.create(organization=channel.organization, phone=f"+1415555{len(data):04d}")
        ConsentEvent.objects.create(contact=contact, state="opted_in", source="import")
        MessagingSettings.objects.create(organization=channel.organization)
        automation = Automation.objects.create(
            organization=channel.organization,
            name=f"{name} shipped",
            trigger="fulfillment_shipped",
            template="x",
        )
        Campaign.objects.create(organization=channel.organization, name=f"{name} sale", template="y")
        message = Message.objects.create(
            organization=channel.organization, contact=contact, automation=automation
        )
        OutboxRecord.objects.create(message=message, to=contact.phone, body="hi")
        Checkout.objects.create(
            organization=channel.organization, channel=channel, external_id=f"{name}-1", contact=contact
        )
        DailyReport.objects.create(organization=channel.organization, day="2026-11-25", sent=1)
        data[name] = {"channel": channel, "event": event, "order": order, "warehouse": main}
    return data


@pytest.fixture
def merchant(client, two_shops):
    call_command("create_staff", "wile", "--password", "pw-123-xyz", "--org", "acme")
    client.force_login(User.objects.get(username="wile"))
    return client


PAGES = {
    "channel": "channels_app_channel",
    "event": "channels_app_processedwebhookevent",
    "order": "orders_order",
    "warehouse": "inventory_warehouse",
}


def test_a_merchant_lists_only_their_organizations_data(merchant, two_shops):
    for key, page in PAGES.items():
        body = merchant.get(reverse(f"admin:{page}_changelist")).content.decode()
        ours, theirs = two_shops["ours"][key], two_shops["theirs"][key]
        assert f"/{ours.pk}/change/" in body, page
        assert f"/{theirs.pk}/change/" not in body, page
    levels = merchant.get(reverse("admin:inventory_stocklevel_changelist")).content.decode()
    assert "ours-SKU" in levels and "theirs-SKU" not in levels
    assert (
        "Globex" not in merchant.get(reverse("admin:channels_app_organization_changelist")).content.decode()
    )


def test_hand_typed_urls_of_another_organization_find_nothing(merchant, two_shops):
    def stored(key):
        obj = two_shops["theirs"][key]
        return model_to_dict(type(obj).objects.get(pk=obj.pk))

    before = {key: stored(key) for key in PAGES}
    for key, page in PAGES.items():
        theirs = two_shops["theirs"][key]
        response = merchant.get(reverse(f"admin:{page}_change", args=[theirs.pk]))
        assert response.status_code == 302 and response["Location"].endswith("/admin/"), page  # "not found"
        # Not found (302), or no change permission at all (403, as for their own): nothing changes.
        assert merchant.post(reverse(f"admin:{page}_change", args=[theirs.pk]), {}).status_code in (302, 403)
    assert {key: stored(key) for key in PAGES} == before
    level = StockLevel.objects.get(sku__code="theirs-SKU")
    assert merchant.get(reverse("admin:inventory_stocklevel_change", args=[level.pk])).status_code == 302


def test_form_choices_offer_only_their_organizations(merchant, two_shops):
    page = merchant.get(reverse("admin:channels_app_channel_add")).content.decode()
    assert "Acme" in page and "Globex" not in page


def test_a_merchant_has_no_queue_pages(merchant):
    assert merchant.get(reverse("admin:django_rq_home")).status_code == 403


def test_ops_see_every_organization(client, two_shops):
    call_command("create_staff", "roadrunner", "--password", "pw-123-xyz", "--ops")
    client.force_login(User.objects.get(username="roadrunner"))
    body = client.get(reverse("admin:orders_order_changelist")).content.decode()
    assert f"/{two_shops['theirs']['order'].pk}/change/" in body
    assert client.get(reverse("admin:django_rq_home")).status_code == 200


def scoped_admins():
    """Every model admin of the hub's data, with the path from its model to the organization."""
    from django.contrib import admin

    from channels_app.access import OrganizationScopedAdmin

    return [
        (model, model_admin)
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, OrganizationScopedAdmin)
    ]


def theirs(model, model_admin):
    """Globex's object of that model: every scoped model must have one here, so each is tested."""
    from channels_app.models import Organization

    globex = Organization.objects.filter(slug="globex")
    found = model._default_manager.filter(**{f"{model_admin.organization_path}__in": globex}).first()
    assert found is not None, f"two_shops makes no {model._meta.label} of Globex: add one"
    return found


def object_urls(model, pk):
    info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    return {action: reverse(f"{info}_{action}", args=[pk]) for action in ("change", "delete", "history")}


def list_urls(model):
    info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    return [reverse(f"{info}_changelist"), reverse(f"{info}_add")]


def test_every_admin_url_sends_anonymous_users_to_log_in(client, two_shops):
    from django.contrib import admin

    urls = [reverse("admin:index")]
    for model in admin.site._registry:
        if model._meta.app_label == "django_rq":
            continue  # tests/config/ops/test_access.py walks django-rq's pages
        urls += list_urls(model)
        instance = model._default_manager.first()
        if instance is not None:
            urls += object_urls(model, instance.pk).values()
    for url in urls:
        for response in (client.get(url), client.post(url, {"post": "yes"})):
            assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_a_merchant_reaches_no_object_of_another_organization_by_any_admin_url(merchant, two_shops):
    for model, model_admin in scoped_admins():
        other = theirs(model, model_admin)
        for action, url in object_urls(model, other.pk).items():
            response = merchant.get(url)
            # Outside their queryset it is "not found" (a redirect to the index), or not theirs to see.
            assert response.status_code in (302, 403, 404), (model, action, response.status_code)
            assert str(other) not in response.content.decode(), (model, action)
        response = merchant.post(object_urls(model, other.pk)["delete"], {"post": "yes"})
        assert response.status_code in (302, 403, 404), model
        assert model._default_manager.filter(pk=other.pk).exists(), f"{model} of Globex was deleted"
        for url in list_urls(model):
            response = merchant.get(url)
            assert response.status_code in (200, 403), url
            assert f"/{other.pk}/change/" not in response.content.decode(), url


def test_a_merchant_cannot_act_on_another_organizations_objects_through_list_actions(merchant, two_shops):
    for model, model_admin in scoped_admins():
        other = theirs(model, model_admin)
        url = list_urls(model)[0]
        for action in [*model_admin.get_actions(_request_for(merchant, url)), "delete_selected"]:
            merchant.post(url, {"action": action, "_selected_action": [other.pk], "post": "yes"})
        assert model._default_manager.filter(pk=other.pk).exists(), model


def _request_for(client, url):
    from django.contrib.auth.models import User
    from django.test import RequestFactory

    request = RequestFactory().get(url)
    request.user = User.objects.get(username="wile")
    return request


def test_a_merchant_has_no_user_or_group_pages(merchant):
    for url in ("admin:auth_user_changelist", "admin:auth_group_changelist", "admin:auth_user_add"):
        assert merchant.get(reverse(url)).status_code == 403, url


def test_ops_see_every_organizations_objects_on_every_admin_page(client, two_shops):
    call_command("create_staff", "roadrunner", "--password", "pw-123-xyz", "--ops")
    client.force_login(User.objects.get(username="roadrunner"))
    for model, model_admin in scoped_admins():
        other = theirs(model, model_admin)
        assert client.get(list_urls(model)[0]).status_code == 200, model
        assert client.get(object_urls(model, other.pk)["change"]).status_code == 200, model
        assert client.get(object_urls(model, other.pk)["history"]).status_code == 200, model


def test_a_merchant_cannot_guess_secrets_by_filtering_on_them(merchant, two_shops):
    url = reverse("admin:channels_app_channel_changelist")
    for lookup in ("webhook_secret__startswith", "credentials__access_token__startswith"):
        response = merchant.get(url, {lookup: "t"})
        # Refused (Django answers a disallowed lookup with 400, or redirects with ?e=1), never filtered.
        assert response.status_code in (302, 400), lookup
        assert "1 channel" not in response.content.decode()


def test_where_the_api_calls_go_is_for_ops_to_change_not_merchants(merchant, two_shops):
    ours = two_shops["ours"]["channel"]
    page = merchant.get(reverse("admin:channels_app_channel_change", args=[ours.pk])).content.decode()
    assert 'name="api_base_url"' not in page
