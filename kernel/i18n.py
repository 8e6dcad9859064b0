"""The message catalogue: Chinese (zh-CN) and English (en) for problem titles and details, validation
messages, file and chart labels. One module, gettext-style: the text written in the code is the key.

- Errors are written in English in the services; ``detail(text, "zh-CN")`` finds the Chinese by the
  exact text, else by a template (``{what} not found``), translating the words it can (``loan`` → 贷款);
  what it cannot translate it keeps, after the Chinese title, so nothing is lost.
- Charts and reports are written in Chinese; ``text(s, "en")`` gives their English.
- Column keys (``amount``, ``region``) have labels in both languages: ``column(key, lang)``.
Stable ``code``s never change with the language. The API answers in English unless asked otherwise
(``Accept-Language``); the console defaults to Chinese.
"""

from __future__ import annotations

import re
from functools import lru_cache

from kernel.i18n_details import EXACT_DETAILS, TEMPLATE_DETAILS

ZH, EN = "zh-CN", "en"
LANGUAGES = (ZH, EN)


def negotiate(accept_language: str | None, default: str = EN) -> str:
    """The best of our languages for an ``Accept-Language`` header (q-values honoured), else ``default``."""
    if not accept_language:
        return default
    choices: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        lang = ZH if primary == "zh" else EN if primary == "en" else None
        if lang and q > 0:
            choices.append((-q, i, lang))
    return sorted(choices)[0][2] if choices else default


# -- problem titles, by stable code -------------------------------------------------------------------
TITLES: dict[str, tuple[str, str]] = {  # code: (zh-CN, en)
    "validation_error": ("请求内容无效", "The request is not valid"),
    "not_authenticated": ("未登录或登录已失效", "Not authenticated"),
    "forbidden": ("无权执行此操作", "Not allowed"),
    "not_found": ("未找到", "Not found"),
    "invalid_state": ("当前状态下不允许此操作", "Not allowed in the current state"),
    "asset_encumbered": ("该资产存在权利负担", "The asset is encumbered"),
    "already_exists": ("已存在", "Already exists"),
    "idempotency_conflict": ("幂等键已用于不同的请求", "Idempotency key reused with a different request"),
    "limit_exceeded": ("将超出限额、上限、额度或预算", "A limit, cap, quota or budget would be exceeded"),
    "rate_limited": ("请求过于频繁", "Too many requests"),
    "payment_failed": ("支付失败", "The payment failed"),
    "upstream_error": ("支付服务商出错", "The payment provider failed"),
    "invalid_signature": ("签名无效", "Invalid signature"),
    "invalid_payload": ("请求体无法读取", "Invalid payload"),
    "payload_too_large": ("请求体过大", "Request body too large"),
    "bad_request": ("请求错误", "Bad request"),
    "method_not_allowed": ("不支持该请求方法", "Method not allowed"),
    "unsupported_media_type": ("不支持的内容类型", "Unsupported media type"),
    "internal_error": ("服务器内部错误", "Internal error"),
}


def title(code: str, lang: str, fallback: str = "") -> str:
    zh, en = TITLES.get(code, (fallback, fallback))
    return zh if lang == ZH else en


# -- words used inside English details ----------------------------------------------------------------
TERMS = {
    "asset": "资产", "listing": "挂牌", "offer": "报价", "deal": "交易", "license": "许可", "licence": "许可",
    "open license": "开放许可", "open license declaration": "开放许可声明", "auction": "拍卖",
    "lot": "拍品", "bid": "出价", "valuation": "评估", "loan": "贷款", "loan application": "贷款申请",
    "loan offer": "贷款报价", "repayment": "还款", "payment": "支付", "compensation claim": "代偿申请",
    "subsidy claim": "补贴申请", "subsidy policy": "补贴政策", "fund programme": "风险补偿基金项目",
    "programme": "基金项目", "agreement": "合作协议", "organisation": "机构", "user": "用户",
    "technology need": "技术需求", "royalty report": "许可费报告", "ledger entry": "账务分录",
    "ledger account": "账户", "capital entry": "资本分录", "guarantee": "担保", "insurance": "保险",
    "cover": "基金增信", "disposal": "处置", "region": "地区", "user account": "用户账户",
    "webhook endpoint": "回调地址", "approval request": "审批请求", "import": "导入", "document": "文件",
    # the objects get_or_404 names (its table's name, singular)
    "fund agreement": "合作协议", "fund cover": "基金增信", "fund program": "风险补偿基金项目",
    "fund program version": "基金项目规则版本", "fund provision": "基金拨备", "ledger period": "会计期间",
    "loan charge": "贷款费用", "loan collateral addition": "追加质物", "loan collateral alert": "质物预警",
    "loan collateral release": "解除质物", "loan disposal": "贷款处置", "loan escrow": "托管款项",
    "loan guarantee": "贷款担保", "loan installment": "还款期次", "loan insurance": "贷款保险",
    "loan invitation": "贷款邀请", "loan repayment": "还款", "loan restructure": "贷款重组",
    "loan schedule version": "还款计划版本", "margin call": "追加担保通知", "pledge consent": "质押同意",
    "tech need": "技术需求", "org": "机构", "encumbrance": "权利负担", "event": "事件",
    "webhook delivery": "回调投递", "ownership record": "权属记录", "refund": "退款",
    # statuses and actions
    "pending": "待处理", "open": "进行中", "submitted": "已提交", "accepted": "已接受", "rejected": "已拒绝",
    "withdrawn": "已撤回", "declined": "已谢绝", "expired": "已过期", "cancelled": "已取消", "active": "生效中",
    "overdue": "逾期", "repaid": "已结清", "defaulted": "已违约", "compensated": "已代偿", "disposing": "处置中",
    "closed": "已关闭", "written off": "已核销", "written_off": "已核销", "secured": "已落实担保",
    "pending security": "待落实担保", "pending_security": "待落实担保", "draft": "草稿", "certified": "已认证",
    "superseded": "已被替代", "stale": "已失效", "sold": "已成交", "unsold": "流拍", "paid": "已支付",
    "recorded": "已备案", "awaiting payment": "待支付", "awaiting_payment": "待支付",
    "under contract": "签约中", "under_contract": "签约中", "valid": "有效", "lapsed": "已失效",
    "invalidated": "已宣告无效", "ended": "已到期", "terminated": "已终止", "approved": "已批准",
    "paying": "支付中", "payout failed": "付款失败", "processing": "处理中", "succeeded": "已成功",
    "failed": "已失败", "refunded": "已退款",
    "accept": "接受", "reject": "拒绝", "withdraw": "撤回", "cancel": "取消", "pay": "支付", "record": "备案",
    "approve": "批准", "certify": "认证", "disburse": "放款", "default": "宣告违约", "close": "关闭",
    "write off": "核销", "write_off": "核销", "repay": "还款", "decline": "谢绝", "expire": "过期",
    "register pledge": "登记质押", "register_pledge": "登记质押", "supersede": "替代",
    "collateral addition": "追加质物", "collateral release": "解除质物", "cure": "补足", "register": "登记",
}


def term(word: str) -> str:
    w = word.strip()
    return TERMS.get(w, TERMS.get(w.replace("_", " "), w))


# -- details: exact English text → Chinese ----------------------------------------------------------
EXACT = {
    "wrong email or password": "邮箱或密码错误",
    "too many failed logins; try again later": "登录失败次数过多，请稍后再试",
    "the access token is not valid": "访问令牌无效",
    "the access token has expired": "访问令牌已过期",
    "the access token's user no longer exists": "访问令牌对应的用户已不存在",
    "send Authorization: Bearer <access_token>": "请发送 Authorization: Bearer <access_token>",
    "cursor is not valid": "分页游标无效",
    "limit must be between 1 and 100": "limit 须在 1 到 100 之间",
    "must be 1 to 255 characters": "长度须为 1 到 255 个字符",
    "this Idempotency-Key was used with a different request": "此 Idempotency-Key 已用于另一个不同的请求",
    "this Idempotency-Key is in use by a request still running": "使用此 Idempotency-Key 的请求仍在处理中",
    "a patent number has 12 digits and a check character (or 8 before 2004)":
        "专利号为 12 位数字加 1 位校验位（2004 年以前为 8 位）",
    "a patent number's body is digits only": "专利号的主体只能是数字",
    "a trademark registration number is 1 to 9 digits": "商标注册号为 1 至 9 位数字",
    "a software copyright number looks like 2021SR0123456": "软件著作权登记号形如 2021SR0123456",
    "a copyright registration number looks like 国作登字-2021-F-00012345": "作品登记号形如 国作登字-2021-F-00012345",
    "a plant variety number looks like CNA20201234.5": "植物新品种权号形如 CNA20201234.5",
    "a unified social credit code has 18 characters": "统一社会信用代码为 18 位",
    "the check character of the credit code does not match": "统一社会信用代码的校验码不正确",
    "the check digit does not match": "校验位不正确",
    "only the platform admin may do this": "只有平台管理员可以执行此操作",
    "only the owner may do this": "只有权利人可以执行此操作",
    "only the lending bank may do this": "只有贷款银行可以执行此操作",
    "only the platform admin onboards organisations": "只有平台管理员可以开设机构",
    "only an organisation admin adds users": "只有机构管理员可以添加用户",
    "only SMEs and universities register IP assets": "只有企业和高校可以登记知识产权",
    "only SMEs apply for pledge loans": "只有中小企业可以申请质押贷款",
    "only banks make loan offers": "只有银行可以提出贷款报价",
    "only the borrower repays a loan": "只有借款人可以还款",
    "only the buyer pays a deal": "只有买方可以支付交易",
    "only the seller accepts an offer": "只有卖方可以接受报价",
    "only the programme's fund approves compensation": "只有该项目的基金可以批准代偿",
    "only the regulator decides subsidy claims": "只有监管部门可以审核补贴申请",
    "only the regulator sets subsidy policies": "只有监管部门可以制定补贴政策",
    "only the platform admin maintains the LPR table": "只有平台管理员可以维护 LPR 表",
    "you cannot bid on your own lot": "不能对自己的拍品出价",
    "you cannot make an offer on your own listing": "不能对自己的挂牌报价",
    "the auction is closed": "拍卖已结束",
    "the listing has expired": "挂牌已过期",
    "the loan is already covered": "该贷款已有基金增信",
    "the clock can only be advanced when IPM_CLOCK=manual": "只有在 IPM_CLOCK=manual 时才能推进业务日期",
    "ledger postings require an Idempotency-Key": "记账请求必须带 Idempotency-Key",
    "amount must be whole fen (an integer)": "金额须为整数（单位：分）",
    "Request body too large": "请求体过大",
    "something went wrong on our side": "服务器出现问题，请稍后再试",
    # imports and documents
    "dates are written YYYY-MM-DD, YYYY.MM.DD or YYYY年M月D日": "日期须写作 YYYY-MM-DD、YYYY.MM.DD 或 YYYY年M月D日",
    "kind must be one of 发明, 实用新型, 外观设计": "专利类型须为以下之一：发明、实用新型、外观设计",
    "legal_status must be one of 有效, 审中, 失效, 届满, 无效": "法律状态须为以下之一：有效、审中、失效、届满、无效",
    "the kind cannot be read from the number; fill in kind": "无法从申请号判断专利类型，请填写专利类型",
    "a valid patent needs its grant_date": "有效专利须填写授权公告日",
    "already registered by another organisation": "已由其他机构登记",
    "the file is empty": "文件为空",
    "the file's content is not one of: CSV, XLSX": "文件内容不是以下类型之一：CSV、XLSX",
    "refused by the platform admin": "已被平台管理员拒绝",
    "no SME on the platform has this credit code": "平台上没有该统一社会信用代码的中小企业",
    "pledged_numbers cannot be empty": "质押物编号不能为空",
    "annual_rate is a percentage like 4.35%": "年利率须为百分比，如 4.35%",
    "repayment_method must be one of 等额本息, 等额本金, 先息后本": "还款方式须为以下之一：等额本息、等额本金、先息后本",
    "the programme requires claim evidence before a claim is approved": "该基金项目要求先上传代偿证据材料才能批准代偿",
    "only the parties of the object attach documents": "只有该对象的当事方可以上传文件",
    "only the organisation that attached a document deletes it": "只有上传文件的机构可以删除该文件",
    "the check character is a digit or X": "校验位须为数字或 X",
}

# Templates: ``{name}`` matches a word group; ``{id}`` an opaque id or number; the Chinese side uses the
# same names, each translated through TERMS where it is a word we know.
TEMPLATES: list[tuple[str, str]] = [
    ("{what} not found", "未找到{what}"),
    ("{what} {id} not found", "未找到{what} {id}"),
    ("{what} is already registered", "{what}已登记"),
    ("only {who} may do this", "只有{who}可以执行此操作"),
    ("{what} {id} is {status}; {action} is not allowed now", "{what} {id} 当前为“{status}”，现在不能{action}"),
    ("{what} {id} is {status}; {action} is not allowed", "{what} {id} 当前为“{status}”，不能{action}"),
    ("{what} {id} is {status}; it cannot become {to}", "{what} {id} 当前为“{status}”，不能变为“{to}”"),
    ("a {what} that is {status} cannot become {to}", "“{status}”的{what}不能变为“{to}”"),
    ("a {what} that is {status} cannot be {action}", "“{status}”的{what}不能{action}"),
    ("{what} {id} is {status}", "{what} {id} 当前为“{status}”"),
    ("the {what} is {status}", "{what}当前为“{status}”"),
    ("{later} must not be before {earlier}", "{later} 不得早于 {earlier}"),
    ("from {start} is after to {end}", "开始日期 {start} 晚于结束日期 {end}"),
    ("amount must be between 1 and {max} fen", "金额须在 1 到 {max} 分之间"),
    ("a bid must be at least {min} fen", "出价至少为 {min} 分"),
    ("{field} must be one of {values}", "{field} 须为以下之一：{values}"),
    ("{field} cannot be empty", "{field} 不能为空"),
    ("{field} must be 1 to {n} characters", "{field} 长度须为 1 到 {n} 个字符"),
    ("the request body must not exceed {n} bytes", "请求体不得超过 {n} 字节"),
    ("the file must not exceed {n} bytes", "文件不得超过 {n} 字节"),
    ("the file has more than {n} rows", "文件超过 {n} 行"),
    ("no header row names the required columns: {values}", "没有找到包含必填列的表头行：{values}"),
    ("the file's content is not one of: {values}", "文件内容不是以下类型之一：{values}"),
    ("the import stopped on an internal error ({id})", "导入因内部错误中止（{id}）"),
    ("{field} must be a whole number", "{field} 须为整数"),
    ("{field} must be a whole number from {min} to {max}", "{field} 须为 {min} 到 {max} 之间的整数"),
    ("{field} must be an amount in yuan", "{field} 须为以元为单位的金额"),
    ("not registered to the borrower: {values}", "未登记在借款人名下：{values}"),
    ("{id} is not a date in the calendar", "{id} 不是有效的日期"),
    ("type digit {n} does not match kind {id}", "类型位 {n} 与专利类型 {id} 不符"),
    ("{field} {id} is after the business date {n}", "{field} {id} 晚于业务日期 {n}"),
    ("an asset cannot go from {status} to {to}", "资产不能从“{status}”变为“{to}”"),
    ("{what} {id} is already registered", "{what} {id} 已登记"),
    ("check character should be {id}, not {n}", "校验位应为 {id}，而不是 {n}"),
    ("filing year {id} is outside {n} for a 12-digit number", "12 位专利号的申请年份 {id} 不在 {n} 之间"),
    ("year {id} is outside 1985–2003 for an 8-digit number", "8 位专利号的年份 {id} 不在 1985–2003 之间"),
    ("type digit {id} is not a patent type (1, 2, 3, 8 or 9)", "类型位 {id} 不是专利类型（1、2、3、8 或 9）"),
    ("the year {id} in the number is after the business date {n}", "号码中的年份 {id} 晚于营业日 {n}"),
]
# Each service's own details (kernel/i18n_details.py), after the general templates above.
EXACT.update(EXACT_DETAILS)
TEMPLATES.extend(TEMPLATE_DETAILS.items())
_CJK = re.compile(r"[\u4e00-\u9fff]")
_WORDS = r"(?P<%s>[A-Za-z_][A-Za-z _'-]*?)"
_TOKEN = r"(?P<%s>[^\s;]+)"
_ANY = r"(?P<%s>.+?)"
_TOKENS = {"id", "start", "end", "max", "min", "n", "later", "earlier", "field"}
_FREE = {"values", "who"}
_SLOT = re.compile(r"v\d+")  # kernel/i18n_details.py's placeholders: carried over as they are


@lru_cache
def _compiled() -> list[tuple[re.Pattern[str], str, bool]]:
    """(pattern, Chinese, lenient): a service's own template (kernel/i18n_details.py) keeps a word it
    cannot translate; a general one gives way to the next template."""
    out = []
    for en, zh in TEMPLATES:
        pattern, pos = "", 0
        for m in re.finditer(r"\{(\w+)\}", en):
            pattern += re.escape(en[pos:m.start()])
            name = m.group(1)
            free = name in _FREE or _SLOT.fullmatch(name)
            pattern += (_TOKEN if name in _TOKENS else _ANY if free else _WORDS) % name
            pos = m.end()
        pattern += re.escape(en[pos:])
        out.append((re.compile(f"^{pattern}$"), zh, en in TEMPLATE_DETAILS))
    return out


def _translate_zh(text: str) -> str | None:
    if text in EXACT:
        return EXACT[text]
    for pattern, zh, lenient in _compiled():
        m = pattern.match(text)
        if m:
            values = {k: (v if k in _TOKENS else term(v)) for k, v in m.groupdict().items()}
            if not lenient and any(v == m.group(k) and k not in _TOKENS and k not in _FREE
                                   for k, v in values.items()):
                continue  # a word we cannot translate: try the next template, else fall back
            return zh.format(**values)
    return None


def translate_zh(text: str) -> str | None:
    """The catalogue's Chinese for ``text`` (which may itself quote Chinese), or None."""
    return _translate_zh(text)


def detail(text: str, lang: str, code: str = "") -> str:
    """A problem's detail in ``lang``: translated when the catalogue knows it, else the Chinese title
    followed by the original text (so a Chinese reader still learns what kind of error it is)."""
    if lang != ZH or _CJK.search(text):
        return text
    found = _translate_zh(text)
    if found is not None:
        return found
    zh_title = title(code, ZH) if code in TITLES else ""
    return f"{zh_title}：{text}" if zh_title and zh_title != text else text


# -- validation messages (pydantic error types) --------------------------------------------------------
VALIDATION_ZH = {
    "missing": "必填",
    "extra_forbidden": "不允许的字段",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "string_type": "须为字符串",
    "string_pattern_mismatch": "格式不正确",
    "int_type": "须为整数",
    "int_parsing": "须为整数",
    "int_from_float": "须为整数（金额单位为分）",
    "float_type": "须为数字",
    "float_parsing": "须为数字",
    "bool_type": "须为 true 或 false",
    "bool_parsing": "须为 true 或 false",
    "greater_than": "须大于 {gt}",
    "greater_than_equal": "须大于或等于 {ge}",
    "less_than": "须小于 {lt}",
    "less_than_equal": "须小于或等于 {le}",
    "literal_error": "须为以下之一：{expected}",
    "enum": "须为以下之一：{expected}",
    "date_parsing": "须为 YYYY-MM-DD 格式的日期",
    "date_from_datetime_parsing": "须为 YYYY-MM-DD 格式的日期",
    "date_type": "须为 YYYY-MM-DD 格式的日期",
    "datetime_parsing": "须为 RFC 3339 时间",
    "list_type": "须为数组",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "dict_type": "须为对象",
    "model_type": "须为对象",
    "model_attributes_type": "须为对象",
    "json_invalid": "JSON 格式无效",
    "value_error": "值无效：{error}",
    "assertion_error": "值无效：{error}",
    "url_parsing": "须为网址",
    "url_scheme": "网址协议不允许",
}


def validation_message(error_type: str, ctx: dict[str, object] | None, english: str, lang: str) -> str:
    """One pydantic error in ``lang``; the English is pydantic's own message."""
    if lang != ZH or error_type not in VALIDATION_ZH:
        return english
    params = {k: str(v) for k, v in (ctx or {}).items()}
    if "error" in params:
        params["error"] = detail(params["error"].removeprefix("Value error, "), ZH)
    try:
        return VALIDATION_ZH[error_type].format(**params)
    except KeyError:
        return VALIDATION_ZH[error_type].split("：")[0].split("{")[0].strip() or english


# -- texts written in Chinese (reports, charts) → English ------------------------------------------------
ZH_TO_EN = {
    "高价值发明专利拥有量": "High-value invention patents held",
    "企业知识产权指数": "Enterprise IP index",
    "创新效率": "Innovation efficiency",
    "知识产权质押融资登记金额": "Registered IP pledge financing",
    "知识产权许可与转让": "IP licenses and transfers", "专利许可与转让": "Patent licenses and transfers",
    "备案月份": "Month recorded",
    "地区": "Region", "行业": "Industry", "登记月份": "Month registered", "贷款银行": "Lending bank",
    "月份": "Month", "指数": "Index",
    "每万人高价值发明专利（件）": "High-value invention patents per 10,000 people",
    "每亿元研发投入发明专利授权（件）": "Invention patents granted per ¥100m of R&D",
    "登记金额（万元）": "Amount registered (¥10,000)",
    "金额（万元）": "Amount (¥10,000)",
    "许可金额": "Licenses", "转让金额": "Transfers", "许可": "Licenses", "转让": "Transfers",
    "风险敞口": "exposure", "在保贷款余额": "Covered outstanding", "基金敞口": "Fund exposure",
    "额度": "Quota", "合作额度": "Quota", "合作银行": "Partner bank", "合计": "Total", "统计期间": "Period", "筛选条件": "Filters", "条件": "Filter",
    "取值": "Value", "数据": "Data", "生成日期": "Generated on",
    "导入错误": "Import errors", "文件": "File", "内容": "Content",
}
EN_TO_ZH = {en: zh for zh, en in ZH_TO_EN.items()}


def text(s: str, lang: str) -> str:
    """A label in ``lang``, whichever language it was written in; unknown text is returned as it is."""
    if lang == EN:
        return ZH_TO_EN.get(s, s)
    return EN_TO_ZH.get(s, s)


# -- column labels for CSV/XLSX (money columns get the unit added by the exporter) -------------------------
COLUMNS: dict[str, tuple[str, str]] = {
    "region": ("地区代码", "Region code"), "region_name": ("地区", "Region"), "count": ("笔数", "Count"),
    "population": ("人口", "Population"), "per_10k": ("每万人", "Per 10,000 people"),
    "month": ("月份", "Month"), "industry": ("行业", "Industry"), "bank_org_id": ("银行编号", "Bank ID"),
    "bank_name": ("银行", "Bank"), "amount": ("金额", "Amount"),
    "licenses_count": ("许可笔数", "Licenses"), "licenses_amount": ("许可金额", "Licenses amount"),
    "transfers_count": ("转让笔数", "Transfers"), "transfers_amount": ("转让金额", "Transfers amount"),
    "total_count": ("合计笔数", "Total count"), "total_amount": ("合计金额", "Total amount"),
    "invention_patents_granted": ("发明专利授权量", "Invention patents granted"),
    "rd_spending": ("研发投入", "R&D spending"), "patents_per_100m_yuan": ("每亿元研发投入授权量",
                                                                        "Patents per ¥100m of R&D"),
    "index": ("指数", "Index"), "national_demonstration": ("国家知识产权示范企业", "National demonstration"),
    "national_advantage": ("国家知识产权优势企业", "National advantage"),
    "provincial_demonstration": ("省级知识产权示范企业", "Provincial demonstration"),
    "provincial_advantage": ("省级知识产权优势企业", "Provincial advantage"),
    "standard_certified": ("贯标认证企业", "Standard certified"),
    "section": ("类别", "Section"), "key": ("项目", "Item"), "covered_outstanding": ("在保贷款余额",
                                                                                "Covered outstanding"),
    "fund_exposure": ("基金敞口", "Fund exposure"), "quota": ("额度", "Quota"), "deposit": ("保证金", "Deposit"),
    "npl_ratio_bps": ("不良率（基点）", "NPL ratio (bps)"), "paused": ("已暂停", "Paused"),
    "loans": ("贷款笔数", "Loans"), "value": ("数值", "Value"), "name": ("名称", "Name"),
    "row": ("行号", "Row"), "column": ("列", "Column"), "reason": ("原因", "Reason"),
    "bank": ("银行", "Bank"), "guarantor": ("担保机构", "Guarantor"), "total": ("合计", "Total"),
    "capital": ("资本金", "Capital"), "cash": ("现金", "Cash"), "committed_exposure": ("承诺敞口",
                                                                                 "Committed exposure"),
    "deposits": ("保证金合计", "Deposits"), "leverage_used": ("已用放大倍数", "Leverage used"),
    "compensation_paid": ("已代偿", "Compensation paid"), "recovered": ("已追偿", "Recovered"),
    "compensation_rate_bps": ("代偿率（基点）", "Compensation rate (bps)"),
    "recovery_rate_bps": ("追偿率（基点）", "Recovery rate (bps)"),
    "indicator": ("指标", "Indicator"), "target": ("目标", "Target"), "met": ("是否达标", "Met"),
    "year": ("年度", "Year"), "rate_bps": ("比率（基点）", "Rate (bps)"),
    "unit": ("单位", "Unit"), "figure": ("数值", "Figure"), "baseline": ("基期值（2021年）", "Baseline (2021)"),
}
MONEY_UNIT = {ZH: "（元）", EN: " (yuan)"}


def column(key: str, lang: str) -> str:
    zh, en = COLUMNS.get(key, (key, key.replace("_", " ").capitalize()))
    return zh if lang == ZH else en


def boolean(value: bool, lang: str) -> str:
    """Files say true/false in every language (spreadsheets and scripts read them alike)."""
    return "true" if value else "false"
