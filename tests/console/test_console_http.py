"""The console over HTTP: sign-in and its cookies, CSRF, the language switch, the inbox, another
organisation's data hidden, the check-digit error at its field."""

from __future__ import annotations

from tests.console.helpers import PASSWORD, browser, csrf_of, post_form, sign_in
from tests.helpers import count, patent_number


async def test_root_and_signed_out_pages_lead_to_sign_in(app):
    async with browser(app) as c:
        r = await c.get("/", follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/console/"
        r = await c.get("/console/assets", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login?next=/console/assets"
        page = await c.get("/console/login")
        assert page.status_code == 200 and "登录" in page.text and 'lang="zh-CN"' in page.text
        assert "https://" not in page.text  # nothing from another host


async def test_session_cookie_is_httponly_lax_and_shows_org_and_role(api, app):
    sme = await api.org("sme", name="太原锂电科技")
    async with browser(app) as c:
        r = await sign_in(c, sme)
        cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
        session = next(v for v in cookies if v.startswith("ipm_session="))
        assert "HttpOnly" in session and "SameSite=lax" in session and "Path=/console" in session
        home = await c.get("/console/")
        assert home.status_code == 200
        assert "太原锂电科技" in home.text and "机构管理员" in home.text and "中小企业" in home.text
        assert "2026-03-02" in home.text  # the business date
        assert "目前没有需要您处理的事项" in home.text


async def test_wrong_password_is_refused_in_the_users_language(api, app):
    sme = await api.org("sme")
    async with browser(app) as c:
        page = await c.get("/console/login")
        r = await c.post("/console/login", data={"csrf_token": csrf_of(page), "email": sme.email,
                                                 "password": "wrong-password", "next": "/console/"})
        assert r.status_code == 401 and "邮箱或密码错误" in r.text
        assert "ipm_session" not in r.headers.get("set-cookie", "")


async def test_a_form_without_the_csrf_token_changes_nothing(api, app):
    sme = await api.org("sme")
    async with browser(app) as c:
        await sign_in(c, sme)
        body = {"kind": "invention_patent", "number": patent_number(), "title": "一种测试装置"}
        r = await c.post("/console/assets", data=body)
        assert r.status_code == 403 and "表单已失效" in r.text
        r = await c.post("/console/assets", data={**body, "csrf_token": "forged"})
        assert r.status_code == 403
        from market.assets.models import Asset
        assert await count(app, Asset) == 0
        # A sign-in form without it is refused too (login CSRF).
        r = await c.post("/console/login", data={"email": sme.email, "password": PASSWORD})
        assert r.status_code == 403


async def test_language_switch_to_english_and_back(api, app):
    sme = await api.org("sme")
    async with browser(app) as c:
        await sign_in(c, sme, lang="en")
        home = await c.get("/console/")
        assert 'lang="en"' in home.text and "Nothing needs you now" in home.text and "Organisation admin" in home.text
        assert "目前没有" not in home.text
        r = await post_form(c, "/console/", "/console/language", {"lang": "zh-CN", "next": "/console/assets"})
        assert r.status_code == 303 and r.headers["location"] == "/console/assets"
        assert "我的知识产权" in (await c.get("/console/assets")).text


async def test_register_asset_with_a_wrong_check_digit_shows_the_error_at_the_field(api, app):
    sme = await api.org("sme")
    good = patent_number()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    async with browser(app) as c:
        await sign_in(c, sme)
        r = await post_form(c, "/console/assets", "/console/assets",
                            {"kind": "invention_patent", "number": bad, "title": "一种锂电池热管理装置"})
        assert r.status_code == 422
        assert 'data-testid="error-number"' in r.text and 'aria-invalid="true"' in r.text
        assert f'value="{bad}"' in r.text  # what was typed is kept
        r = await post_form(c, "/console/assets", "/console/assets",
                            {"kind": "invention_patent", "number": good, "title": "一种锂电池热管理装置",
                             "ipc_codes": "H01M 10/613", "filing_date": "2019-05-10"})
        assert r.status_code == 303
        page = await c.get(r.headers["location"])
        assert "知识产权已登记" in page.text and good in page.text
        assert good in (await c.get("/console/assets")).text


async def test_my_assets_list_only_mine(api, app):
    sme, other = await api.org("sme"), await api.org("sme")
    async with browser(app) as c:
        await sign_in(c, sme)
        await api.asset(other, title="别人的专利")
        await api.asset(sme, title="我的专利")
        page = (await c.get("/console/assets")).text
        assert "我的专利" in page and "别人的专利" not in page
        r = await c.get("/console/assets/no-such-asset")
        assert r.status_code == 404 and "未找到" in r.text


async def test_sign_out_revokes_the_session(api, app):
    sme = await api.org("sme")
    async with browser(app) as c:
        await sign_in(c, sme)
        old = c.cookies.get("ipm_session")
        r = await post_form(c, "/console/", "/console/logout", {})
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
        c.cookies.set("ipm_session", old, path="/console")  # even a copied cookie no longer works
        r = await c.get("/console/", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
