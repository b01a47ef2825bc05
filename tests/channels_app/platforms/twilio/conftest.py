"""Twilio's webhooks feed messaging: each test starts, as messaging's own tests do, without the
messaging settings a worker keeps cached for 30 seconds."""

from tests.messaging.conftest import fresh_rules  # noqa: F401
