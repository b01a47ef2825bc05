"""What a newcomer reads in their first hour: no warning from every command, logs a person can read
in a terminal (JSON elsewhere), `make run` without the development tools, and counts that agree
with their nouns."""

import json
import logging
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from channels_app import http
from channels_app.models import ProcessedWebhookEvent
from config.logs import JsonFormatter, RequestIdFilter, TextFormatter, request_id_context
from tests.channels_app import factories

ROOT = Path(__file__).resolve().parent.parent
DEV_WARNING = "SECRET_KEY, HUB_ENCRYPTION_KEYS not set: using insecure development defaults"


def run_python(
    args: list[str], *, stderr: int | None = subprocess.PIPE, **env: str
) -> subprocess.CompletedProcess:
    """A fresh process of the hub with development defaults: no secrets, no .env of this machine."""
    base = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "config.settings", "HOME": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], env=base | env, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True
    )


def test_management_commands_do_not_warn_about_development_secrets():
    result = run_python(["manage.py", "check"])
    assert result.returncode == 0
    assert DEV_WARNING not in result.stderr and result.stderr == ""


def test_the_web_server_warns_once_in_one_line():
    result = run_python(["-c", "import config.wsgi"], LOG_FORMAT="text")
    lines = [line for line in result.stderr.splitlines() if DEV_WARNING in line]
    assert len(lines) == 1 and "WARNING config.wsgi" in lines[0]
    # `make run` said it already, in the process that started the server.
    assert DEV_WARNING not in run_python(["-c", "import config.wsgi"], HUB_DEV_WARNING_SHOWN="1").stderr


def test_production_still_refuses_development_secrets_when_serving():
    result = run_python(["-c", "import config.wsgi"], DEBUG="False")
    assert result.returncode != 0 and "DEBUG is False but SECRET_KEY, HUB_ENCRYPTION_KEYS" in result.stderr


def log_format(*, terminal: bool, **env: str) -> str:
    script = "import django; django.setup(); from django.conf import settings; print(settings.LOG_FORMAT)"
    if not terminal:
        return run_python(["-c", script], **env).stdout.strip()
    controller, terminal_end = pty.openpty()
    try:
        return run_python(["-c", script], stderr=terminal_end, **env).stdout.strip()
    finally:
        os.close(controller)
        os.close(terminal_end)


def test_logs_are_text_in_a_terminal_and_json_elsewhere_unless_asked():
    assert log_format(terminal=True) == "text"
    assert log_format(terminal=False) == "json"
    assert log_format(terminal=True, LOG_FORMAT="json") == "json"
    assert log_format(terminal=False, LOG_FORMAT="text") == "text"


def test_a_log_format_that_is_none_stops_the_hub():
    result = run_python(["-c", "import django; django.setup()"], LOG_FORMAT="xml")
    assert result.returncode != 0 and "LOG_FORMAT is 'xml': json or text" in result.stderr


def test_both_formats_carry_the_request_id_and_never_a_secret(httpserver, caplog):
    httpserver.expect_request("/admin/api/orders.json").respond_with_json({})
    with request_id_context("req-12345678"), caplog.at_level(logging.INFO, logger="channels_app.http"):
        http.send(
            http.Call(platform="shopify", channel_id=7, bucket=None),
            "GET",
            httpserver.url_for("/admin/api/orders.json"),
            params={"access_token": "SECRET-TOKEN"},
            headers={"X-Shopify-Access-Token": "shpat_SECRET"},
        )
        (record,) = [r for r in caplog.records if r.name == "channels_app.http"]
        RequestIdFilter().filter(record)  # as the console handler does (settings.LOGGING)
    text = TextFormatter().format(record)
    assert "[req-12345678] shopify GET /admin/api/orders.json -> 200" in text
    assert " channel_id=7 " in f"{text} " and "\n" not in text
    as_json = json.loads(JsonFormatter().format(record))
    assert (as_json["request_id"], as_json["channel_id"]) == ("req-12345678", 7)
    assert "SECRET" not in text + json.dumps(as_json)


@pytest.fixture
def makefile_dir(tmp_path: Path) -> Path:
    for name in ("Makefile", "pyproject.toml", "requirements.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def make_dry_run(directory: Path, target: str) -> str:
    return subprocess.run(
        ["make", "-n", target], cwd=directory, capture_output=True, text=True, check=True
    ).stdout


def test_make_run_installs_the_runtime_only_and_make_test_adds_the_dev_extras(makefile_dir):
    run = make_dry_run(makefile_dir, "run")
    assert "-c requirements.lock -e .\n" in run and "[dev]" not in run
    assert "python -m config.run" in run
    test = make_dry_run(makefile_dir, "test")
    assert "-e .\n" in test and "-e '.[dev]'" in test
    # After `make run`: `make test` adds the extras to the same .venv, and `make run` does nothing more.
    (makefile_dir / ".venv").mkdir()
    (makefile_dir / ".venv" / ".installed-runtime").touch()
    test = make_dry_run(makefile_dir, "test")
    assert "-e .\n" not in test and "-e '.[dev]'" in test and "-m pytest" in test
    assert "pip install" not in make_dry_run(makefile_dir, "run")


@pytest.mark.django_db
def test_one_event_is_one_event_in_the_admins_messages(client):
    ops = User.objects.create_user("ops", password="pw", is_staff=True)
    ops.user_permissions.add(
        Permission.objects.get(content_type__app_label="django_rq", codename="admin"),
        Permission.objects.get(codename="view_processedwebhookevent"),
    )
    channel = factories.shopify_channel()
    event = ProcessedWebhookEvent.objects.create(
        source="shopify", channel=channel, topic="app/uninstalled", event_key="k", payload={}, status="FAILED"
    )
    client.force_login(ops)
    url = reverse("admin:channels_app_processedwebhookevent_changelist")
    page = client.post(
        url, {"action": "replay", "_selected_action": [event.pk]}, follow=True
    ).content.decode()
    assert "1 event re-enqueued." in page
    page = client.post(url, {"action": "mark_ignored", "_selected_action": [event.pk]}, follow=True)
    assert "1 event marked ignored." in page.content.decode()
