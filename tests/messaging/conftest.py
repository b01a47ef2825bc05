import pytest


@pytest.fixture(autouse=True)
def fresh_rules():
    """Workers keep an organization's messaging settings 30 s; each test starts without them."""
    from messaging import delivery

    delivery._rules.clear()
    yield
    delivery._rules.clear()
