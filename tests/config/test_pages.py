"""The site's own answers: a denied page in the admin's style that says what is needed and whom
to ask (JSON to a client that asked for JSON), and a favicon instead of a 404 on every page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(client):
    User.objects.create_superuser("boss", email="boss@example.com", password="pw")
    client.force_login(User.objects.create_user("wile", password="pw", is_staff=True))
    return client


def test_a_denied_queue_page_is_the_admins_page_naming_the_permission_and_whom_to_ask(merchant):
    response = merchant.get(reverse("admin:django_rq_failed_all"))
    page = response.content.decode()
    assert response.status_code == 403
    assert "Hub back office" in page and 'id="user-tools"' in page  # the admin's own page
    assert "Queue and job pages need the ops permission (django_rq | Django-RQ | Access admin page)." in page
    assert "Ask an administrator of the hub to grant it to your account (wile):" in page
    assert "boss@example.com" in page


def test_a_json_client_is_denied_in_json(merchant):
    response = merchant.get(reverse("admin:django_rq_hub_dashboard"), HTTP_ACCEPT="application/json")
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    assert "ops permission" in response.json()["error"]


def test_a_model_page_without_its_permission_says_so_in_the_admins_style(merchant):
    response = merchant.get(reverse("admin:auth_user_add"))
    assert response.status_code == 403
    assert "This page needs a permission your account does not have." in response.content.decode()


def test_the_favicon_is_served_and_every_admin_page_links_it_and_the_hubs_stylesheet(admin_client):
    response = admin_client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert '<link rel="icon" href="/static/hub/favicon.ico"' in page
    assert '<link rel="stylesheet" href="/static/hub/admin.css">' in page
    assert finders.find("hub/favicon.ico") and finders.find("hub/admin.css")
