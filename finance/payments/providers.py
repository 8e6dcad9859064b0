"""Which payment provider the platform talks to: the configured one (``IPM_PAYMENT_PROVIDER``), built once
per settings, or one a test installed. Kept apart from ``gateway`` (the interface), which the providers
import: the factory imports the providers, so it cannot live in the module they import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from finance.payments.gateway import PaymentGateway
from finance.payments.http import HttpGateway
from finance.payments.local import LocalGateway
from kernel.settings import Settings, get_settings

_override: PaymentGateway | None = None
_cache: dict[tuple[Any, ...], PaymentGateway] = {}


def build_gateway(settings: Settings) -> PaymentGateway:
    if settings.payment_provider == "http":
        return HttpGateway.from_settings(settings)
    return LocalGateway()


def get_gateway(settings: Settings | None = None) -> PaymentGateway:
    """The configured provider (``IPM_PAYMENT_PROVIDER``), or the one a test installed."""
    if _override is not None:
        return _override
    settings = settings or get_settings()
    cache_key = (settings.payment_provider, settings.payment_api_base, settings.payment_api_key,
                 settings.payment_timeout_seconds, settings.payment_max_retries)
    if cache_key not in _cache:
        _cache[cache_key] = build_gateway(settings)
    return _cache[cache_key]


@contextmanager
def use_gateway(gateway: PaymentGateway) -> Iterator[PaymentGateway]:
    """Install ``gateway`` for the duration (tests, scripts)."""
    global _override
    previous, _override = _override, gateway
    try:
        yield gateway
    finally:
        _override = previous
