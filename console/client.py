"""The API, called in-process with the signed-in user's token: the console's only way to the data.

A page never reads a table or calls a service directly; it asks the API as the user would, so every
permission check, validation, workflow rule and message is the API's own. The caller's address is
passed on, so the API's per-client limits (failed sign-ins, rate limits) count the real person.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request

from console.session import Session

API = "/api/v1"


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def ok(self) -> bool:
        return self.status < 400

    @property
    def data(self) -> list[dict[str, Any]]:
        return list(self.body.get("data", [])) if isinstance(self.body, dict) else []

    def problem(self) -> str:
        """The problem's title and detail, already in the user's language (the API translated them)."""
        if not isinstance(self.body, dict):
            return str(self.body)
        title, detail = self.body.get("title", ""), self.body.get("detail", "")
        return f"{title}：{detail}" if detail and detail != title else str(title)

    def field_errors(self) -> dict[str, str]:
        """Validation messages by field name (the last name in ``loc`` after ``body``)."""
        out: dict[str, str] = {}
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        for e in errors or []:
            loc = [p for p in e.get("loc", []) if isinstance(p, str) and p not in ("body", "query", "path")]
            key = loc[0] if loc else "_"
            out.setdefault(key, str(e.get("msg", "")))
        return out


@dataclass
class ApiClient:
    request: Request
    session: Session | None
    lang: str
    renewed: Session | None = field(default=None)

    def _transport(self) -> httpx.ASGITransport:
        peer = self.request.client
        return httpx.ASGITransport(app=self.request.app, client=(peer.host, peer.port) if peer else ("unknown", 0))

    async def _send(self, method: str, path: str, *, token: str | None, json: Any = None,
                    data: dict[str, Any] | None = None, params: dict[str, Any] | None = None,
                    files: dict[str, tuple[str, bytes]] | None = None,
                    idempotency_key: str | None = None) -> httpx.Response:
        headers = {"Accept-Language": self.lang}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        params = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        async with httpx.AsyncClient(transport=self._transport(), base_url="http://console.internal") as c:
            return await c.request(method, API + path, json=json, data=data, params=params, files=files,
                                   headers=headers)

    async def call(self, method: str, path: str, **kw: Any) -> Answer:
        current = self.renewed or self.session
        token = current.access_token if current else None
        r = await self._send(method, path, token=token, **kw)
        if r.status_code == 401 and self.session and self.renewed is None:
            # The access token expired: trade the refresh token once, then ask again.
            rr = await self._send("POST", "/auth/refresh", token=None,
                                  json={"refresh_token": self.session.refresh_token})
            if rr.status_code == 200:
                body = rr.json()
                self.renewed = Session(body["access_token"], body["refresh_token"])
                r = await self._send(method, path, token=self.renewed.access_token, **kw)
        return _answer(r)

    async def get(self, path: str, **params: Any) -> Answer:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, json: Any = None, *, idempotency_key: str | None = None) -> Answer:
        return await self.call("POST", path, json=json if json is not None else {},
                               idempotency_key=idempotency_key)

    async def upload(self, path: str, name: str, content: bytes, **fields: str) -> Answer:
        """A multipart upload (a file and its form fields), as the API's upload endpoints take it."""
        return await self.call("POST", path, data=fields, files={"file": (name, content)})

    async def sign_in(self, email: str, password: str) -> Answer:
        return _answer(await self._send("POST", "/auth/token", token=None,
                                        data={"username": email, "password": password}))


def _answer(r: httpx.Response) -> Answer:
    try:
        body = r.json() if r.content else None
    except ValueError:
        body = r.text
    return Answer(r.status_code, body)


def new_key() -> str:
    """An Idempotency-Key for one rendered form: submitting it twice moves the money once."""
    return str(uuid.uuid4())

