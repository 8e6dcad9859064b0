"""Every service's error details are in the catalogue (kernel/i18n_details.py): a Chinese client reads
them in Chinese, an English one as written; a new message without its entry fails here, named."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from kernel import i18n
from tests.helpers import assert_problem

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kernel", "accounts", "market", "valuation", "finance", "api")
ERRORS = {"ValidationFailed", "Forbidden", "NotFound", "InvalidState", "AlreadyExists", "LimitExceeded",
          "AssetEncumbered", "IdempotencyConflict", "PaymentFailed", "UpstreamError", "NotAuthenticated",
          "UnsupportedMediaType", "PayloadTooLarge", "RateLimited", "InvalidSignature", "InvalidPayload",
          "limit_exceeded"}
CJK = re.compile(r"[\u4e00-\u9fff]")
ZH = {"Accept-Language": "zh-CN"}


def _sample(node: ast.expr) -> str | None:
    """The message a raise site writes, with made-up values where the code fills them in."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None
    out = []
    for i, part in enumerate(node.values):
        if isinstance(part, ast.Constant):
            out.append(str(part.value))
        elif isinstance(part, ast.FormattedValue):  # a status reads as one; anything else as an opaque value
            out.append("active" if ast.unparse(part.value).endswith("status") else f"x_{i}")
    return "".join(out)


# Where a ValueError is a validator's message a client reads (pydantic's value_error), not a bug.
VALIDATORS = ("schemas.py", "numbers.py", "credit_code.py", "text.py", "webhook_endpoints.py")


def _messages() -> dict[str, str]:
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            validators = path.name in VALIDATORS
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if validators and isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                        and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "ValueError" and node.exc.args:
                    text = _sample(node.exc.args[0])
                    if text is not None:
                        found.setdefault(text, f"{path.relative_to(ROOT)}:{node.lineno}")
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
                owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
                if name == "at" and owner in ERRORS and len(node.args) >= 2:
                    arg = node.args[1]
                elif name == "limit_exceeded" and len(node.args) >= 2:
                    arg = node.args[1]
                elif name in ERRORS and name != "limit_exceeded" and node.args:
                    arg = node.args[0]
                else:
                    continue
                text = _sample(arg)
                if text is not None:
                    found.setdefault(text, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_raised_detail_has_its_chinese() -> None:
    messages = _messages()
    assert len(messages) > 250  # the scan finds the services' raise sites
    missing = [f"{where}: {text!r}" for text, where in sorted(messages.items(), key=lambda x: x[1])
               if not CJK.search(text) and i18n._translate_zh(text) is None]
    assert not missing, ("details without Chinese: add them to kernel/i18n_details.py "
                         "(EXACT_DETAILS, or TEMPLATE_DETAILS with {v1}… for the values):\n" + "\n".join(missing))


def test_service_templates_carry_values_and_translate_statuses() -> None:
    assert i18n.detail("loan ln_9 is repaid; it takes no repayments", "zh-CN") == "贷款 ln_9 当前为“已结清”，不接受还款"
    assert i18n.detail("the bank's non-performing ratio this year is 4301 bps, above 800: new covers are paused",
                       "zh-CN") == "该银行本年度不良率为 4301 基点，超过 800：暂停新增基金增信"
    # A status the terms do not know stays as written, rather than losing the sentence.
    assert i18n.detail("loan ln_9 is frozen; it takes no repayments", "zh-CN") == "贷款 ln_9 当前为“frozen”，不接受还款"
    assert i18n.detail("loan restructure lrs_1 not found", "zh-CN") == "未找到贷款重组 lrs_1"
    assert i18n.validation_message("value_error", {"error": "Value error, a firm is named twice"}, "x", "zh-CN") == \
        "值无效：同一企业被列了两次"
    assert i18n.detail("loan ln_9 is repaid; it takes no repayments", "en") == "loan ln_9 is repaid; it takes no repayments"


async def test_a_chinese_client_reads_service_details_in_chinese(api, client) -> None:
    admin = await api.admin()
    lpr = {"effective_on": "2025-05-20", "one_year_bps": 300, "five_year_bps": 350}
    assert (await client.post("/lpr", json=lpr, headers=admin.headers)).status_code == 201
    zh = assert_problem(await client.post("/lpr", json=lpr, headers={**admin.headers, **ZH}), 409, "already_exists")
    assert zh["detail"] == "2025-05-20 生效的 LPR 已发布"
    en = assert_problem(await client.post("/lpr", json=lpr, headers=admin.headers), 409, "already_exists")
    assert en["detail"] == "an LPR effective on 2025-05-20 is already published"
    # A field's message too (ValidationFailed.at): an offer that expires in the past.
    sme, bank = await api.org("sme"), await api.org("bank")
    asset = await api.asset(sme)
    application = (await client.post("/loan-applications", json={
        "asset_ids": [asset["id"]], "amount": 100_000_00, "term_months": 12, "purpose": "流动资金",
        "repayment_method": "equal_installment"}, headers=sme.headers)).json()
    body = {"amount": 100_000_00, "annual_rate_bps": 385, "term_months": 12, "repayment_method": "equal_installment",
            "expires_on": "2026-03-01"}
    r = await client.post(f"/loan-applications/{application['id']}/offers", json=body, headers={**bank.headers, **ZH})
    problem = assert_problem(r, 422, "validation_error")
    assert problem["errors"][0]["msg"] == "报价有效期须晚于今天（2026-03-02）"
    assert CJK.search(problem["detail"])
