"""Inbox titles in the caller's language (zh-CN or en, by Accept-Language). One table, so it can move into
the i18n catalogue as it is."""

from __future__ import annotations

from typing import Any

DEFAULT = "en"
MESSAGES: dict[str, dict[str, str]] = {
    "application.to_answer": {"en": "Loan application from {borrower} for ¥{amount} awaits your offer",
                              "zh-CN": "{borrower} 申请贷款 ¥{amount}，待您报价"},
    "offer.expiring": {"en": "Your offer of ¥{amount} expires on {due}",
                       "zh-CN": "您报价的 ¥{amount} 贷款要约将于 {due} 到期"},
    "loan.pledge_to_register": {"en": "Register the pledge of loan {loan} to {borrower}",
                                "zh-CN": "请为 {borrower} 的贷款 {loan} 办理质押登记"},
    "loan.to_disburse": {"en": "Loan {loan} to {borrower} is secured: disburse it",
                         "zh-CN": "{borrower} 的贷款 {loan} 已落实担保，待放款"},
    "loan.newly_overdue": {"en": "Loan {loan} to {borrower} is {days} days past due",
                           "zh-CN": "{borrower} 的贷款 {loan} 已逾期 {days} 天"},
    "collateral.alert": {"en": "Collateral alert on loan {loan}: {detail}",
                         "zh-CN": "贷款 {loan} 质物预警：{detail}"},
    "margin_call.open": {"en": "Margin call on loan {loan}: cover ¥{amount} by {due}",
                         "zh-CN": "贷款 {loan} 追加担保通知：请于 {due} 前补足 ¥{amount}"},
    "margin_call.expired": {"en": "Margin call on loan {loan} is past its date ({due}): ¥{amount} still uncovered",
                            "zh-CN": "贷款 {loan} 追加担保已逾期（{due}）：仍缺口 ¥{amount}"},
    "collateral.to_register": {"en": "Register the pledge of the collateral added to loan {loan}",
                               "zh-CN": "请为贷款 {loan} 新增的质物办理质押登记"},
    "collateral_release.to_decide": {"en": "Decide the collateral release asked on loan {loan}",
                                     "zh-CN": "请审批贷款 {loan} 的质物解除（置换）申请"},
    "offer.received": {"en": "{bank} offers ¥{amount} at {rate}% a year, until {due}",
                       "zh-CN": "{bank} 报价 ¥{amount}，年利率 {rate}%，有效期至 {due}"},
    "installment.due": {"en": "Instalment {n} of loan {loan}: ¥{amount} due on {due}",
                        "zh-CN": "贷款 {loan} 第 {n} 期应还 ¥{amount}，到期日 {due}"},
    "installment.overdue": {"en": "Instalment {n} of loan {loan} is overdue: ¥{amount} since {due}",
                            "zh-CN": "贷款 {loan} 第 {n} 期已逾期：¥{amount}，应还日 {due}"},
    "royalty.to_pay": {"en": "Royalty of ¥{amount} due on {due}", "zh-CN": "应付许可费 ¥{amount}，到期日 {due}"},
    "royalty.to_confirm": {"en": "Confirm the royalty of ¥{amount} due on {due} was received",
                           "zh-CN": "请确认已收到 {due} 到期的许可费 ¥{amount}"},
    "invitation.open": {"en": "You are invited to join loan {loan} to {borrower} ({cover})",
                        "zh-CN": "邀请您参与 {borrower} 的贷款 {loan}（{cover}）"},
    "approval.to_decide": {"en": "Second approval needed — {title}", "zh-CN": "待您复核（双人审批）：{title}"},
    "claim.share": {"en": "Compensation claim on loan {loan}: your share is ¥{amount}",
                    "zh-CN": "贷款 {loan} 代偿申请：您分担 ¥{amount}"},
    "claim.to_approve": {"en": "Approve the compensation claim of {bank}: ¥{amount}",
                         "zh-CN": "请审批 {bank} 的代偿申请：¥{amount}"},
    "claim.payout_failed": {"en": "The payout of claim {claim} failed: retry it",
                            "zh-CN": "代偿 {claim} 付款失败，请重试"},
    "bank.paused": {"en": "{bank} is paused in {program}: non-performing ratio {ratio}%",
                    "zh-CN": "{bank} 在 {program} 中暂停准入：不良率 {ratio}%"},
    "quota.nearly_used": {"en": "{bank} has used {ratio}% of its quota in {program}",
                          "zh-CN": "{bank} 在 {program} 中的额度已使用 {ratio}%"},
    "subsidy_claim.to_decide": {"en": "Decide the subsidy claim of {claimant}: ¥{amount}",
                                "zh-CN": "请审核 {claimant} 的补助申请：¥{amount}"},
    "valuation.to_certify": {"en": "Valuation of ¥{amount} awaits certification", "zh-CN": "评估价值 ¥{amount}，待出具评估报告"},
}


def language(accept_language: str | None) -> str:
    """The first language the caller accepts that we speak (zh → zh-CN), else English."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def title(kind: str, lang: str, **params: Any) -> str:
    texts = MESSAGES[kind]
    return (texts.get(lang) or texts[DEFAULT]).format(**params)
