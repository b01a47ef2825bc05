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
