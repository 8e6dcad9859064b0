"""What every console page shares: the signed-in person, the API client, CSRF-checked forms, rendering."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console import labels, session
from console.client import Answer, ApiClient, new_key
from kernel import i18n

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
PREFIX = "/console"
KINDS = ["invention_patent", "utility_model", "design_patent", "trademark", "copyright", "software_copyright",
         "trade_secret", "plant_variety", "geographical_indication"]
GI_FORMS = ["collective_mark", "certification_mark", "gi_product"]
# Where an inbox item's object is shown in the console.
OBJECT_PAGES = {"loan_application": "/applications/{id}", "loan": "/loans/{id}",
                "compensation_claim": "/claims/{id}", "approval_request": "/approvals/{id}",
                "loan_offer": "/applications", "fund_agreement": "/fund"}
_APPLICATION_PATH = re.compile(r"^/loan-applications/([^/]+)")


class Redirect(Exception):  # a control-flow signal: answered with a 303 by console.app
    def __init__(self, to: str) -> None:
        self.to = to


class CsrfRejected(Exception):
    pass


@dataclass
class Ctx:
    """One request's console context: language, API client and (when signed in) who is asking."""

    request: Request
    lang: str
    api: ApiClient
    me: dict[str, Any] | None = None
    today: str | None = None

    @property
    def kind(self) -> str:
        return str(self.me["org"]["kind"]) if self.me else ""


async def context(request: Request, *, signed_in: bool = True) -> Ctx:
    """The context; with ``signed_in``, the person must be signed in (else to the sign-in page)."""
    lang = session.language(request)
    sess = session.read(request)
    ctx = Ctx(request, lang, ApiClient(request, sess, lang))
    if not signed_in:
        return ctx
    if sess is None:
        raise Redirect(f"{PREFIX}/login?next={quote(request.url.path)}")
    me = await ctx.api.get("/me")
    if not me.ok:
        raise Redirect(f"{PREFIX}/login?next={quote(request.url.path)}")
    ctx.me = me.body
    clock = await ctx.api.get("/clock")
    ctx.today = clock.body.get("business_date") if clock.ok else None
    return ctx


async def names(ctx: Ctx, org_ids: set[str]) -> dict[str, str]:
    """Organisation names for ids (the public directory entry of each)."""
    out: dict[str, str] = {}
    for org_id in sorted(org_ids):
        answer = await ctx.api.get(f"/orgs/{org_id}")
        out[org_id] = answer.body["name"] if answer.ok else org_id
    return out


async def form(request: Request) -> dict[str, str]:
    """The posted form, refused (nothing done) unless it carries this browser's CSRF token."""
    data = await request.form()
    fields = {k: v for k, v in data.items() if isinstance(v, str)}
    if not session.csrf_ok(request, fields.get(session.CSRF_FIELD)):
        raise CsrfRejected
    return fields


def page_address(request: Request) -> str:
    """The console address of the page on screen, for the language switch to come back to. A page drawn
    in answer to a form post (a refusal shown at its field) is the page the form was on, its Referer:
    the post's own address cannot be opened."""
    if request.method == "GET":
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc == request.url.netloc and referer.path.startswith(PREFIX):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return PREFIX


def render(ctx: Ctx, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    lang = ctx.lang
    response = templates.TemplateResponse(ctx.request, template, status_code=status_code, context={
        "lang": lang, "me": ctx.me, "today": ctx.today, "kind": ctx.kind, "P": PREFIX,
        "t": lambda key: labels.t(key, lang), "yuan": lambda v: labels.yuan(v, lang),
        "wan": lambda v: labels.wan(v, lang), "rate": lambda v: labels.rate(v, lang),
        "st": lambda v: labels.status(v, lang), "col": lambda k: i18n.column(k, lang),
        "csrf": session.csrf_token(ctx.request), "csrf_field": session.CSRF_FIELD, "new_key": new_key,
        "path": page_address(ctx.request), "colon": "：" if lang == i18n.ZH else ": ",
        "lp": "（" if lang == i18n.ZH else " (", "rp": "）" if lang == i18n.ZH else ")", **values})
    finish(ctx, response)
    return response


def finish(ctx: Ctx, response: Response) -> Response:
    """Cookies a page may owe: a refreshed session, a new CSRF token."""
    if ctx.api.renewed is not None:
        session.write(response, ctx.request.app.state.settings, ctx.api.renewed)
    session.remember_csrf(ctx.request, response)
    return response


def redirect(ctx: Ctx, to: str) -> Response:
    return finish(ctx, RedirectResponse(to, status_code=303))


def not_found(ctx: Ctx, answer: Answer | None = None) -> HTMLResponse:
    status = answer.status if answer is not None and answer.status in (403, 404) else 404
    return render(ctx, "error.html", status_code=status, message=labels.t("not_found", ctx.lang),
                  detail=answer.problem() if answer is not None else "")


def object_page(object_type: str, object_id: str, action_path: str = "") -> str | None:
    """The console page of an inbox item's object (an offer's is its application's, when the item says)."""
    found = _APPLICATION_PATH.match(action_path)
    if object_type == "loan_offer" and found:
        return f"{PREFIX}/applications/{found.group(1)}"
    page = OBJECT_PAGES.get(object_type)
    return PREFIX + page.format(id=object_id) if page else None
