"""A newcomer's first commands, as the README's "First hour" runs them: organizations first, every
platform's channel, webhook URLs where `make run` serves, and fulfillments refused up front when
the channel cannot be pushed to."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from channels_app.models import Channel, Organization, Platform
from config.run import child_environment
from orders.models import Fulfillment, Order
from tests.channels_app import factories
from tests.platforms import twilio_signature

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
TWILIO_SID = "AC" + "0123456789abcdef" * 2


def test_create_org_creates_an_organization_a_merchant_can_then_join(capsys):
    call_command("create_org", "acme", "--name", "Acme Corp")
    assert capsys.readouterr().out.strip() == "created organization acme (Acme Corp)"
    call_command("create_staff", "wile", "--password", "a-Long-passw0rd", "--org", "acme")
    assert list(Organization.objects.get(slug="acme").members.values_list("username", flat=True)) == ["wile"]


def test_create_org_run_again_changes_nothing_unless_given_a_new_name(capsys):
    call_command("create_org", "acme")
    assert Organization.objects.get().name == "Acme"
    call_command("create_org", "acme")
    assert "organization exists, unchanged: acme (Acme)" in capsys.readouterr().out
    call_command("create_org", "acme", "--name", "Acme Corp")
    assert "renamed organization acme (Acme Corp)" in capsys.readouterr().out
    assert list(Organization.objects.values_list("slug", "name")) == [("acme", "Acme Corp")]


def test_create_org_refuses_what_is_not_a_slug():
    with pytest.raises(CommandError, match="'acme corp': Enter a valid"):
        call_command("create_org", "acme corp")
    assert not Organization.objects.exists()


@pytest.mark.parametrize(
    "command",
    [
        ["create_staff", "wile", "--password", "a-Long-passw0rd", "--org", "acme"],
        ["import_stock", "--org", "acme", "stock.csv"],
        ["stock_report", "--org", "acme"],
        ["import_contacts", "--org", "acme", "contacts.csv"],
        ["send_campaign", "--org", "acme", "--name", "Sale", "--template", "Hi"],
        ["add_supplier", "--org", "acme", "--code", "A1", "--name", "A", "--feed-url", "https://f.example/i"],
    ],
    ids=lambda command: command[0],
)
def test_every_org_command_says_how_to_create_the_organization(command):
    with pytest.raises(CommandError) as refused:
        call_command(*command)
    assert str(refused.value) == (
        "no organization 'acme': create it first with `python manage.py create_org acme` "
        "(or in the admin, Organizations)"
    )


# What each platform's create_channel needs, as the README shows it.
CHANNEL_ARGS = {
    Platform.SHOPIFY: ["--shop-domain", "acme.myshopify.com", "--webhook-secret", "s"],
    Platform.WOOCOMMERCE: ["--site-url", "https://shop.example.com/", "--webhook-secret", "s"],
    Platform.SHOPEE: ["--shop-id", "727720655", "--partner-id", "2001887", "--partner-key", "pk"],
    Platform.TWILIO: ["--account", TWILIO_SID, "--webhook-secret", "twilio-auth-token"],
    Platform.EASYPOST: ["--account", "acme-easypost", "--webhook-secret", "s"],
    Platform.AFTERSHIP: ["--account", "acme-aftership", "--webhook-secret", "s"],
}


@pytest.mark.parametrize("platform", Platform.values)
def test_create_channel_works_for_every_platform_choice(platform, capsys, settings):
    settings.WEBHOOK_BASE_URL = "https://hub.example.com"
    call_command("create_channel", "--org", "acme", "--platform", platform, *CHANNEL_ARGS[platform])
    printed = json.loads(capsys.readouterr().out)
    channel = Channel.objects.get(pk=printed["id"])
    assert (channel.platform, printed["platform"]) == (platform, platform)
    assert printed["webhook_url"] == channel.webhook_url
    assert printed["webhook_url"].startswith("https://hub.example.com/webhooks/")


def test_a_twilio_channel_made_by_the_command_verifies_twilios_posts(capsys, settings):
    settings.WEBHOOK_BASE_URL = "https://hub.example.com"
    call_command("create_channel", "--org", "acme", "--platform", "twilio", *CHANNEL_ARGS[Platform.TWILIO])
    url = json.loads(capsys.readouterr().out)["webhook_url"] + "inbound/"
    form = {"AccountSid": TWILIO_SID, "MessageSid": "SM1", "From": "+14155550123", "Body": "hello"}
    response = Client().post(
        url.removeprefix("https://hub.example.com"),
        urlencode(form),
        content_type="application/x-www-form-urlencoded",
        HTTP_X_TWILIO_SIGNATURE=twilio_signature("twilio-auth-token", url, list(form.items())),
    )
    assert response.status_code == 200
    assert Channel.objects.get().webhook_events.get().topic == "sms/inbound"


def test_create_channel_refuses_a_twilio_account_that_is_not_a_sid():
    with pytest.raises(CommandError, match="--account must be the Twilio account SID"):
        call_command(
            "create_channel",
            "--org",
            "acme",
            "--platform",
            "twilio",
            "--account",
            "AC…",
            "--webhook-secret",
            "t",
        )
    with pytest.raises(CommandError, match="twilio needs --account, --webhook-secret"):
        call_command("create_channel", "--org", "acme", "--platform", "twilio")


def _settings_in_a_process(**env: str) -> dict:
    """WEBHOOK_BASE_URL and PORT as a fresh process reads them (no .env, development defaults)."""
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps({'url': settings.WEBHOOK_BASE_URL, 'port': settings.PORT}))"
    )
    base = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings", "HOME": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=base | env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_webhook_urls_follow_the_port_make_run_serves_unless_set():
    assert _settings_in_a_process(PORT="8765") == {"url": "http://127.0.0.1:8765", "port": 8765}
    assert _settings_in_a_process() == {"url": "http://127.0.0.1:8000", "port": 8000}
    given = _settings_in_a_process(PORT="8765", WEBHOOK_BASE_URL="https://hub.example.com/")
    assert given["url"] == "https://hub.example.com"


def test_make_run_gives_its_processes_the_port_and_the_webhook_url_it_derived():
    settings = SimpleNamespace(
        PORT=8765,
        WEBHOOK_BASE_URL="http://127.0.0.1:8765",
        LOG_FORMAT="text",
        REDIS_IS_EMBEDDED=False,
        REDIS_URL="",
    )
    env = child_environment(settings, {"PATH": "/usr/bin", "PORT": "8765"})
    assert (env["PORT"], env["WEBHOOK_BASE_URL"]) == ("8765", "http://127.0.0.1:8765")
    # Its children write through honcho's pipes: they log as this terminal does, and warn no more.
    assert (env["LOG_FORMAT"], env["HUB_DEV_WARNING_SHOWN"]) == ("text", "1")


def _order(channel: Channel) -> Order:
    return Order.objects.create(
        organization=channel.organization, channel=channel, external_id="450789469", number="#1001"
    )


@pytest.mark.parametrize(
    ("channel", "missing"),
    [
        (lambda: factories.shopify_channel(), "has no access token: set it on the channel's page"),
        (
            lambda: factories.woocommerce_channel(consumer_key="ck_1"),
            "has no consumer secret: set it on the channel's page in the admin, or run "
            "`python manage.py create_channel` for this shop again with --consumer-secret …",
        ),
        (lambda: factories.shopee_channel(), "has no access token"),
    ],
    ids=["shopify", "woocommerce", "shopee"],
)
def test_fulfill_refuses_up_front_a_channel_it_could_not_push_to(channel, missing):
    order = _order(channel())
    with pytest.raises(CommandError, match="cannot push a fulfillment of order #1001") as refused:
        call_command("fulfill", str(order.pk), "--tracking", "1Z", "--carrier", "UPS")
    assert missing in str(refused.value)
    assert not Fulfillment.objects.exists()


def test_fulfill_queues_the_push_of_a_channel_with_its_credentials(capsys):
    order = _order(factories.shopee_channel(refresh_token="r1"))  # an access token is got with it
    call_command("fulfill", str(order.pk), "--tracking", "1Z", "--carrier", "UPS")
    assert "queued for its channel" in capsys.readouterr().out
    assert Fulfillment.objects.get().order == order
