"""Queue and job pages need the ops permission; what ops change there is in the admin log."""

import re

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.urls import URLResolver, reverse
from django.urls.resolvers import RegexPattern
from django_rq.settings import get_queues_map
from rq.job import Job

from channels_app.intake import event_enqueue
from channels_app.models import ProcessedWebhookEvent
from config.queues import get_queue
from config.workers import HubWorker
from tests.channels_app import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant():
    return User.objects.create_user("merchant", password="pw", is_staff=True)


@pytest.fixture
def ops():
    user = User.objects.create_user("ops", password="pw", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="django_rq", codename="admin"),
        Permission.objects.get(codename="view_processedwebhookevent"),
    )
    return user


@pytest.fixture
def failed_job(run_worker):
    """A real job in the failed registry of the webhooks queue."""
    channel = factories.shopify_channel()
    event = ProcessedWebhookEvent.objects.create(source="shopify", channel=channel, topic="t", event_key="k")
    get_queue("webhooks").enqueue("channels_app.jobs.no_such_job", event.pk, job_id=event.job_id)
    run_worker("webhooks")
    assert get_queue("webhooks").failed_job_registry.get_job_ids() == [event.job_id]
    return event.job_id


def admin_routes(patterns, prefix=""):
    """Every URL pattern the admin site resolves: (name, route prefix, pattern)."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from admin_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield pattern.name, prefix + str(pattern.pattern), pattern


def urls(job_id: str) -> dict[str, str]:
    """Every queue and job page the admin site has (django-rq's and the hub's), enumerated from
    its URL patterns: one added later is checked without anyone listing it here."""
    found = every_admin_url(job_id)
    queue_pages = {name: url for name, url in found.items() if url.startswith("/admin/django_rq/")}
    assert len(queue_pages) >= 25  # django-rq's pages and the hub's, all of them
    return queue_pages


def every_admin_url(job_id: str) -> dict[str, str]:
    """Every URL the admin site resolves, with sample arguments: {name (or URL): URL}."""
    q = get_queues_map()["webhooks"]
    job = Job.fetch(job_id, connection=get_queue("webhooks").connection)
    worker = HubWorker([get_queue("webhooks")], connection=get_queue("webhooks").connection)
    worker.register_birth()
    samples = {
        "queue_index": q,
        "job_id": job_id,
        "result_id": job.latest_result().id,
        "key": worker.key,
        "scheduler_index": 0,
        "connection_index": 0,
        "scheduler_name": "hub",
        "cron_job_name": "hub",
        "object_id": "1",
        "token": "notthetoken",
        "app_label": "channels_app",
        "content_type_id": 1,
        "pk": 1,
        "id": 1,
        "url": "nowhere/",
        "channel_id": 1,
        "kind": "location",
        "ref": "24826418",
    }
    found = {}
    for name, route, pattern in admin_routes(admin.site.get_urls()):
        if isinstance(pattern.pattern, RegexPattern):  # django-rq's stats JSON, with a token or not
            path = re.sub(r"\(\?P<(\w+)>[^)]*\)\??", lambda m: str(samples[m[1]]), route)
            path = path.replace("^", "").replace("/?$", "/").replace("$", "")
        else:
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(samples[m[1]]), route)
        found.setdefault("/admin/" + path, name or path)
    return {name if list(found.values()).count(name) == 1 else url: url for url, name in found.items()}


def test_anonymous_users_are_sent_to_log_in(client, failed_job):
    for name, url in urls(failed_job).items():
        response = client.get(url)
        if name.startswith(("django_rq_home_json", "/admin/django_rq/dashboard/stats.json")):
            assert response.status_code == 403, name  # an API: no login page, no statistics
            continue
        assert response.status_code == 302 and "/admin/login/" in response["Location"], name


def test_staff_without_the_ops_permission_get_403_on_every_page_and_post(client, merchant, failed_job):
    client.force_login(merchant)
    for name, url in urls(failed_job).items():
        assert client.get(url).status_code == 403, name
        assert client.post(url, {"action": "delete", "job_ids": [failed_job]}).status_code == 403, name
    assert get_queue("webhooks").failed_job_registry.get_job_ids() == [failed_job]  # nothing happened
    assert "Django-RQ" not in client.get(reverse("admin:index")).content.decode()


def test_ops_see_every_page(client, ops, failed_job):
    client.force_login(ops)
    for name, url in urls(failed_job).items():
        status = client.get(url).status_code
        if name in {"django_rq_actions", "django_rq_confirm_action", "django_rq_stop_job"}:
            assert status in (302, 405), name  # POST-only forms
        elif "cron" in name or name.startswith("django_rq_dashboard_"):
            assert status in (200, 302, 404), name  # no cron scheduler, no Dashboard rows
        else:
            assert status == 200, (name, status)


@pytest.mark.parametrize("who", ["anonymous", "merchant", "ops", "superuser"])
def test_no_admin_url_answers_500_to_anyone(client, merchant, ops, failed_job, who):
    user = {"anonymous": None, "merchant": merchant, "ops": ops}.get(who)
    if who == "superuser":
        user = User.objects.create_superuser("root", password="pw")
    if user is not None:
        client.force_login(user)
    pages = every_admin_url(failed_job)
    assert len(pages) > 100  # every model's pages, the queue pages, the hub's own
    for name, url in pages.items():
        status = client.get(url).status_code
        assert status < 500, (who, name, url, status)


def test_the_stats_json_needs_the_ops_permission_or_the_api_token(client, merchant, ops, settings):
    settings.RQ_API_TOKEN = "scrapertoken"
    url = reverse("admin:django_rq_home_json")
    client.force_login(merchant)
    assert client.get(url).status_code == 403
    assert "6379" not in client.get(url).content.decode() and "redis" not in client.get(url).content.decode()
    client.logout()
    assert client.get(url, HTTP_AUTHORIZATION="Bearer scrapertoken").status_code == 200
    assert client.get(url + "scrapertoken/").status_code == 200
    assert client.get(url, HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    client.force_login(ops)
    assert client.get(url).status_code == 200


def test_what_ops_change_is_in_the_admin_log(client, ops, failed_job, run_worker):
    client.force_login(ops)
    assert client.post(urls(failed_job)["django_rq_requeue_job"]).status_code == 302
    entry = LogEntry.objects.get()
    assert (entry.user, entry.change_message) == (ops, f"requeued job queue webhooks, job {failed_job}")
    assert client.post(urls(failed_job)["django_rq_clear"]).status_code == 302
    assert LogEntry.objects.latest("pk").change_message == "emptied queue queue webhooks"


def event_action(client, action, *events):
    return client.post(
        reverse("admin:channels_app_processedwebhookevent_changelist"),
        {"action": action, "_selected_action": [e.pk for e in events]},
    )


def test_ops_re_process_a_failed_event_and_it_runs_again(client, ops, run_worker):
    channel = factories.shopify_channel()
    event = ProcessedWebhookEvent.objects.create(
        source="shopify", channel=channel, topic="app/uninstalled", event_key="k", payload={}, status="FAILED"
    )
    client.force_login(ops)
    assert event_action(client, "replay", event).status_code == 302
    run_worker("webhooks")
    event.refresh_from_db()
    assert event.status == "COMPLETED"
    assert LogEntry.objects.get().change_message == "re-processed event"


def test_ops_mark_events_ignored(client, ops):
    channel = factories.shopify_channel()
    event = ProcessedWebhookEvent.objects.create(source="shopify", channel=channel, topic="t", event_key="k")
    client.force_login(ops)
    event_action(client, "mark_ignored", event)
    event.refresh_from_db()
    assert (event.status, event.ignored_reason) == ("IGNORED", "marked ignored by ops")


def test_staff_without_the_ops_permission_cannot_replay_events(client, merchant):
    merchant.user_permissions.add(*Permission.objects.filter(codename__endswith="processedwebhookevent"))
    channel = factories.shopify_channel()
    event = ProcessedWebhookEvent.objects.create(
        source="shopify", channel=channel, topic="t", event_key="k", payload={}, status="FAILED"
    )
    client.force_login(merchant)
    page = client.get(reverse("admin:channels_app_processedwebhookevent_changelist")).content.decode()
    assert "Re-process" not in page
    event_action(client, "replay", event)
    event.refresh_from_db()
    assert event.status == "FAILED" and get_queue("webhooks").count == 0


def test_failed_jobs_of_every_queue_in_one_list_grouped_by_exception(client, ops, failed_job):
    client.force_login(ops)
    url = reverse("admin:django_rq_failed_all")
    page = client.get(url).content.decode()
    assert failed_job in page
    assert "AttributeError" in page and "no_such_job" in page  # exception type and message
    assert failed_job in client.get(url, {"q": failed_job.removeprefix("webhook-")}).content.decode()
    assert failed_job not in client.get(url, {"exception": "KeyError"}).content.decode()


def test_retrying_all_matching_failed_jobs_asks_first_then_requeues_and_logs(client, ops, failed_job):
    client.force_login(ops)
    url = reverse("admin:django_rq_failed_all")
    confirm = client.post(url, {"action": "retry", "scope": "all"})
    assert "Retry 1 failed job?" in confirm.content.decode()
    assert get_queue("webhooks").failed_job_registry.get_job_ids() == [failed_job]  # not yet
    done = client.post(
        url, {"action": "retry", "scope": "all", "confirmed": "1", "job": [f"webhooks:{failed_job}"]}
    )
    assert done.status_code == 302
    assert get_queue("webhooks").failed_job_registry.count == 0
    assert get_queue("webhooks").job_ids == [failed_job]
    assert LogEntry.objects.get().change_message.startswith("retried 1 failed job ")


def test_deleting_selected_failed_jobs(client, ops, failed_job):
    client.force_login(ops)
    url = reverse("admin:django_rq_failed_all")
    client.post(
        url, {"action": "delete", "scope": "selected", "confirmed": "1", "job": [f"webhooks:{failed_job}"]}
    )
    assert get_queue("webhooks").failed_job_registry.count == 0


def test_the_failed_jobs_page_is_ops_only(client, merchant, failed_job):
    client.force_login(merchant)
    url = reverse("admin:django_rq_failed_all")
    assert client.get(url).status_code == 403
    assert client.post(url, {"action": "delete", "scope": "all", "confirmed": "1"}).status_code == 403
    assert get_queue("webhooks").failed_job_registry.count == 1


def test_the_dashboard_shows_each_queue_with_the_last_hours_throughput_and_failure_rate(
    client, ops, failed_job, run_worker
):
    channel = factories.shopify_channel(shop_identifier="other.myshopify.com")
    event = ProcessedWebhookEvent.objects.create(
        source="shopify", channel=channel, topic="x", event_key="k2", payload={}
    )
    event_enqueue(event.pk, "")
    run_worker("webhooks")  # one job finishes; the failed_job fixture's job failed
    client.force_login(ops)
    page = client.get(reverse("admin:django_rq_dashboard_changelist")).content.decode()
    assert "hub/live_regions.js" in page and "data-live-region" in page  # updates in place
    for queue in ("webhooks", "catalog-images", "housekeeping"):
        assert f">{queue}</a>" in page
    assert "<td>2</td>\n        <td>50.0%</td>" in page  # webhooks: 2 jobs in the hour, 1 failed
    assert "<polyline" in page


@pytest.fixture
def failed_order_job(run_worker, settings):
    """A webhook job that failed on an order event whose order the hub already holds."""
    from orders.models import Order

    settings.HUB_JOB_RETRY_INTERVALS = []
    channel = factories.shopify_channel(shop_identifier="kettle.myshopify.com")
    Order.objects.create(
        organization=channel.organization, channel=channel, external_id="4501", number="#1042"
    )
    event = ProcessedWebhookEvent.objects.create(
        source="shopify",
        channel=channel,
        topic="orders/updated",
        event_key="k9",
        payload={"id": 4501, "line_items": ["not a line"]},
    )
    event_enqueue(event.pk, "")
    run_worker("webhooks")
    assert get_queue("webhooks").failed_job_registry.get_job_ids() == [event.job_id]
    return event


def test_a_failed_job_links_its_event_channel_and_order_and_says_how_often_it_ran(
    client, ops, failed_order_job
):
    client.force_login(ops)
    page = client.get(reverse("admin:django_rq_failed_all")).content.decode()
    event = failed_order_job
    assert f"event {event.pk} (orders/updated)" in page
    assert reverse("admin:channels_app_channel_change", args=[event.channel_id]) in page
    assert ">order #1042</a>" in page
    assert "<td>1</td>" in page  # attempts: no retries were configured


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ({"q": "kettle.myshopify"}, True),  # by shop
        ({"q": "#1042"}, True),  # by order number
        ({"q": "4501"}, True),  # by the platform's order id
        ({"q": "other-shop"}, False),
        ({"channel": "{channel}"}, True),
        ({"channel": "999999"}, False),
        ({"from": "{today}", "to": "{today}"}, True),
        ({"to": "2020-01-01"}, False),
        ({"from": "not-a-date"}, True),  # a malformed filter is ignored, not an error
    ],
)
def test_failed_jobs_are_found_by_shop_order_channel_and_date(client, ops, failed_order_job, query, found):
    from django.utils import timezone

    values = {"channel": str(failed_order_job.channel_id), "today": timezone.now().date().isoformat()}
    client.force_login(ops)
    response = client.get(
        reverse("admin:django_rq_failed_all"), {k: v.format(**values) for k, v in query.items()}
    )
    assert response.status_code == 200
    assert (failed_order_job.job_id in response.content.decode()) is found
