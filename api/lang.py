"""The caller's language from ``Accept-Language`` (zh-CN or en; the API answers in English when absent)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from kernel import i18n, tabular


async def language(request: Request) -> str:  # async: no thread-pool hop per request
    return i18n.negotiate(request.headers.get("accept-language"))


Language = Annotated[str, Depends(language)]


def file_response(table: tabular.Table, fmt: str, lang: str) -> Response:
    """A CSV or XLSX download of ``table`` in ``lang``."""
    body, media_type, filename = tabular.render(table, fmt, lang)
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Content-Language": lang})
