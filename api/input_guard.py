"""One rule for every string the API takes, applied before routing: control characters answer 422.

The path, every query parameter and every JSON or form body is checked with ``kernel.text``'s rule
(no C0/C1 controls; tab and line breaks only in multi-line fields). JSON bodies also refuse integers
beyond 64 bits (no column holds them) and integers too long for Python to parse, which json would
otherwise turn into a 400. A body without anything suspect is scanned once and not parsed here.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from kernel.text import control_character, is_multiline_field

INT64 = 2**63 - 1
# Escapes of control characters, raw C1 characters (UTF-8 C2 80–C2 9F) and long digit runs: only a
# body with one of these is parsed and walked.
_SUSPECT = re.compile(rb"\\u00[0189][0-9a-fA-F]|\\u007[fF]|\\[bfnrt]|\x7f|\xc2[\x80-\x9f]|[0-9]{19,}")
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# A query string of only these bytes has nothing percent-encoded, so no control character in it: not parsed.
_PLAIN_QUERY = re.compile(rb"[A-Za-z0-9._~=&+*\-]*")

Error = dict[str, Any]


def _string_error(value: str, loc: list[Any], field: str | None) -> Error | None:
    bad = control_character(value, multiline=is_multiline_field(field))
    return {"loc": loc, "msg": f"control character {bad} is not allowed"} if bad else None


def _walk(value: Any, loc: list[Any], field: str | None) -> Error | None:
    if isinstance(value, str):
        return _string_error(value, loc, field)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return {"loc": loc, "msg": "integer out of range"} if abs(value) > INT64 else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            if error := _walk(item, [*loc, i], field):
                return error
    if isinstance(value, dict):
        for key, item in value.items():
            if error := _string_error(key, [*loc, key], None) or _walk(item, [*loc, key], key):
                return error
    return None


def json_body_error(body: bytes) -> Error | None:
    if not _SUSPECT.search(body):
        return None
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return None  # FastAPI answers 422 for malformed JSON
    except ValueError:  # an integer with more digits than int() accepts
        return {"loc": ["body"], "msg": "integer out of range"}
    return _walk(data, ["body"], None)


def pairs_error(pairs: list[tuple[str, str]], where: str) -> Error | None:
    for key, value in pairs:
        if error := _string_error(key, [where, key], None) or _string_error(value, [where, key], key):
            return error
    return None


def _invalid(error: Error) -> Any:
    loc = ".".join(str(p) for p in error["loc"])
    return problems.problem(422, "validation_error", "The request is not valid", f"{loc}: {error['msg']}",
                            errors=[error])


class InputGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = _string_error(scope.get("path", ""), ["path"], None)
        raw_query = scope.get("query_string", b"")
        if error is None and raw_query and not _PLAIN_QUERY.fullmatch(raw_query):
            error = pairs_error(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True), "query")
        is_json = is_form = False
        if error is None and scope.get("method") in _BODY_METHODS:
            content_type = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
            is_json = content_type == "application/json" or content_type.endswith("+json")
            is_form = content_type == "application/x-www-form-urlencoded"
        if is_json or is_form:
            try:
                body = await _read_body(receive)
            except StarletteHTTPException as exc:  # the body outgrew IPM_MAX_BODY_BYTES while streaming
                response = problems.problem(exc.status_code, "payload_too_large", "Request body too large",
                                            str(exc.detail))
                await response(scope, receive, send)
                return
            if body is None:
                return  # the client went away
            if is_json:
                error = json_body_error(body)
            else:
                error = pairs_error(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True), "body")
            receive = _replay(body, receive)
        if error is not None:
            await _invalid(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
