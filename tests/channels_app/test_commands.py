import json
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from channels_app.models import Channel

pytestmark = pytest.mark.django_db


def create(capsys, *args):
    call_command("create_channel", *args)
    return json.loads(capsys.readouterr().out)


def test_create_channel_for_each_platform_prints_one_json_line(capsys, settings):
    settings.WEBHOOK_BASE_URL = "https://hub.example.com"
    shopify = create(
        capsys,
        "--org",
        "acme",
        "--platform",
        "shopify",
        "--shop-domain",
        "Snow.myshopify.com",
        "--webhook-secret",
        "s1",
        "--access-token",
        "shpat_x",
        "--api-base-url",
        "http://127.0.0.1:9",
    )
    woo = create(
        capsys,
        "--org",
        "acme",
        "--platform",
        "woocommerce",
        "--site-url",
        "https://shop.example.com/",
        "--webhook-secret",
        "s2",
        "--consumer-key",
        "ck_1",
        "--consumer-secret",
        "cs_1",
    )
    shopee = create(
        capsys,
        "--org",
        "other",
        "--platform",
        "shopee",
        "--shop-id",
        "727720655",
        "--partner-id",
        "2001887",
        "--partner-key",
        "pk",
    )
    assert shopify["platform"] == "shopify"
    assert shopify["webhook_url"] == "https://hub.example.com/webhooks/shopify/"
    assert woo["webhook_url"] == f"https://hub.example.com/webhooks/woocommerce/{woo['id']}/"
    assert shopee["webhook_url"] == "https://hub.example.com/webhooks/shopee/"
    channel = Channel.objects.get(pk=shopify["id"])
    assert channel.shop_identifier == "snow.myshopify.com"
    assert channel.credentials == {"access_token": "shpat_x"}
    assert channel.api_base_url == "http://127.0.0.1:9"
    assert Channel.objects.get(pk=woo["id"]).credentials == {
        "consumer_key": "ck_1",
        "consumer_secret": "cs_1",
    }
    assert Channel.objects.get(pk=shopee["id"]).webhook_secret == "pk"
    assert Channel.objects.get(pk=shopee["id"]).organization.slug == "other"


def test_create_channel_again_updates_only_what_is_given_and_rotates_the_secret(capsys):
    args = ["--org", "acme", "--platform", "shopify", "--shop-domain", "s.myshopify.com"]
    first = create(capsys, *args, "--webhook-secret", "old", "--access-token", "tok")
    second = create(capsys, *args, "--webhook-secret", "new")
    assert first["id"] == second["id"]
    channel = Channel.objects.get()
    assert (channel.webhook_secret, channel.previous_webhook_secret) == ("new", "old")
    assert channel.credentials == {"access_token": "tok"}  # not wiped by omitting it


def test_create_channel_says_what_is_missing():
    with pytest.raises(CommandError, match="--partner-id, --partner-key"):
        call_command("create_channel", "--org", "a", "--platform", "shopee", "--shop-id", "1")


def test_secrets_are_encrypted_at_rest_and_rotate_to_a_new_key(capsys, settings):
    create(
        capsys,
        "--org",
        "acme",
        "--platform",
        "shopify",
        "--shop-domain",
        "s.myshopify.com",
        "--webhook-secret",
        "hush-hush",
        "--access-token",
        "shpat_secret",
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secret, credentials FROM channels_app_channel")
        raw_secret, raw_credentials = cursor.fetchone()
    assert "hush-hush" not in raw_secret and "shpat_secret" not in raw_credentials
    old_key = settings.HUB_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.HUB_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_secrets")
    settings.HUB_ENCRYPTION_KEYS = [new_key]  # the old key is gone: values still read
    channel = Channel.objects.get()
    assert (channel.webhook_secret, channel.credentials) == ("hush-hush", {"access_token": "shpat_secret"})


def test_production_refuses_to_start_without_its_secrets():
    env = {"DEBUG": "False", "PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "DEBUG is False but SECRET_KEY, HUB_ENCRYPTION_KEYS is not set" in result.stderr


def test_create_channel_for_a_carrier_and_a_shopee_refresh_token(capsys):
    call_command(
        "create_channel",
        "--org",
        "acme",
        "--platform",
        "easypost",
        "--account",
        "acme-easypost",
        "--webhook-secret",
        "s",
    )
    carrier = json.loads(capsys.readouterr().out)
    assert (
        carrier["webhook_url"].endswith(f"/webhooks/carriers/easypost/{carrier['id']}/")
        and carrier["shop"] == "acme-easypost"
    )
    call_command(
        "create_channel",
        "--org",
        "acme",
        "--platform",
        "shopee",
        "--shop-id",
        "727720655",
        "--partner-id",
        "2001887",
        "--partner-key",
        "k",
        "--access-token",
        "a",
        "--refresh-token",
        "r",
    )
    shop = json.loads(capsys.readouterr().out)
    assert Channel.objects.get(pk=shop["id"]).credentials == {"access_token": "a", "refresh_token": "r"}
