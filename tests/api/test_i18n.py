"""Errors follow Accept-Language (zh-CN or en, English when absent); the stable code never changes."""

from __future__ import annotations

import re

from kernel import i18n
from tests.helpers import assert_problem

ZH = {"Accept-Language": "zh-CN"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_negotiation_honours_q_values_and_defaults() -> None:
    assert i18n.negotiate(None) == "en" and i18n.negotiate("") == "en"
    assert i18n.negotiate(None, default="zh-CN") == "zh-CN"  # the console's default
    assert i18n.negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert i18n.negotiate("en-US,zh;q=0.5") == "en"
    assert i18n.negotiate("fr, zh-TW;q=0.4") == "zh-CN"
    assert i18n.negotiate("de, fr") == "en"


def test_every_stable_code_has_both_titles() -> None:
    for code in ("validation_error", "not_authenticated", "forbidden", "not_found", "invalid_state",
                 "asset_encumbered", "idempotency_conflict", "limit_exceeded", "rate_limited"):
        zh, en = i18n.TITLES[code]
        assert CJK.search(zh) and en and not CJK.search(en)


def test_templates_translate_details_with_their_words() -> None:
    assert i18n.detail("loan not found", "zh-CN") == "未找到贷款"
    assert i18n.detail("ledger entry led_1 not found", "zh-CN") == "未找到账务分录 led_1"
    assert i18n.detail("loan ln_7 is repaid; disburse is not allowed now", "zh-CN") == \
        "贷款 ln_7 当前为“已结清”，现在不能放款"
    # Unknown text keeps its words after the Chinese title, so nothing is lost.
    assert i18n.detail("the widget is sideways", "zh-CN", "invalid_state") == "当前状态下不允许此操作：the widget is sideways"
    assert i18n.detail("loan not found", "en") == "loan not found"


async def test_chinese_client_gets_chinese_errors_with_the_same_codes(api, client):
    bad_code = {"org_name": "测试科技有限公司", "org_kind": "sme", "credit_code": "91140100MA0K0XXXX1",
                "email": "x@example.com", "password": "long-enough-password"}
    en = assert_problem(await client.post("/auth/register", json=bad_code), 422, "validation_error")
    zh = assert_problem(await client.post("/auth/register", json=bad_code, headers=ZH), 422, "validation_error")
    assert en["title"] == "The request is not valid" and not CJK.search(en["detail"])
    assert zh["title"] == "请求内容无效" and CJK.search(zh["detail"])

    missing = assert_problem(await client.post("/auth/register", json={}, headers=ZH), 422, "validation_error")
    assert {e["msg"] for e in missing["errors"]} == {"必填"}
    assert missing["errors"][0]["loc"][0] == "body"  # locations stay as they are

    sme = await api.org("sme")
    r = await client.get("/assets/ast_missing", headers={**sme.headers, **ZH})
    body = assert_problem(r, 404, "not_found")
    assert body["title"] == "未找到" and body["detail"].startswith("未找到资产")
    assert r.headers["content-language"] == "zh-CN"
    r = await client.get("/assets/ast_missing", headers=sme.headers)
    assert assert_problem(r, 404, "not_found")["detail"].startswith("asset ")
    assert r.headers["content-language"] == "en"

    unauth = assert_problem(await client.get("/me", headers=ZH), 401, "not_authenticated")
    assert unauth["title"] == "未登录或登录已失效" and CJK.search(unauth["detail"])
