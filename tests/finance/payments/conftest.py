from __future__ import annotations

import pytest
import respx

from finance.payments.http import HttpGateway
from finance.payments.providers import use_gateway

PROVIDER = "https://pay.provider.test"
API_KEY = "sk_test_gateway"


@pytest.fixture
def http_gateway():
    """The http provider installed for the test, retrying twice without waiting."""
    gateway = HttpGateway(PROVIDER, API_KEY, timeout=2.0, max_retries=2, backoff_seconds=0)
    with use_gateway(gateway):
        yield gateway


@pytest.fixture
def provider(http_gateway):
    """The provider's REST API, mocked at the httpx boundary (only requests to it are intercepted)."""
    with respx.mock(base_url=PROVIDER, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
async def parties(api):
    return await api.org("sme"), await api.org("university")
