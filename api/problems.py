"""RFC 9457 problem+json for every error, with the contract's stable ``code``.

``title``, ``detail`` and validation messages follow ``Accept-Language`` (zh-CN or en, English when
absent) through the catalogue in ``kernel.i18n``; the ``code`` never changes with the language.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kernel import i18n
from kernel.errors import DomainError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
_HTTP_CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "invalid_state", 413: "payload_too_large",
               415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited"}


def problem(status: int, code: str, title: str, detail: str, *, errors: list[dict[str, Any]] | None = None,
            extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
            lang: str = i18n.EN) -> JSONResponse:
    """The problem response; ``title`` and ``detail`` are given in English and translated to ``lang``."""
    shown_title = title if lang == i18n.EN else i18n.title(code, lang, title) or title
    body: dict[str, Any] = {"type": f"urn:ipm:problem:{code}", "title": shown_title,
                            "status": status, "detail": i18n.detail(detail, lang, code), "code": code}
    headers = {**(headers or {}), "Content-Language": lang}
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    from api.observe import request_id_var  # observe imports nothing of problems; kept local as a leaf

    if request_id_var.get():
        body["request_id"] = request_id_var.get()
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def language(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"))


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = None
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    if exc.status == 429 and "retry_after" in exc.extra:
        headers = {"Retry-After": str(exc.extra["retry_after"])}
    lang = language(request)
    errors = [{**e, "msg": i18n.detail(str(e.get("msg", "")), lang)} for e in exc.errors] if exc.errors else None
    return problem(exc.status, exc.code, exc.title, exc.detail, errors=errors, extra=exc.extra,
                   headers=headers, lang=lang)


def _loc(loc: Any) -> list[Any]:
    return [str(p) if not isinstance(p, int) else p for p in loc]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    lang = language(request)
    errors = [{"loc": _loc(e.get("loc", ())),
               "msg": i18n.validation_message(str(e.get("type", "")), e.get("ctx"), e.get("msg", "invalid"), lang)}
              for e in exc.errors()]
    sep = "；" if lang == i18n.ZH else "; "
    detail = sep.join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem(422, "validation_error", "The request is not valid", detail, errors=errors, lang=lang)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "error")
    return problem(exc.status_code, code, str(exc.detail), str(exc.detail), headers=exc.headers,
                   lang=language(request))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal_error", "Internal error", "something went wrong on our side",
                   lang=language(request))


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
