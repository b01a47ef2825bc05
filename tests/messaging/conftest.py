from datetime import time

import pytest


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
    from channels_app.models import Organization
    from messaging.models import MessagingSettings

    organization = Organization.objects.create(name="Acme", slug="acme")
    MessagingSettings.objects.create(organization=organization, quiet_start=time(0), quiet_end=time(0))
    return organization


@pytest.fixture
def channel():
    """A Shopify store of its own organization, with no quiet hours."""
    from messaging.models import MessagingSettings
    from tests.channels_app import factories

    channel = factories.shopify_channel()
    MessagingSettings.objects.create(
        organization=channel.organization, quiet_start=time(0), quiet_end=time(0)
    )
    return channel
