"""One realistic example per request schema, keyed by the schema's name in the OpenAPI document.

``api/openapi.py`` attaches them to every request body; ``tests/api/test_openapi.py`` fails, naming
the schema, when a request body has none here, and validates every example against its model. Money is
fen (the 元 figure is in ``MONEY_NOTES``, shown in the body's description); numbers and credit codes are
made with their real check characters.
"""

from __future__ import annotations

from typing import Any

from accounts.credit_code import make_credit_code
from market.numbers import patent_check_character

PATENT = "202310456789"
PATENT_NUMBER = f"{PATENT}.{patent_check_character(PATENT)}"
SME_CREDIT_CODE = make_credit_code("91140100MA0K7Q3E1")
BANK_CREDIT_CODE = make_credit_code("91140000MA0H2B8D4")
ASSET_IDS = ["ast_01HZX3K9Q2", "ast_01HZX3KA7M"]

EXAMPLES: dict[str, dict[str, Any]] = {
    "RegisterIn": {"org_name": "太原锂能新材料科技有限公司", "org_kind": "sme", "credit_code": SME_CREDIT_CODE,
                   "email": "finance@lineng.example.cn", "password": "Lineng-2026-secure", "region": "140100",
                   "industry": "新能源"},
    "CreateImportForm": {"kind": "assets", "file": "专利清单.xlsx"},
    "UploadDocumentForm": {"object_type": "loan", "object_id": "loan_1a2b3c4d5e6f7a8b9c0d1e2",
                           "kind": "pledge_registration", "file": "质押登记通知书.pdf"},
    "TokenForm": {"username": "sme1@demo.ipm", "password": "demo-pass-2026", "grant_type": "password"},
    "OrgIn": {"name": "三晋商业银行股份有限公司太原分行", "kind": "bank", "credit_code": BANK_CREDIT_CODE,
              "region": "140100"},
    "OrgPatch": {"region": "140100", "industry": "新能源", "ip_honours": ["provincial_advantage"],
                 "rd_spending_last_year": 1_250_000_000},
    "UserIn": {"email": "credit-officer@sanjin-bank.example.cn", "password": "Sanjin-2026-officer",
               "role": "member"},
    "EndpointIn": {"url": "https://erp.sanjin-bank.example.cn/ipm/webhooks",
                   "event_types": ["loan.disbursed", "loan.overdue"], "description": "信贷系统接收贷款事件"},
    "EndpointPatch": {"status": "disabled"},
    "RefreshIn": {"refresh_token": "rt_4Jf2kQ9xV7mN1pL8sD3wZ6yB0cH5tR2e"},
    "UserPatch": {"role": "checker", "disabled": False},
    "PasswordChangeIn": {"current_password": "demo-pass-2026", "new_password": "Jinshang-2026-new-pass"},
    "RegionIn": {"code": "140100", "name": "太原市", "population": 5_430_000},
    "AdvanceIn": {"days": 30},
    "AssetIn": {"kind": "invention_patent", "number": PATENT_NUMBER, "title": "一种高镍三元正极材料的制备方法",
                "abstract": "通过共沉淀与两段烧结制备高镍三元正极材料，提高循环稳定性。",
                "ipc_codes": ["H01M4/525", "H01M4/505"], "filing_date": "2023-04-12", "grant_date": "2025-01-17",
                "fees_paid_until": "2026-04-12", "claims_count": 12, "forward_citations": 5,
                "family_countries": ["CN", "US"], "industry": "新能源", "strategic_emerging": True},
    "AssetPatch": {"fees_paid_until": "2027-04-12"},
    "ListingIn": {"asset_ids": ASSET_IDS[:1], "mode": "exclusive_license", "price": 50_000_000,
                  "title": "高镍三元正极材料专利独占许可", "description": "五年独占许可，含技术指导。",
                  "expires_on": "2026-06-30", "term_months": 60, "rate_bps": 300, "minimum_annual": 5_000_000},
    "ListingOfferIn": {"amount": 45_000_000, "message": "我司拟在晋中基地实施，可一次性支付许可费。"},
    "AuctionIn": {"asset_ids": ASSET_IDS, "title": "碳化硅衬底专利包拍卖", "start_price": 80_000_000,
                  "reserve_price": 120_000_000, "min_increment": 2_000_000, "ends_on": "2026-04-15",
                  "extension_days": 1},
    "BidIn": {"amount": 82_000_000},
    "RelistIn": {"reserve_price": 90_000_000, "start_price": 60_000_000, "ends_on": "2026-05-15"},
    "CancelIn": {"reason": "买方未在约定期限内付款，双方协商解除。"},
    "RoyaltyReportIn": {"period_start": "2026-01-01", "period_end": "2026-03-31", "net_sales": 860_000_000},
    "OpenLicenseIn": {"rate_bps": 200, "term_months": 36, "free_months": 6,
                      "evaluation_report_ref": "晋衡评报字〔2026〕第018号"},
    "NeedIn": {"title": "寻求煤矿井下巡检机器人定位技术", "description": "需要在无GPS环境下实现厘米级定位的专利技术。",
               "ipc_codes": ["G01S5/02", "B25J9/16"], "industry": "智能制造"},
    "FeedbackIn": {"need_id": "need_01HZX3M1", "asset_id": ASSET_IDS[0], "verdict": "interested"},
    "ValuationIn": {"asset_ids": ASSET_IDS, "scenario": "financing",
                    "inputs": {"annual_revenue": 3_000_000_000, "royalty_rate_bps": 350, "growth_bps": 800,
                               "discount_rate_bps": 1200, "tax_rate_bps": 1500, "remaining_life_years": 12}},
    "CertifyIn": {"valid_days": 365},
    "ApplicationIn": {"asset_ids": ASSET_IDS, "amount": 500_000_000, "term_months": 12,
                      "purpose": "working_capital", "repayment_method": "equal_installment"},
    "LoanOfferIn": {"amount": 450_000_000, "annual_rate_bps": 385, "term_months": 12,
                    "repayment_method": "equal_installment", "requires_guarantee": True,
                    "expires_on": "2026-03-31"},
    "InvitationIn": {"org_id": "org_01HZX3GUAR1", "kind": "guarantee"},
    "GuaranteeIn": {"share_bps": 3000, "fee_rate_bps": 100},
    "InsuranceIn": {"share_bps": 1000, "premium": 2_250_000},
    "FundCoverIn": {"program_id": "fpr_01HZX3P4"},
    "PledgeRegistrationIn": {"registration_no": "晋专质登字2026第0142号", "registered_on": "2026-03-05"},
    "RepaymentIn": {"amount": 38_350_000},
    "DisposalIn": {"reserve_price": 200_000_000, "start_price": 150_000_000, "min_increment": 5_000_000,
                   "ends_on": "2026-09-30"},
    "ProgramIn": {"name": "山西省知识产权质押融资风险补偿基金（2026）", "capital": 10_000_000_000,
                  "shares_bps": {"fund": 4000, "guarantor": 3000, "insurer": 1000},
                  "tiers": [{"max_principal": 500_000_000, "fund_bps": 5000}], "leverage_max": 10,
                  "npl_pause_bps": 500, "per_loan_cap": 1_000_000_000, "default_days": 90,
                  "min_ip_share_bps": 5000},
    "RulesIn": {"shares_bps": {"fund": 5000, "guarantor": 2000, "insurer": 1000}, "leverage_max": 8,
                "npl_pause_bps": 400, "default_days": 90, "min_ip_share_bps": 5000},
    "AgreementIn": {"bank_org_id": "org_01HZX3BANK1", "deposit": 1_000_000_000, "leverage": 10},
    "CapitalIn": {"amount": 2_000_000_000},
    "StressIn": {"scenarios": 10_000, "seed": 20260302, "pd_bps": 300, "lgd_bps": 6000, "correlation_bps": 1500},
    "ManualEntryIn": {"description": "基金管理费计提（2026年3月）", "effective_date": "2026-03-31",
                      "lines": [{"account": "fund:fpr_01HZX3P4:expenses", "side": "debit", "amount": 1_500_000},
                                {"account": "fund:fpr_01HZX3P4:cash", "side": "credit", "amount": 1_500_000}]},
    "ReverseIn": {"reason": "分录金额录入错误，冲正后重新入账。"},
    "PayoutIn": {"payee_org_id": "org_01HZX3BANK1", "amount": 150_000_000, "purpose": "compensation",
                 "object_type": "compensation_claim", "object_id": "ccl_01HZX3Q7",
                 "reference": "ccl_01HZX3Q7-fund", "description": "风险补偿基金代偿款"},
    "LprIn": {"effective_on": "2026-02-20", "one_year_bps": 300, "five_year_bps": 350},
    "PolicyIn": {"name": "2026年知识产权质押贷款贴息", "kind": "interest", "rate_bps": 5000,
                 "basis": "interest_paid", "cap_per_org_year": 30_000_000, "budget": 2_000_000_000,
                 "conditions": {"repaid_on_time": True, "pledge_registered": True,
                                "max_rate_lpr_multiple_bps": 14000}},
    "ClaimIn": {"policy_id": "spo_01HZX3R2", "loan_id": "loan_01HZX3S5"},
    "RejectIn": {"reason": "贷款未按期还款，不符合贴息条件。"},
    "ClaimRejectIn": {"reason": "贷后管理未按合作协议执行，不予代偿。"},
    "WhitelistIn": {"name": "2026年度知识产权质押融资推荐企业白名单", "year": 2026,
                    "org_ids": ["org_01HZX3A1", "org_01HZX3B2"]},
    "AccountDecisionIn": {"reason": "放款金额与审批额度一致，复核通过。"},
    "ControlsIn": {"provision_rates_bps": {"normal": 100, "special_mention": 300, "substandard": 2500,
                                           "doubtful": 5000, "loss": 10000}, "auto_close_periods": True},
    "RecoveryIn": {"amount": 35_000_000, "source_ref": "court:2026-jin01-zhi-123"},
    "ChargeIn": {"kind": "appraisal_fee", "amount": 1_200_000, "due_on": "2026-04-02",
                 "description": "质押专利价值评估费（贷款合同第八条约定）"},
    "WaiveIn": {"reason": "首贷户优惠，评估费全额减免。"},
    "ConsentIn": {"loan_id": "loan_01HZX3S5", "action": "license", "proceeds": "prepay",
                  "asset_ids": ASSET_IDS[:1], "note": "拟非独占许可给下游电池厂，许可费用于提前还款。"},
    "ServicingDecisionIn": {"note": "许可费须直接划入我行还款账户。"},
    "RestructureIn": {"kind": "extension", "term_months": 18, "effective_on": "2026-05-12",
                      "reason": "原材料涨价导致现金流紧张，展期六个月。", "borrower_in_difficulty": True},
    "RevaluationIn": {"valuation_id": "val_01HZX2R8", "margin_bps": 1000},
    "CollateralIn": {"asset_ids": ASSET_IDS[1:2], "valuation_id": "val_01HZX4T2"},
    "ReleaseIn": {"asset_ids": ASSET_IDS[:1], "substitute_asset_ids": ASSET_IDS[1:2], "valuation_id": "val_01HZX4T2"},
}

# The 元 figures of the money in each example, for the request body's description.
MONEY_NOTES: dict[str, str] = {
    "ListingIn": "price 50,000,000 fen = ¥500,000.00; minimum_annual ¥50,000.00",
    "ListingOfferIn": "amount 45,000,000 fen = ¥450,000.00",
    "AuctionIn": "start ¥800,000.00, reserve ¥1,200,000.00, increment ¥20,000.00",
    "BidIn": "amount 82,000,000 fen = ¥820,000.00",
    "RelistIn": "reserve ¥900,000.00, start ¥600,000.00",
    "RoyaltyReportIn": "net sales 860,000,000 fen = ¥8,600,000.00",
    "ValuationIn": "annual revenue 3,000,000,000 fen = ¥30,000,000.00",
    "ApplicationIn": "amount 500,000,000 fen = ¥5,000,000.00",
    "LoanOfferIn": "amount 450,000,000 fen = ¥4,500,000.00 at 3.85%",
    "InsuranceIn": "premium 2,250,000 fen = ¥22,500.00",
    "RepaymentIn": "amount 38,350,000 fen = ¥383,500.00",
    "DisposalIn": "reserve ¥2,000,000.00, start ¥1,500,000.00",
    "ProgramIn": "capital 10,000,000,000 fen = ¥100,000,000.00; per-loan cap ¥10,000,000.00",
    "AgreementIn": "deposit 1,000,000,000 fen = ¥10,000,000.00, quota ¥100,000,000.00",
    "CapitalIn": "amount 2,000,000,000 fen = ¥20,000,000.00",
    "ManualEntryIn": "1,500,000 fen = ¥15,000.00 each side",
    "PayoutIn": "amount 150,000,000 fen = ¥1,500,000.00",
    "PolicyIn": "budget 2,000,000,000 fen = ¥20,000,000.00; cap per firm and year ¥300,000.00",
    "OrgPatch": "R&D spending 1,250,000,000 fen = ¥12,500,000.00",
    "RecoveryIn": "amount 35,000,000 fen = ¥350,000.00",
    "ChargeIn": "amount 1,200,000 fen = ¥12,000.00",
}

# Request schemas still waiting for their example (the test lets only these through; any other schema
# without one fails). Empty: every request body has its example; a new schema adds one when it lands.
PENDING: frozenset[str] = frozenset()
