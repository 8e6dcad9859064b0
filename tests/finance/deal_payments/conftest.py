from tests.finance.payments.conftest import http_gateway, provider  # noqa: F401  (the http provider, mocked)
