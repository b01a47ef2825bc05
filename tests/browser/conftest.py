"""Browser tests: pytest-playwright driving the system Chromium against a live server.

Chromium comes from Debian's package (`.ci/run` installs it when missing); Playwright's own browser
download is never used. Without Chromium the tests are skipped, except in CI where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright.sync_api import Page

# Playwright's sync API runs an event loop in this thread; the tests' own ORM calls are still
# plain synchronous code, between page actions.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(settings.BASE_DIR) / "var" / "test-artifacts"
PASSWORD = "pw-browser-123"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI needs Chromium for the browser tests and {CHROMIUM} is missing")
    skip = pytest.mark.skip(reason="no Chromium here (apt-get install chromium)")
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        # This machine's network is closed: without these Chromium retries Google's hosts forever.
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict) -> dict:
    return {**browser_context_args, "viewport": {"width": 1400, "height": 900}}


@pytest.fixture
def log_in(live_server):
    """Log in through the admin's own login form, as a person would."""

    def log_in(page: Page, username: str) -> None:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")

    return log_in


@pytest.fixture
def staff(transactional_db):
    """create_staff, as ops script it: staff("ops", "--ops") or staff("wile", "--org", "acme")."""

    def staff(username: str, *flags: str) -> User:
        call_command("create_staff", username, "--password", PASSWORD, *flags)
        return User.objects.get(username=username)

    return staff


@pytest.fixture
def screenshot(page):
    """A full-page screenshot kept as a test artifact (the README's pictures are these)."""

    def screenshot(name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return screenshot
