"""Access tokens: HS256 JWTs carrying the user, organisation and token version, with a short expiry."""

from __future__ import annotations

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


def decode_access_token(token: str, settings: Settings) -> dict[str, Any]:
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
