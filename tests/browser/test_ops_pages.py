"""The ops dashboard and the pages around it in a real browser: the dashboard updates in place,
lists a busy worker's job once and fits a 1440-px screen; a merchant denied a queue page sees the
admin's own page; no admin page asks for something that is not there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from channels_app.models import Organization
from config.queues import get_queue
from tests.e2e.conftest import Processes, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# As long as the hub's own hashed job ids (family-<supplier>-<digest>): the widest a cell gets.
LONG_JOB_ID = "family-supplier-0b8f3c1e9d2a4f6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b"


@pytest.fixture
def processes(transactional_db, tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()


def queue_row(page, name: str):
    return page.locator("#result_list tbody tr").filter(has=page.get_by_role("link", name=name, exact=True))


def test_the_dashboard_updates_in_place_lists_a_busy_job_once_and_fits_1440_px(
    page, live_server, log_in, staff, processes, screenshot
):
    # One worker serving two queues, as the Procfile's do, busy on a job of one of them.
    worker = processes.worker("housekeeping", "webhooks", name="worker")
    staff("ops", "--ops")
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, "ops")
    page.goto(f"{live_server.url}/admin/django_rq/dashboard/")
    page.evaluate("window.stillTheSamePage = true")
    expect(queue_row(page, "webhooks").locator("td.busy-on")).not_to_contain_text(LONG_JOB_ID)
    # The job starts after the page is shown: only an update of the page can show it.
    get_queue("webhooks").enqueue("time.sleep", 60, job_id=LONG_JOB_ID)
    wait_for(lambda: get_queue("webhooks").started_job_registry.get_job_ids() == [LONG_JOB_ID], timeout=30)

    webhooks = queue_row(page, "webhooks")
    expect(webhooks.locator("td.busy-on")).to_contain_text(LONG_JOB_ID, timeout=25_000)
    assert page.evaluate("window.stillTheSamePage") is True  # updated, not reloaded
    expect(queue_row(page, "housekeeping").locator("td.busy-on")).to_have_text("1")  # its worker, idle here
    assert page.locator("#result_list").get_by_text(LONG_JOB_ID).count() == 1
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1440, f"the dashboard is {width} px wide"
    screenshot("dashboard-busy")
    processes.kill(worker)


def test_a_merchant_denied_a_queue_page_sees_the_admins_page_saying_what_to_ask_for(
    page, live_server, log_in, staff
):
    Organization.objects.create(name="Acme", slug="acme")
    staff("wile", "--org", "acme")
    log_in(page, "wile")
    response = page.goto(f"{live_server.url}/admin/django_rq/dashboard/")
    assert response is not None and response.status == 403
    expect(page.locator("#site-name")).to_contain_text("Hub back office")
    expect(page.locator(".errornote")).to_contain_text("Access admin page")
    expect(page.locator("#content-main")).to_contain_text("Ask an administrator of the hub")


def test_admin_pages_ask_for_nothing_that_is_missing(page, live_server, log_in, staff):
    missing: list[str] = []
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    staff("ops", "--ops")
    log_in(page, "ops")
    for path in ("/favicon.ico", "/admin/django_rq/dashboard/", "/admin/messaging/campaign/", "/admin/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    assert missing == []
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert page.request.get(icon).status == 200
