"""Messaging's fixtures, and the helpers its delivery tests share: a consenting contact, an
automation's message, delivery on a burst worker, and Twilio's REST API served locally."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from werkzeug.wrappers import Request, Response

from messaging.consent import consent_record
from messaging.models import Automation, ConsentState, Contact, Message
from messaging.queueing import messages_enqueue
from tests.channels_app import factories
from tests.messaging.factories import settings_without_quiet_hours


@pytest.fixture(autouse=True)
def fresh_rules():
    """Workers keep an organization's messaging settings 30 s; each test starts without them."""
    from messaging import rules as delivery

    delivery._rules.clear()
    yield
    delivery._rules.clear()


@pytest.fixture
def organization():
    """Acme, with no quiet hours unless a test sets them (the suite runs at any hour)."""
    organization = factories.organization()
    settings_without_quiet_hours(organization)
    return organization


@pytest.fixture
def channel():
    """A Shopify store of its own organization, with no quiet hours."""
    channel = factories.shopify_channel()
    settings_without_quiet_hours(channel.organization)
    return channel


def contact(organization, phone="+14155550123", consent=ConsentState.OPTED_IN, **fields):
    person = Contact.objects.create(organization=organization, phone=phone, name="Wile", **fields)
    if consent != ConsentState.UNKNOWN:
        consent_record(person, consent, source="test")
    return person


def message(organization, to, *, template="Hi {{ contact.name }}, {{ order.number }} shipped", **fields):
    automation = Automation.objects.create(
        organization=organization, name="Shipped", trigger="fulfillment_shipped", template=template
    )
    return Message.objects.create(
        organization=organization,
        contact=to,
        automation=automation,
        event_key=f"order-{Message.objects.count()}",
        context={"order": {"number": "#1001"}},
        **fields,
    )


def deliver(run_worker, *messages):
    for item in messages:
        messages_enqueue([item.pk])
    run_worker("messaging-delivery")
    return [Message.objects.get(pk=item.pk) for item in messages]


class TwilioServer:
    """Messages.json as Twilio answers it: 201 with the message resource, or its error object."""

    SID = "AC" + "0" * 32

    def __init__(self) -> None:
        self.posts: list[dict[str, list[str]]] = []
        self.auth: list[str] = []
        self.error: dict | None = None
        self.troubles: dict[int, tuple[int, dict[str, str]]] = {}  # post number: status, headers
        self.on_post = lambda number: None  # what else happens as Twilio receives post `number`
        self.lookups_down = 0  # how many lookups (GET) answer 500 first

    def respond(self, request: Request) -> Response:
        self.auth.append(request.headers.get("Authorization", ""))
        if request.method == "GET" and self.lookups_down:
            self.lookups_down -= 1
            return Response(
                json.dumps({"code": 20500, "status": 500}), status=500, content_type="application/json"
            )
        if request.method == "GET":
            return Response(
                json.dumps({"messages": [], "next_page_uri": None}), content_type="application/json"
            )
        form = parse_qs(request.get_data(as_text=True))
        self.posts.append(form)
        self.on_post(len(self.posts))
        if len(self.posts) in self.troubles:
            status, headers = self.troubles[len(self.posts)]
            code, text = {429: (20429, "Too Many Requests"), 500: (20500, "Internal Server Error")}[status]
            more = f"https://www.twilio.com/docs/errors/{code}"
            error = {"code": code, "message": text, "more_info": more, "status": status}
            return Response(
                json.dumps(error), status=status, headers=headers, content_type="application/json"
            )
        if self.error:
            return Response(
                json.dumps(self.error), status=self.error["status"], content_type="application/json"
            )
        resource = {
            "account_sid": self.SID,
            "sid": f"SM{len(self.posts):032d}",
            "to": form["To"][0],
            "from": form["From"][0],
            "body": form["Body"][0],
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": "1",
            "error_code": None,
            "error_message": None,
            "api_version": "2010-04-01",
            "date_created": "Thu, 26 Nov 2026 12:00:00 +0000",
            "uri": f"/2010-04-01/Accounts/{self.SID}/Messages/SM{len(self.posts):032d}.json",
        }
        return Response(json.dumps(resource), status=201, content_type="application/json")


@pytest.fixture
def twilio(httpserver, settings):
    server = TwilioServer()
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = httpserver.url_for("").rstrip("/")
    settings.TWILIO_ACCOUNT_SID = TwilioServer.SID
    settings.TWILIO_AUTH_TOKEN = "secret-token"
    settings.TWILIO_FROM_NUMBER = "+15005550006"
    settings.WEBHOOK_BASE_URL = "https://hub.example.com"
    httpserver.expect_request(f"/2010-04-01/Accounts/{TwilioServer.SID}/Messages.json").respond_with_handler(
        server.respond
    )
    return server


def three(organization):
    return [message(organization, contact(organization, phone=f"+1415555012{n}")) for n in range(3)]


# Five nested loops over 50-character strings, 671 characters: 312 million iterations. Two saves
# of it at once once held both web workers for 31 s.
NESTED_LOOPS = "".join("{% for x" + str(n) + ' in "' + "x" * 50 + '" %}' for n in range(5)) + (
    "{{ contact.name }}" + "{% endfor %}" * 5
)


# No loop at all: each `with` doubles the last; 35 deep would be 32 GB.
DOUBLING = "{% with a=contact.name %}" + "{% with a=a|add:a %}" * 35 + "{{ a }}" + "{% endwith %}" * 36
