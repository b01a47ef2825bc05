"""Webhooks as the platforms send them, for `manage.py send_test_webhook`: a sample payload of a
topic, made a new delivery of now and signed with the channel's secret.

Each platform package has a `simulator.py` (its `delivery(channel, topic)`) and a `samples/` folder
with one payload per topic it handles, named for the topic (`orders/paid` is `orders_paid.json`).
The samples are the recorded payloads the tests use (tests/fixtures/, whose README gives their
sources), shipped with the app because the app never reads tests/. Where a recording did not fit
its topic it was changed, and only there: Shopify's `orders/*` recording is a voided, cancelled
order, kept so for `orders/cancelled` and made paid (`financial_status` "paid", no `cancelled_at`
or `cancel_reason`) for the other order topics; Twilio's inbound message is sent from a number that
is one (+1 415 555 0123, a fictional number; the recording's is redacted), and the status callback
has the `ApiVersion` the recording truncated and those numbers; EasyPost's `tracker.created` is its
`tracker.updated` recording under that description, without `previous_attributes`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any


@dataclass(frozen=True)
class SimulatedDelivery:
    """A request as the platform would send it: where (a path of the hub), body and headers."""

    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class UnknownTopic(Exception):
    def __init__(self, platform: str, topic: str, known: list[str]) -> None:
        super().__init__(f"{platform} has no sample webhook {topic!r}; known topics: {', '.join(known)}")
        self.known = known


def sample_name(topic: str) -> str:
    return re.sub(r"[/.]", "_", topic) + ".json"


def sample(package: str, platform: str, topic: str, known: list[str]) -> Any:
    """The sample payload of `topic` in the platform `package`'s samples/ folder."""
    if topic not in known:
        raise UnknownTopic(platform, topic, known)
    return json.loads(files(package).joinpath("samples", sample_name(topic)).read_bytes())


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode()
