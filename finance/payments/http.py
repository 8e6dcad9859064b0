"""The ``http`` provider: a Stripe-like REST API over httpx.

- ``POST /v1/payment_intents`` (created and confirmed in one call), ``GET /v1/payment_intents/{id}``,
  ``POST /v1/refunds``, ``POST /v1/transfers`` (escrow release), ``POST /v1/payouts``, ``GET /v1/payouts/{id}``;
  form-encoded bodies with Stripe's bracket notation, ``Authorization: Bearer <IPM_PAYMENT_API_KEY>``.
- Every POST carries ``Idempotency-Key`` derived from our payment's unique key, so a retry (ours, or a
  client's after our transaction rolled back) gets the provider's stored result, never a second charge.
  GETs need none (they change nothing).
- Each attempt has ``IPM_PAYMENT_TIMEOUT_SECONDS``. Only what is safe is retried, up to
  ``IPM_PAYMENT_MAX_RETRIES`` times with the same key: network errors, timeouts, 429 and 5xx. Any other 4xx
  is final, and a POST without an idempotency key is never repeated.
- Errors: a card-style decline (402 ``card_error``) is a result, the intent ``failed`` with its decline
  code (the service decides; ``service.require_success`` turns it into 402 ``payment_failed``). Any
  other 4xx, and 5xx or network failure after the retries, raise ``UpstreamError`` (502 ``upstream_error``).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog

from finance.payments.gateway import (
    GatewayResult,
    IntentRequest,
    PayoutRequest,
    ProviderObject,
    RefundRequest,
    TransferRequest,
)
from kernel.errors import UpstreamError
from kernel.outbound import tls_context
from kernel.settings import Settings

log = structlog.get_logger()


def form(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested dicts as ``a[b]``, booleans as ``true``/``false``, None left out."""
    out: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}[{key}]" if prefix else key
        if value is None:
            continue
        if isinstance(value, dict):
            out.extend(form(value, name))
        elif isinstance(value, bool):
            out.append((name, "true" if value else "false"))
        else:
            out.append((name, str(value)))
    return out


class _Declined(Exception):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__("declined")
        self.body = body


class HttpGateway:
    name = "http"

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0, max_retries: int = 3,
                 backoff_seconds: float = 0.25, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff_seconds = backoff_seconds
        self.transport = transport

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> HttpGateway:
        return cls(settings.payment_api_base, settings.payment_api_key, timeout=settings.payment_timeout_seconds,
                   max_retries=settings.payment_max_retries, **kw)

    async def _request(self, method: str, path: str, *, data: dict[str, Any] | None = None,
                       key: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        body = urlencode(form(data)).encode() if data is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        last_problem = "no attempt made"
        # A repeat is safe only when it cannot act twice: a GET, or a POST the provider de-duplicates by key.
        attempts = self.max_retries + 1 if method == "GET" or key is not None else 1
        async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout, verify=tls_context(),
                                     transport=self.transport) as client:
            for attempt in range(attempts):
                if attempt and self.backoff_seconds:
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                try:
                    response = await client.request(method, path, content=body, headers=headers)
                except httpx.TimeoutException:
                    last_problem = f"timed out after {self.timeout:g} s"
                except httpx.TransportError as exc:
                    last_problem = f"network error: {type(exc).__name__}"
                else:
                    # 429 (rate limited) changed nothing at the provider, like a 5xx: try again later.
                    if response.status_code < 500 and response.status_code != 429:
                        return self._answer(response)
                    last_problem = f"answered {response.status_code}"
                log.warning("payment_provider.retry", method=method, path=path, attempt=attempt + 1,
                            problem=last_problem)
        raise UpstreamError(f"the payment provider {last_problem} ({attempts} attempt{'s' * (attempts > 1)})")

    @staticmethod
    def _answer(response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamError(f"the payment provider answered {response.status_code} without JSON") from exc
        if not isinstance(body, dict):
            raise UpstreamError("the payment provider answered with an unexpected body")
        if response.is_success:
            return body
        error = body.get("error")
        if not isinstance(error, dict):
            error = {}
        if response.status_code == 402 and error.get("type") == "card_error":
            raise _Declined(error)
        code = error.get("code") or error.get("type") or "error"
        raise UpstreamError(f"the payment provider refused the request ({response.status_code} {code}): "
                            f"{error.get('message') or 'no message'}")

    async def create_intent(self, request: IntentRequest) -> GatewayResult:
        data: dict[str, Any] = {
            "amount": request.amount, "currency": "cny", "confirm": True, "off_session": True,
            "customer": request.payer_org_id, "description": request.description,
            "metadata": request.metadata,
            # Escrow keeps the money on the platform's balance until a transfer releases it.
            "transfer_data": None if request.escrow else {"destination": request.payee_org_id},
            "transfer_group": request.metadata.get("payment_id"),
        }
        try:
            intent = await self._request("POST", "/v1/payment_intents", data=data, key=request.key)
        except _Declined as declined:
            found = declined.body.get("payment_intent")
            intent = found if isinstance(found, dict) else {
                "id": None, "object": "payment_intent", "status": "requires_payment_method"}
            intent = {**intent, "last_payment_error": intent.get("last_payment_error") or declined.body}
        return GatewayResult(intent)

    async def retrieve_intent(self, reference: str) -> ProviderObject:
        return await self._request("GET", f"/v1/payment_intents/{reference}")

    async def refund(self, request: RefundRequest) -> GatewayResult:
        data = {"payment_intent": request.payment_intent, "amount": request.amount, "metadata": request.metadata}
        return GatewayResult(await self._request("POST", "/v1/refunds", data=data, key=request.key))

    async def transfer(self, request: TransferRequest) -> GatewayResult:
        data = {"amount": request.amount, "currency": "cny", "destination": request.destination_org_id,
                "source_transaction": request.source_payment_intent, "metadata": request.metadata}
        return GatewayResult(await self._request("POST", "/v1/transfers", data=data, key=request.key))

    async def create_payout(self, request: PayoutRequest) -> GatewayResult:
        data = {"amount": request.amount, "currency": "cny", "destination": request.destination_org_id,
                "metadata": request.metadata}
        return GatewayResult(await self._request("POST", "/v1/payouts", data=data, key=request.key))

    async def retrieve_payout(self, reference: str) -> ProviderObject:
        return await self._request("GET", f"/v1/payouts/{reference}")
