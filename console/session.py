"""The console's session cookie and CSRF token.

The session cookie holds the user's API tokens in a JWT signed with the app's secret (so it cannot be
forged or edited); it is ``HttpOnly`` and ``SameSite=Lax``, ``Secure`` outside development and test.
CSRF: every form carries the token of the ``ipm_csrf`` cookie (double submit, the cookie set by the
console itself); a POST whose token does not match changes nothing. The token is renewed at sign-in.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import Request, Response

from kernel import i18n
from kernel.settings import Settings

SESSION_COOKIE, CSRF_COOKIE, LANG_COOKIE = "ipm_session", "ipm_csrf", "ipm_lang"
CSRF_FIELD = "csrf_token"
_TYP = "console-session"
MAX_AGE = 8 * 3600  # a working day; the access token inside is refreshed as it expires


@dataclass
class Session:
    access_token: str
    refresh_token: str


def _secure(settings: Settings) -> bool:
    return settings.env == "production"


def _cookie(response: Response, settings: Settings, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/console", httponly=True, samesite="lax",
                        secure=_secure(settings))


def read(request: Request) -> Session | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    settings: Settings = request.app.state.settings
    try:
        claims: dict[str, Any] = jwt.decode(raw, settings.jwt_secret, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != _TYP or not isinstance(claims.get("at"), str) or not isinstance(claims.get("rt"), str):
        return None
    return Session(claims["at"], claims["rt"])


def write(response: Response, settings: Settings, session: Session) -> None:
    value = jwt.encode({"typ": _TYP, "at": session.access_token, "rt": session.refresh_token},
                       settings.jwt_secret, algorithm="HS256")
    _cookie(response, settings, SESSION_COOKIE, value, MAX_AGE)


def clear(response: Response, settings: Settings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/console", httponly=True, samesite="lax", secure=_secure(settings))


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one (set on the response by ``remember_csrf``)."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = request.state.new_csrf = secrets.token_urlsafe(24)
    return token


def remember_csrf(request: Request, response: Response) -> None:
    new = getattr(request.state, "new_csrf", None)
    if new:
        _cookie(response, request.app.state.settings, CSRF_COOKIE, new)


def renew_csrf(request: Request) -> str:
    request.state.new_csrf = secrets.token_urlsafe(24)
    return request.state.new_csrf


def csrf_ok(request: Request, submitted: str | None) -> bool:
    expected = request.cookies.get(CSRF_COOKIE)
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())


def language(request: Request) -> str:
    """The console speaks Chinese unless the person switched to English."""
    lang = request.cookies.get(LANG_COOKIE)
    return lang if lang in i18n.LANGUAGES else i18n.ZH


def set_language(response: Response, settings: Settings, lang: str) -> None:
    _cookie(response, settings, LANG_COOKIE, lang, 365 * 24 * 3600)
