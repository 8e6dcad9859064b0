"""Receiving an uploaded file: authenticated first, stored before the request's transaction begins.

The blob goes to storage (maybe S3, a network call) before the session runs its first statement, so no
transaction is open while it is written; only then is the caller's organisation looked up and the
service run. A file refused by the service afterwards stays stored unreferenced (content-addressed,
harmless). The size is checked as the file is read, never trusting a declared length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, UploadFile

from api.deps import SettingsDep, current_actor, oauth2
from api.security import decode_access_token
from kernel import storage
from kernel.actor import Actor
from kernel.errors import NotAuthenticated, PayloadTooLarge
from kernel.settings import Settings

CHUNK = 1024 * 1024


@dataclass
class Stored:
    sha256: str
    size: int
    filename: str
    checked: str  # what the check answered (a content type, a format)


async def read_limited(file: UploadFile, max_bytes: int) -> bytes:
    parts, size = [], 0
    while chunk := await file.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"the file must not exceed {max_bytes} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def _bearer_token(settings: SettingsDep, token: Annotated[str | None, Depends(oauth2)]) -> str:
    """The bearer token, checked before the multipart body is read or validated: an anonymous upload is
    401, never a 422 about its form fields."""
    if not token:
        raise NotAuthenticated("send Authorization: Bearer <access_token>")
    decode_access_token(token, settings)
    return token


BearerToken = Annotated[str, Depends(_bearer_token)]


async def receive(request: Request, settings: Settings, token: str, file: UploadFile, max_bytes: int,
                  check: Callable[[bytes], str]) -> tuple[Actor, Stored]:
    """Read, check and store ``file`` (the token already checked); then the actor (the request's first query)."""
    data = await read_limited(file, max_bytes)
    checked = check(data)
    sha = await storage.put(data)
    actor = await current_actor(request, request.state.session, settings, token)
    return actor, Stored(sha, len(data), (file.filename or "")[:255], checked)
