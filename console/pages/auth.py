"""Sign-in, sign-out and the language switch."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console import session
from console.web import PREFIX, context, finish, form, redirect, render

router = APIRouter()


def _safe_next(value: str | None) -> str:
    # Only a console page: never an open redirect to another site.
    if value and value.startswith(PREFIX) and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    ctx = await context(request, signed_in=False)
    return render(ctx, "login.html", next=_safe_next(next), error=None, email="")


@router.post("/login")
async def login(request: Request) -> Response:
    ctx = await context(request, signed_in=False)
    data = await form(request)
    email, target = data.get("email", "").strip(), _safe_next(data.get("next"))
    answer = await ctx.api.sign_in(email, data.get("password", ""))
    if not answer.ok:
        return render(ctx, "login.html", status_code=answer.status, next=target, error=answer.problem(),
                      email=email)
    response = redirect(ctx, target)
    session.write(response, request.app.state.settings,
                  session.Session(answer.body["access_token"], answer.body["refresh_token"]))
    # A new CSRF token for the new session (one fixed before sign-in is not carried over).
    session.renew_csrf(request)
    return finish(ctx, response)


@router.post("/logout")
async def logout(request: Request) -> Response:
    ctx = await context(request, signed_in=False)
    await form(request)
    if ctx.api.session is not None:
        await ctx.api.post("/auth/logout")  # revokes the tokens held in the cookie
    response = redirect(ctx, f"{PREFIX}/login")
    session.clear(response, request.app.state.settings)
    return response


@router.post("/language")
async def switch_language(request: Request) -> Response:
    ctx = await context(request, signed_in=False)
    data = await form(request)
    lang = data.get("lang", "")
    response = redirect(ctx, _safe_next(data.get("next")))
    if lang in ("zh-CN", "en"):
        session.set_language(response, request.app.state.settings, lang)
    return response

