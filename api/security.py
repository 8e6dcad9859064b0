"""Access tokens: HS256 JWTs carrying the user, organisation and token version, with a short expiry.

A token verified once is remembered (a small LRU, until its ``exp``): a busy client sends the same token
with every request, and checking its signature and claims each time is a visible part of a read. Only
the token's own checks are cached; revocation (disabled user, new token version) is checked against
the database on every request (``api.deps.current_actor``).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any

import jwt

from kernel.db import utcnow
from kernel.errors import NotAuthenticated
from kernel.settings import Settings

ALGORITHM = "HS256"


def create_access_token(user_id: str, org_id: str, settings: Settings, version: int = 0) -> str:
    now = utcnow()
    claims = {"sub": user_id, "org": org_id, "ver": version, "iat": now,
              "exp": now + timedelta(seconds=settings.jwt_ttl_seconds), "typ": "access"}
    return jwt.encode(claims, settings.jwt_secret, algorithm=ALGORITHM)


_VERIFIED_MAX = 4096
# (secret, token) -> its claims, for tokens that passed every check below; oldest use first.
_verified: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()


def decode_access_token(token: str, settings: Settings) -> dict[str, Any]:
    key = (settings.jwt_secret, token)
    claims = _verified.get(key)
    if claims is not None:
        if claims["exp"] > time.time():
            _verified.move_to_end(key)
            return dict(claims)
        del _verified[key]
        raise NotAuthenticated("the access token has expired")
    claims = _verify(token, settings)
    _verified[key] = claims
    if len(_verified) > _VERIFIED_MAX:
        _verified.popitem(last=False)
    return dict(claims)


def _verify(token: str, settings: Settings) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, settings.jwt_secret, algorithms=[ALGORITHM],
                            options={"require": ["sub", "org", "ver", "exp", "iat"]})
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("the access token has expired") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("the access token is not valid") from exc
    if claims.get("typ") != "access" or not isinstance(claims.get("ver"), int) \
            or not isinstance(claims.get("sub"), str) or not isinstance(claims.get("org"), str):
        raise NotAuthenticated("the access token is not valid")
    return claims
