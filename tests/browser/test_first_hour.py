"""The README's "First hour", followed verbatim: its commands run as a newcomer runs them, against the
hub's web server and a worker, then what it says to look at, in a real browser.

The commands and the output the README shows are read from README.md, so this test fails when the
README drifts from what works. `make run` itself is stood in for by what the walkthrough uses of it:
the web server (gunicorn, as the Procfile runs it) and one worker on every queue, with PORT given to
the commands as the README says. CI runs `make run` itself on a fresh tree (.ci/run).

Every run saves the pictures under var/test-artifacts/; with HUB_UPDATE_SCREENSHOTS=1 they also
replace the README's, in docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import Browser, Locator, Page, expect
from rq.worker import Worker

from channels_app.models import EventStatus, ProcessedWebhookEvent
from config.queues import QUEUE_NAMES, get_queue
from orders.models import Order
from tests.browser.conftest import ARTIFACTS
from tests.e2e.conftest import BASE_DIR, Processes, wait_for

# Sequences start from 1, as in a fresh clone: the README's output names event 1, channel 1, order 1.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, reset_sequences=True)]

README = BASE_DIR / "README.md"
SCREENSHOTS = BASE_DIR / "docs" / "screenshots"
# The README's addresses are those of `make run` without PORT; this test's server is elsewhere.
README_BASE = "http://127.0.0.1:8000"
VIEWPORT = {"width": 1440, "height": 900}


def first_hour() -> str:
    text = README.read_text()
    start = text.index("\n## First hour\n")
    return text[start : text.index("\n## ", start + 1)]


def code_blocks(section: str) -> list[tuple[str, str]]:
    """The section's fenced blocks, as (language, text)."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)


def commands(block: str) -> list[list[str]]:
    """A shell block's commands, continuation lines joined and comments dropped, as a shell would."""
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip()]


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


class Newcomer:
    """The second terminal of the walkthrough: the README's commands, with the hub's PORT."""

    def __init__(self, processes: Processes, port: int) -> None:
        self.processes = processes
        self.port = port

    def popen(self, argv: list[str]) -> subprocess.Popen[str]:
        # The README says `.venv/bin/python manage.py ...`, and that .venv is this interpreter's.
        assert argv[:2] == [".venv/bin/python", "manage.py"], argv
        env = self.processes.env(PORT=str(self.port))
        # WEBHOOK_BASE_URL is left to follow PORT, as the README says it does.
        env.pop("WEBHOOK_BASE_URL", None)
        return subprocess.Popen(
            [sys.executable, *argv[1:]],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, argv: list[str], *, ok: bool = True) -> subprocess.CompletedProcess[str]:
        process = self.popen(argv)
        stdout, stderr = process.communicate(timeout=60)
        done = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
        if ok:
            assert done.returncode == 0, f"{shlex.join(argv)} failed:\n{stdout}{stderr}"
        return done


def save(page: Page, name: str, *, top: float = 0, bottom: float | None = None) -> None:
    """The page 1440 pixels wide from `top` to `bottom` (a viewport's height unless given), kept as a
    test artifact and, with HUB_UPDATE_SCREENSHOTS=1, as the README's picture."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    height = (bottom if bottom is not None else top + VIEWPORT["height"]) - top
    page.screenshot(
        path=str(path), full_page=True, clip={"x": 0, "y": top, "width": VIEWPORT["width"], "height": height}
    )
    if os.environ.get("HUB_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, SCREENSHOTS / path.name)


def top_of(locator: Locator) -> float:
    """Where the element starts on the page, however far the page is scrolled."""
    return locator.evaluate("element => element.getBoundingClientRect().top + window.scrollY")


def bottom_of(locator: Locator) -> float:
    return locator.evaluate("element => element.getBoundingClientRect().bottom + window.scrollY")


def log_in(browser: Browser, base: str, username: str, password: str) -> Page:
    """The README's "log into http://127.0.0.1:8000/admin/ as ...", in a browser of one's own."""
    page = browser.new_context(viewport=VIEWPORT).new_page()
    page.goto(f"{base}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(f"Welcome, {username}.")
    return page


@pytest.fixture
def hub(transactional_db, tmp_path: Path) -> Iterator[tuple[Processes, str]]:
    """What `make run` starts, on the test database and Redis: the web server, and one worker where
    it runs one per group of queues (so the dashboard shows a worker on every queue, as there)."""
    processes = Processes(tmp_path)
    try:
        # The worker starts while the web server does: two cold starts at once, not one after the other.
        processes.worker(*QUEUE_NAMES)
        url = processes.web(workers=1)
        wait_for(lambda: Worker.all(connection=get_queue("webhooks").connection), timeout=30)
        yield processes, url
    finally:
        processes.stop_all()


def test_the_readme_first_hour_works_verbatim(hub, browser):
    processes, base = hub
    section = first_hour()
    blocks = code_blocks(section)
    assert [language for language, _ in blocks] == ["sh", "sh", "sh", ""], "the First hour's blocks changed"
    (_, start), (_, setup), (_, send), (_, shown) = blocks
    assert commands(start) == [["make", "run"]]
    newcomer = Newcomer(processes, urlsplit(base).port or 80)

    # In the second terminal, an organization, a merchant, an ops user and a Shopify channel are made.
    setup_commands = commands(setup)
    users = {}
    for argv in setup_commands:
        done = newcomer.run(argv)
        if "create_staff" in argv:
            users["ops" if "--ops" in argv else "merchant"] = (argv[3], option(argv, "--password"))
        if "create_channel" in argv:
            # It prints the webhook URL to give Shopify, which is this hub's.
            assert f'"webhook_url": "{base}/webhooks/shopify/' in done.stdout, done.stdout
    assert [argv[2] for argv in setup_commands] == [
        "create_org",
        "create_staff",
        "create_staff",
        "create_channel",
    ]
    assert set(users) == {"merchant", "ops"}

    # The signed sample webhook is processed by the worker, and the command prints exactly what the
    # README shows, with this hub's address.
    [send_argv] = commands(send)
    assert send_argv[2:] == ["send_test_webhook", "acme.myshopify.com", "orders/paid"]
    printed = newcomer.run(send_argv).stdout
    assert printed == shown.replace(README_BASE, base), printed
    order = Order.objects.get(number="#9999")
    assert order.needs_attention and order.organization.slug == "acme"
    links = dict(re.findall(r"^  (.+): (http\S+)$", printed, flags=re.MULTILINE))
    event_url = links["event 1 (orders/paid)"]
    order_url = links["order #9999"]

    # The merchant sees the event with its payload and headers, and the order it made, flagged.
    merchant = log_in(browser, base, *users["merchant"])
    merchant.click("#content-main .model-processedwebhookevent th a")
    # The sidebar is folded away (the admin keeps that choice) so that lists show every column.
    merchant.click("#toggle-nav-sidebar")
    row = merchant.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("orders/paid")
    expect(row).to_contain_text("Completed")
    row.locator("th a").click()
    assert merchant.url == event_url
    expect(merchant.locator(".field-headers")).to_contain_text('"Shop-Domain": "acme.myshopify.com"')
    payload = merchant.locator(".field-payload_readable")
    expect(payload).to_contain_text('"name": "#9999"')
    save(merchant, "first-hour-event", bottom=top_of(payload) + 480)

    merchant.click(".breadcrumbs a:text-is('Home')")
    merchant.click("#content-main .model-order th a")
    row = merchant.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("th")).to_have_text("#9999")
    # The flag reads as the problem it is: how many lines name a SKU the hub does not stock.
    unresolved = f"{order.items.count()} lines: SKU not found"
    expect(row.locator(".field-problem")).to_have_text(unresolved)
    save(merchant, "first-hour-orders", bottom=bottom_of(merchant.locator("#changelist .paginator")) + 8)
    row.locator("th a").click()
    assert merchant.url == order_url
    flag = merchant.locator("div.form-row.field-problem")
    expect(flag).to_contain_text(unresolved)
    # It needs attention because its lines name SKUs the hub does not stock yet.
    lines = merchant.locator("#items-group tbody td.field-problem")
    expect(lines).to_have_text(["SKU not found"] * order.items.count())
    save(
        merchant,
        "first-hour-order",
        top=top_of(flag) - 10,
        bottom=bottom_of(merchant.locator("#items-group")) + 10,
    )

    # Ops follow the admin's Django-RQ link to the dashboard, and from there to the failed jobs.
    dashboard_path = "/admin/django_rq/dashboard/"
    assert f"{README_BASE}{dashboard_path}" in section
    ops = log_in(browser, base, *users["ops"])
    ops.click("a:has-text('Django-RQ')")
    assert ops.url == f"{base}{dashboard_path}"
    # The webhooks queue has its one worker, and the one job it ran this hour.
    webhooks = ops.locator("#result_list tbody tr").filter(
        has=ops.locator("td:first-child", has_text=re.compile(r"^webhooks$"))
    )
    expect(webhooks.locator("td:nth-child(9)")).to_have_text("1")
    expect(webhooks.locator("td:nth-child(10)")).to_have_text("1")
    save(ops, "first-hour-dashboard")
    ops.click("text=Failed jobs of every queue")
    expect(ops.locator("#result_list")).to_contain_text("No failed jobs")

    # From a terminal, the queues' health is read in JSON.
    [curl] = re.findall(r"`curl (\S+)`", section)
    assert curl == f"{README_BASE}/queue/health"
    health = requests.get(curl.replace(README_BASE, base), timeout=10).json()
    webhooks_health = next(queue for queue in health["queues"] if queue["queue"] == "webhooks")
    assert (webhooks_health["workers"], webhooks_health["failed"]) == (1, 0), health

    # Sending orders/cancelled cancels the order; an unknown topic is refused with the known ones.
    [more] = re.findall(r"`(\.venv/bin/python manage\.py send_test_webhook \S+ orders/cancelled)`", section)
    [cancel_argv] = commands(more)
    cancel = newcomer.run(cancel_argv)
    assert "event 2: COMPLETED" in cancel.stdout, cancel.stdout
    order.refresh_from_db()
    assert order.cancelled_at is not None
    refused = newcomer.run([*cancel_argv[:-1], "orders/unheard-of"], ok=False)
    assert refused.returncode != 0 and "known topics:" in refused.stderr and "orders/paid" in refused.stderr
    assert ProcessedWebhookEvent.objects.filter(status=EventStatus.COMPLETED).count() == 2
    merchant.context.close()
    ops.context.close()
