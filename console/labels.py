"""Every label of the console in Chinese and English, and how money and dates are shown.

The API's own catalogue (kernel.i18n) gives problem texts and status words; these are the screens' words.
Amounts are integer fen from the API: shown in 元 with thousands separators, or in 万元 where the screen
shows loan-sized figures.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from kernel import i18n

L: dict[str, tuple[str, str]] = {
    # frame
    "app": ("知识产权质押融资服务平台", "IP Pledge Market"),
    "console": ("工作台", "Console"), "skip": ("跳到正文", "Skip to content"),
    "sign_in": ("登录", "Sign in"), "sign_out": ("退出登录", "Sign out"), "email": ("邮箱", "Email"),
    "password": ("密码", "Password"), "signed_in_as": ("当前用户", "Signed in as"),
    "org": ("机构", "Organisation"), "role": ("角色", "Role"), "language": ("语言", "Language"),
    "switch_lang": ("English", "中文"), "business_date": ("营业日", "Business date"),
    "csrf_failed": ("表单已失效，请刷新页面后重试", "The form has expired; reload the page and try again"),
    "signin_required": ("请先登录", "Please sign in first"),
    "not_found": ("未找到，或您无权查看", "Not found, or not yours to see"),
    "back_home": ("返回待办", "Back to my inbox"), "save": ("保存", "Save"), "submit": ("提交", "Submit"),
    "none": ("暂无", "None yet"), "open": ("查看", "Open"), "actions": ("操作", "Actions"),
    "status": ("状态", "Status"), "done": ("已完成", "Done"), "more": ("更多", "More"),
    "next_steps": ("下一步可执行", "What can come next"), "error": ("出错了", "Something went wrong"),
    "form_errors": ("请更正以下标出的内容", "Please correct the fields marked below"),
    # navigation
    "nav_inbox": ("待办", "Inbox"), "nav_assets": ("我的知识产权", "My IP assets"),
    "nav_applications": ("贷款申请", "Loan applications"), "nav_loans": ("贷款", "Loans"),
    "nav_claims": ("代偿申请", "Compensation claims"), "nav_fund": ("基金看板", "Fund dashboard"),
    "nav_stats": ("统计", "Statistics"), "nav_market": ("交易", "Market"),
    "nav_needs": ("技术需求", "Technology needs"), "nav_subsidies": ("补贴", "Subsidies"),
    # roles and kinds
    "role_admin": ("平台管理员", "Platform admin"), "role_org_admin": ("机构管理员", "Organisation admin"),
    "role_checker": ("复核人", "Checker"), "role_member": ("经办人", "Member"),
    "kind_sme": ("中小企业", "SME"), "kind_university": ("高校院所", "University"), "kind_bank": ("银行", "Bank"),
    "kind_guarantor": ("担保机构", "Guarantor"), "kind_insurer": ("保险机构", "Insurer"),
    "kind_evaluator": ("评估机构", "Evaluator"), "kind_fund": ("风险补偿基金", "Risk fund"),
    "kind_regulator": ("监管部门", "Regulator"), "kind_platform": ("平台", "Platform"),
    # inbox
    "inbox": ("我的待办", "What needs me"), "inbox_empty": ("目前没有需要您处理的事项", "Nothing needs you now"),
    "due_on": ("截止日", "Due"), "item": ("事项", "Item"),
    # assets
    "assets": ("我的知识产权", "My IP assets"), "register_asset": ("登记知识产权", "Register an IP asset"),
    "asset_kind": ("类型", "Kind"), "number": ("申请号/注册号", "Application or registration number"),
    "number_hint": ("专利号含校验位，如 201910012345.6", "Patent numbers end in a check digit, e.g. 201910012345.6"),
    "title": ("名称", "Title"), "abstract": ("摘要", "Abstract"), "ipc_codes": ("IPC 分类号", "IPC codes"),
    "ipc_hint": ("多个用逗号分隔，如 H01M 10/613", "Separate several with commas, e.g. H01M 10/613"),
    "filing_date": ("申请日", "Filing date"), "grant_date": ("授权日", "Grant date"),
    "expiry_date": ("到期日", "Expiry date"), "fees_paid_until": ("年费缴至", "Fees paid until"),
    "claims_count": ("权利要求数", "Claims"), "industry": ("行业", "Industry"),
    "registered": ("已登记", "Registered"), "encumbrances": ("权利负担", "Encumbrances"),
    "asset_registered": ("知识产权已登记", "The asset is registered"),
    "kind_invention_patent": ("发明专利", "Invention patent"), "kind_utility_model": ("实用新型", "Utility model"),
    "kind_design_patent": ("外观设计", "Design patent"), "kind_trademark": ("商标", "Trademark"),
    "kind_copyright": ("著作权", "Copyright"), "kind_software_copyright": ("软件著作权", "Software copyright"),
    "kind_trade_secret": ("商业秘密", "Trade secret"), "kind_plant_variety": ("植物新品种", "Plant variety"),
}


def t(key: str, lang: str) -> str:
    zh, en = L.get(key, (key, key))
    return zh if lang == i18n.ZH else en


def _yuan_text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


def yuan(fen: Any, lang: str) -> str:
    """1234567 fen → ``12,345.67 元`` (``¥12,345.67`` in English)."""
    if fen is None or fen == "":
        return "—"
    return f"{_yuan_text(int(fen))} 元" if lang == i18n.ZH else f"¥{_yuan_text(int(fen))}"


def wan(fen: Any, lang: str) -> str:
    """Loan-sized amounts: 100000000 fen → ``100.00 万元`` (``¥1,000,000.00`` in English)."""
    if fen is None or fen == "":
        return "—"
    if lang != i18n.ZH:
        return yuan(fen, lang)
    amount = (Decimal(int(fen)) / Decimal(1_000_000)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{amount:,} 万元"


def rate(bps: Any, lang: str) -> str:
    """Basis points as a percentage: 435 → 4.35%."""
    if bps is None or bps == "":
        return "—"
    return f"{Decimal(int(bps)) / Decimal(100):.2f}%"


def status(word: Any, lang: str) -> str:
    """A status or action word from the API in the user's language (the API's own catalogue)."""
    if word is None:
        return "—"
    w = str(word)
    return i18n.term(w) if lang == i18n.ZH else w.replace("_", " ")
