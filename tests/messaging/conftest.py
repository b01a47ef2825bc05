import pytest

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
