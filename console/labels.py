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
    # form notation
    "bad_yuan": ("请输入以元为单位的金额，最多两位小数，如 1,000,000.00", "Enter an amount in yuan with at most two decimals, e.g. 1,000,000.00"),
    "bad_percent": ("请输入百分比，最多两位小数，如 4.35", "Enter a percentage with at most two decimals, e.g. 4.35"),
    "yuan_unit": ("元", "yuan"), "percent_unit": ("%", "%"),
    # loan applications and offers
    "applications": ("贷款申请", "Loan applications"), "apply": ("申请质押贷款", "Apply for a pledge loan"),
    "application": ("贷款申请", "Loan application"), "pledged_assets": ("质押资产", "Assets pledged"),
    "amount": ("金额", "Amount"), "amount_yuan": ("金额（元）", "Amount (yuan)"),
    "term_months": ("期限（月）", "Term (months)"), "purpose": ("用途", "Purpose"),
    "repayment_method": ("还款方式", "Repayment method"), "applicant": ("申请人", "Applicant"),
    "method_equal_installment": ("等额本息", "Equal instalments"), "method_equal_principal": ("等额本金", "Equal principal"),
    "method_interest_only": ("按月付息、到期还本", "Interest only, principal at maturity"),
    "submitted_on": ("提交日", "Submitted"), "valuation": ("评估", "Valuation"),
    "value": ("评估值", "Value"), "value_range": ("评估区间", "Range"), "borrowing_base": ("可贷额度", "Borrowing base"),
    "certified_by": ("认证机构", "Certified by"), "no_valuation": ("未附评估", "No valuation attached"),
    "offers": ("银行报价", "Bank offers"), "offers_compare": ("报价对比", "Offers side by side"),
    "no_offers": ("尚无银行报价", "No bank has offered yet"), "bank": ("银行", "Bank"),
    "annual_rate": ("年利率", "Annual rate"), "annual_rate_pct": ("年利率（%）", "Annual rate (%)"),
    "total_interest": ("利息合计", "Total interest"), "guarantee_needed": ("需要担保", "Guarantee needed"),
    "yes": ("是", "Yes"), "no": ("否", "No"), "expires_on": ("报价有效期至", "Offer valid until"),
    "accept_offer": ("接受此报价", "Accept this offer"), "make_offer": ("提出报价", "Make an offer"),
    "offer_made": ("报价已提交", "The offer is made"), "application_submitted": ("贷款申请已提交", "The application is submitted"),
    "requires_guarantee": ("要求担保", "Requires a guarantee"), "choose_assets": ("选择要质押的资产", "Choose the assets to pledge"),
    "no_assets_to_pledge": ("您还没有可质押的知识产权，请先登记", "You have no assets to pledge yet; register one first"),
    "my_offer": ("我方报价", "Our offer"),
    # loans
    "loans": ("贷款", "Loans"), "loan": ("贷款", "Loan"), "borrower": ("借款人", "Borrower"),
    "principal": ("本金", "Principal"), "outstanding": ("未还本金", "Outstanding principal"),
    "classification": ("五级分类", "Classification"), "days_past_due": ("逾期天数", "Days past due"),
    "next_due": ("下期应还", "Next due"), "maturity_on": ("到期日", "Maturity"),
    "disbursed_on": ("放款日", "Disbursed"), "schedule": ("还款计划", "Repayment schedule"),
    "n": ("期次", "No."), "payment": ("应还", "Payment"), "interest": ("利息", "Interest"),
    "paid": ("已还", "Paid"), "balance_after": ("剩余本金", "Balance after"), "paid_on": ("还款日", "Paid on"),
    "repay": ("还款", "Repay"), "repay_amount": ("还款金额（元）", "Amount to repay (yuan)"),
    "repaid_notice": ("还款已入账", "The repayment is recorded"), "overdue_amount": ("逾期金额", "Overdue"),
    "payoff_amount": ("提前结清金额", "Payoff amount"), "history": ("历史记录", "History"),
    "collateral": ("押品", "Collateral"), "alerts": ("押品预警", "Collateral alerts"),
    "security_value": ("押品价值", "Security value"), "shortfall": ("缺口", "Shortfall"),
    "filter": ("筛选", "Filter"), "all": ("全部", "All"), "pledge": ("质押登记", "Pledge registration"),
    "registration_no": ("质押登记号", "Registration number"), "registered_on": ("登记日", "Registered on"),
    "register_pledge": ("登记质押", "Register the pledge"), "disburse": ("放款", "Disburse"),
    "declare_default": ("宣告违约", "Declare default"), "claim_compensation": ("申请代偿", "Claim compensation"),
    "start_disposal": ("启动处置拍卖", "Start the disposal auction"), "write_off": ("核销", "Write off"),
    "done_notice": ("操作已完成", "Done"), "when": ("时间", "When"), "event": ("事件", "Event"),
    "ask_fund_cover": ("申请基金增信", "Ask the fund to cover the loan"),
    "approval_pending": ("已提交，待另一位复核人批准", "Submitted: a second person must approve it"),
    "next_actions_none": ("此状态下没有后续步骤", "Nothing comes next from this status"),
    "loan_terms": ("贷款条件", "Terms"), "parties": ("参与方", "Parties"),
    "guarantor": ("担保机构", "Guarantor"), "insurer": ("保险机构", "Insurer"), "fund_cover": ("基金增信", "Fund cover"),
    # claims and approvals
    "claims": ("代偿申请", "Compensation claims"), "claim": ("代偿申请", "Compensation claim"),
    "loss": ("损失", "Loss"), "fund_amount": ("基金代偿", "Fund pays"), "shares": ("损失分担", "Loss shares"),
    "party": ("分担方", "Party"), "opened_on": ("申请日", "Opened"), "paid_on_claim": ("代偿日", "Paid on"),
    "approve_claim": ("批准代偿", "Approve the claim"), "reject_claim": ("拒绝代偿", "Reject the claim"), "party_fund": ("风险补偿基金", "Fund"),
    "party_bank": ("银行", "Bank"), "party_guarantor": ("担保机构", "Guarantor"), "party_insurer": ("保险机构", "Insurer"),
    "party_borrower": ("借款人", "Borrower"), "programme": ("基金项目", "Programme"),
    "approval": ("复核请求", "Approval request"), "maker": ("经办人", "Requested by"),
    "approve": ("批准", "Approve"), "reject": ("拒绝", "Reject"), "reason": ("理由", "Reason"),
    "action": ("操作", "Action"), "expires": ("有效期至", "Expires"),
    # fund dashboard
    "fund_dashboard": ("风险补偿基金看板", "Risk fund dashboard"), "programmes": ("基金项目", "Programmes"),
    "capital": ("资本金", "Capital"), "cash": ("现金", "Cash"), "committed_exposure": ("承诺敞口", "Committed exposure"),
    "covered_outstanding": ("在保贷款余额", "Covered outstanding"), "deposits": ("合作保证金", "Deposits"),
    "leverage_used": ("已用放大倍数", "Leverage used"), "npl_ratio": ("不良率", "NPL ratio"),
    "paused": ("已暂停", "Paused"), "quota": ("额度", "Quota"), "quota_use": ("额度使用率", "Quota used"),
    "compensation_rate": ("代偿率", "Compensation rate"), "recovery_rate": ("追偿率", "Recovery rate"),
    "compensation_paid": ("已代偿", "Compensation paid"), "recovered": ("已追偿", "Recovered"),
    "provisions": ("拨备（应提/已提）", "Provisions (required / held)"),
    "by_bank": ("按银行", "By bank"), "by_guarantor": ("按担保机构", "By guarantor"),
    "by_industry": ("按行业", "By industry"), "by_region": ("按地区", "By region"),
    "fund_exposure": ("基金敞口", "Fund exposure"), "loans_count": ("贷款笔数", "Loans"),
    "download": ("下载", "Download"), "chart": ("图表", "Chart"), "as_of": ("截至", "As of"),
    # statistics
    "stats": ("统计", "Statistics"), "stats_pledge": ("知识产权质押融资", "IP pledge financing"),
    "stats_transactions": ("许可与转让", "Licenses and transfers"),
    "stats_high_value": ("每万人高价值发明专利", "High-value invention patents per 10,000 people"),
    "group_by": ("分组", "Group by"), "group_month": ("按月", "By month"), "group_region": ("按地区", "By region"),
    "group_industry": ("按行业", "By industry"), "group_bank": ("按银行", "By bank"),
    "from": ("起始日", "From"), "to": ("截止日", "To"), "show": ("查询", "Show"), "totals": ("合计", "Totals"),
    # guarantor and insurer
    "share_pct": ("分担比例（%）", "Loss share (%)"), "fee_rate_pct": ("担保费率（%）", "Guarantee fee rate (%)"),
    "premium_yuan": ("保费（元）", "Premium (yuan)"), "join_guarantee": ("提供担保", "Guarantee the loan"),
    "join_insurance": ("承保", "Insure the loan"),
    # subsidies
    "policies": ("补贴政策", "Subsidy policies"), "budget": ("预算", "Budget"), "budget_remaining": ("预算余额", "Budget left"),
    "file_subsidy": ("申请补贴", "Claim a subsidy"), "subsidy_claims": ("补贴申请", "Subsidy claims"),
    # technology needs
    "post_need": ("发布技术需求", "Post a technology need"), "need_description": ("需求描述", "Description"),
    "matches": ("匹配的专利", "Matched patents"), "score": ("匹配度", "Score"), "reasons": ("匹配理由", "Reasons"),
    # market
    "my_listings": ("我的挂牌", "My listings"), "mode": ("方式", "Mode"), "price": ("价格", "Price"),
    "market_offers": ("收到和发出的报价", "Offers made and received"), "buyer": ("买方", "Buyer"),
    "seller": ("卖方", "Seller"), "offer_accept": ("接受", "Accept"), "offer_reject": ("拒绝", "Reject"),
    "offer_withdraw": ("撤回", "Withdraw"), "deals": ("我的交易", "My deals"), "contract_no": ("合同编号", "Contract"),
    "pay_deal": ("支付", "Pay"),
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
    "kind_geographical_indication": ("地理标志", "Geographical indication"),
    # geographical indications
    "gi_form": ("地理标志保护形式", "GI form"), "gi_form_none": ("（非地理标志）", "(not a GI)"),
    "gi_form_collective_mark": ("集体商标", "Collective mark"),
    "gi_form_certification_mark": ("证明商标", "Certification mark"),
    "gi_form_gi_product": ("地理标志产品", "GI product"), "product": ("产品", "Product"),
    "region": ("产地（行政区划代码）", "Region of origin (division code)"),
    "region_hint": ("6 位代码，如 140800（运城市）；仅该地区内的生产者可获许可",
                    "6 digits, e.g. 140800; licensed only to producers in the region"),
    "registrant": ("注册人", "Registrant"), "nice_classes": ("尼斯分类", "Nice classes"),
    # the white list
    "whitelisted": ("白名单", "White-listed"),
    "whitelisted_hint": ("申请人在监管部门发布的推荐白名单上", "The applicant is on the regulator's white list"),
    # fund ledger, stress, regulator, imports (consolea)
    "nav_ledger": ("基金账簿", "Fund ledger"), "nav_fund_risk": ("拨备与压力测试", "Provisions and stress"),
    "nav_indicators": ("发展指标", "Indicators"), "nav_whitelists": ("白名单", "White lists"),
    "nav_imports": ("批量导入", "Imports"),
    "ledger": ("基金账簿", "Fund ledger"), "ledger_entries": ("记账凭证", "Journal entries"),
    "ledger_balances": ("科目余额", "Account balances"), "ledger_as_of": ("截至日期（空为最新）", "As of (blank: now)"),
    "ledger_account": ("科目", "Account"), "ledger_debits": ("借方", "Debits"), "ledger_credits": ("贷方", "Credits"),
    "ledger_balance": ("余额", "Balance"), "ledger_kind": ("凭证类型", "Entry kind"),
    "ledger_seq": ("序号", "No."), "ledger_effective": ("记账日", "Effective"),
    "ledger_description": ("摘要", "Description"), "ledger_postings": ("分录", "Postings"),
    "ledger_debit": ("借", "Dr"), "ledger_credit": ("贷", "Cr"),
    "ledger_next_page": ("下一页", "Next page"), "ledger_first_page": ("第一页", "First page"),
    "ledger_verify": ("核验账簿", "Verify the books"), "ledger_verify_result": ("账簿核验结果", "Verification of the books"),
    "ledger_verified": ("核验通过：借贷平衡，余额与分录一致，哈希链完整",
                        "Verified: debits equal credits, balances match their postings, the chain is intact"),
    "ledger_not_verified": ("核验未通过，问题如下", "Not verified: the problems are listed below"),
    "ledger_balanced": ("借贷平衡", "Balanced"), "ledger_chain": ("哈希链完整", "Chain intact"),
    "ledger_entries_checked": ("已核验凭证", "Entries checked"), "ledger_accounts_checked": ("已核验科目", "Accounts checked"),
    "ledger_pending": ("待定借方 / 贷方", "Pending debits / credits"),
    "ledger_periods": ("已结账期间", "Closed periods"), "ledger_trial_balance": ("试算平衡表", "Trial balance"),
    "ledger_closed_at": ("结账时间", "Closed at"), "ledger_opening": ("期初", "Opening"), "ledger_closing": ("期末", "Closing"),
    "ledger_no_periods": ("尚无已结账的月份", "No month has been closed yet"),
    "fund_risk": ("拨备、考核与压力测试", "Provisions, scorecards and stress test"),
    "provisions_as_of": ("拨备截至日期（空为实时）", "Provisions as of (blank: live)"),
    "scorecard_year": ("考核年度", "Scorecard year"), "provisions_by_class": ("按五级分类的拨备", "Provisions by classification"),
    "provision_rate": ("计提比例", "Rate"), "provision": ("应提拨备", "Provision"),
    "provision_total": ("应提合计", "Required in total"), "provision_allowance": ("账簿已提", "Held in the ledger"),
    "scorecards": ("合作机构年度考核", "Partner scorecards"),
    "stress_test": ("压力测试", "Stress test"), "stress_run": ("运行压力测试", "Run the stress test"),
    "stress_scenarios": ("情景数", "Scenarios"), "stress_scenarios_hint": ("100 至 100,000", "100 to 100,000"),
    "stress_scenarios_unit": ("个情景", "scenarios"), "stress_seed": ("随机种子", "Seed"),
    "stress_seed_hint": ("同一种子得到同一结果", "The same seed gives the same result"),
    "stress_pd": ("违约概率（%）", "Probability of default (%)"), "stress_lgd": ("违约损失率（%）", "Loss given default (%)"),
    "stress_correlation": ("资产相关性（%）", "Asset correlation (%)"), "stress_loans": ("在保贷款", "Covered loans"),
    "stress_ead": ("违约风险敞口", "Exposure at default"), "stress_expected_loss": ("基金预期损失", "Fund expected loss"),
    "stress_var": ("基金 99% 在险价值", "Fund VaR 99%"), "stress_portfolio_el": ("组合预期损失", "Portfolio expected loss"),
    "stress_analytic": ("解析值", "analytic"), "stress_portfolio_var": ("组合 99% 在险价值", "Portfolio VaR 99%"),
    "stress_es": ("组合 99% 预期短缺", "Portfolio expected shortfall 99%"),
    "stress_depletion": ("基金现金耗尽概率", "Probability the fund's cash runs out"),
    "stress_distribution": ("组合损失分布（分位数）", "Portfolio loss distribution (percentiles)"),
    "stress_percentile": ("分位数", "Percentile"), "stress_portfolio_loss": ("组合损失", "Portfolio loss"),
    "class_normal": ("正常", "Normal"), "class_special_mention": ("关注", "Special mention"),
    "class_substandard": ("次级", "Substandard"), "class_doubtful": ("可疑", "Doubtful"), "class_loss": ("损失", "Loss"),
    "stress_no_loans": ("该项目暂无在保贷款，损失为零", "The programme covers no loan yet: no loss to draw"),
    "indicators": ("试点园区知识产权发展指标", "Pilot zone IP indicators"), "indicators_year": ("年度", "Year"),
    "indicator": ("指标", "Indicator"), "indicator_unit": ("单位", "Unit"), "indicator_figure": ("实际", "Figure"),
    "indicator_baseline": ("基期", "Baseline"), "indicator_target": ("目标", "Target"),
    "indicator_met": ("是否达标", "Target met"), "indicator_met_yes": ("已达标", "Met"), "indicator_met_no": ("未达标", "Not met"),
    "indicators_chart": ("指标实际值与目标对比", "Figures against their targets"),
    "whitelists": ("推荐白名单", "White lists"), "whitelist_year": ("年度", "Year"), "whitelist_firms": ("企业数", "Firms"),
    "whitelist_published_on": ("发布日", "Published"), "whitelist_publish": ("发布白名单", "Publish a white list"),
    "whitelist_publish_hint": ("只有已同意纳入白名单的企业可以发布；各企业的知识产权指标在发布时计算",
                               "Only firms that have consented may be listed; each firm's IP indicators are computed when published"),
    "whitelist_name": ("白名单名称", "White list name"), "whitelist_choose": ("选择企业", "Choose the firms"),
    "whitelist_published": ("白名单已发布", "The white list is published"),
    "wl_invention_patents": ("有效发明专利", "Invention patents"), "wl_high_value": ("高价值发明专利", "High-value patents"),
    "wl_ip_index": ("企业知识产权指数", "Enterprise IP index"), "wl_valuation": ("认证评估值", "Certified valuations"),
    "wl_repaid_on_time": ("按时还清 / 还清贷款", "Repaid on time / repaid"), "wl_overdue": ("逾期贷款", "Overdue loans"),
    "subsidy_claim": ("补贴申请", "Subsidy claim"), "subsidy_items": ("申报事项与审核结论", "Items claimed and their verdicts"),
    "subsidy_item": ("事项", "Item"), "subsidy_verdict": ("结论", "Verdict"), "subsidy_bonus": ("额外奖励", "Bonus"),
    "subsidy_evidence": ("证明材料", "Evidence"), "subsidy_decide": ("审核决定", "Decision"),
    "subsidy_reject_reason": ("拒绝理由（拒绝时必填）", "Reason (required to reject)"),
    "verdict_qualifies": ("符合条件", "Qualifies"), "verdict_not_found": ("未找到", "Not found"),
    "verdict_not_claimants": ("非申请人所有", "Not the claimant's"), "verdict_not_qualifying": ("不符合条件", "Does not qualify"),
    "imports": ("批量导入", "Imports"), "import": ("导入任务", "Import"), "import_upload": ("上传导入文件", "Upload a file to import"),
    "import_file": ("文件（CSV 或 XLSX）", "File (CSV or XLSX)"),
    "import_file_hint": ("第一行为表头；CSV 可用 UTF-8 或 GB18030 编码", "The first row holds the headers; CSV in UTF-8 or GB18030"),
    "import_choose_file": ("请选择要上传的文件", "Choose a file to upload"),
    "import_kind": ("导入内容", "Contents"), "import_kind_assets": ("知识产权", "IP assets"), "import_kind_loans": ("贷款台账", "Loan book"),
    "import_progress": ("进度", "Progress"), "import_imported": ("已导入", "Imported"), "import_duplicates": ("重复", "Duplicates"),
    "import_rejected": ("被拒行数", "Rows refused"), "import_row_errors": ("被拒的行", "Rows refused"),
    "import_refreshing": ("正在处理，本页每 2 秒自动刷新", "Working: this page refreshes itself every 2 seconds"),
    "import_more_errors": ("另有被拒行未显示，请下载完整清单", "More refused rows are in the full file"),
    "verdict_already_rewarded": ("已奖励过", "Already rewarded"), "verdict_incomplete_award": ("奖项信息不完整", "Award incomplete"),
    # listings, loan book, guarantors and insurers (consoleb)
    "nav_listings": ("挂牌", "Listings"), "listings": ("知识产权挂牌", "IP listings"), "listing": ("挂牌", "Listing"),
    "browse_and_list": ("浏览挂牌或挂牌出售", "Browse listings or list an asset"),
    "search_words": ("关键词", "Search words"), "mine": ("我方", "Ours"), "listed_on": ("挂牌日", "Listed on"),
    "mode_assignment": ("转让", "Assignment"), "mode_exclusive_license": ("独占许可", "Exclusive license"),
    "mode_sole_license": ("排他许可", "Sole license"), "mode_nonexclusive_license": ("普通许可", "Non-exclusive license"),
    "list_for_sale": ("挂牌出售或许可", "List for sale or license"),
    "choose_assets_to_list": ("选择要挂牌的知识产权", "Choose the assets to list"),
    "no_assets_to_list": ("您还没有可挂牌的知识产权，请先登记", "You have no assets to list yet; register one first"),
    "price_yuan": ("挂牌价格（元）", "Asking price (yuan)"), "listing_title": ("挂牌名称", "Listing title"),
    "listing_title_hint": ("留空则用知识产权名称", "Left blank, the asset's title is used"),
    "listing_description": ("说明", "Description"), "license_term_months": ("许可期限（月）", "License term (months)"),
    "royalty_pct": ("提成费率（%）", "Running royalty (%)"), "license_only": ("仅许可方式填写", "Licenses only"),
    "listing_mode": ("挂牌方式", "Listing mode"), "listed_assets": ("挂牌的知识产权", "Assets listed"), "withdraw_listing": ("撤回挂牌", "Withdraw the listing"),
    "offers_on_listing": ("收到的报价", "Offers received"), "my_market_offers": ("我方报价", "Our offers"),
    "message": ("留言", "Message"), "deal": ("交易", "Deal"), "make_market_offer": ("提出购买报价", "Make an offer"),
    "offer_amount_yuan": ("报价金额（元）", "Offer amount (yuan)"), "listing_created": ("已挂牌", "The asset is listed"),
    "market_offer_made": ("报价已发出", "The offer is sent"),
    "loan_book": ("贷款台账", "Loan book"), "overdue_only": ("仅看逾期", "Overdue only"),
    "loans_shown": ("笔贷款，未还本金合计", "loans, outstanding principal in total"),
    "invitations_sent": ("担保与保险邀请", "Guarantee and insurance invitations"),
    "invite_cover": ("邀请担保或保险机构", "Invite a guarantor or insurer"), "invitee": ("受邀机构", "Invited organisation"),
    "cover_kind": ("方式", "Cover"), "cover_guarantee": ("担保", "Guarantee"), "cover_insurance": ("保险", "Insurance"),
    "invite": ("发出邀请", "Send the invitation"), "invited_notice": ("邀请已发出", "The invitation is sent"),
    "nav_cover": ("我的承保", "My cover"), "cover": ("担保与承保", "Guarantees and insurance"),
    "invitations": ("待答复的邀请", "Invitations to answer"), "answer": ("答复", "Answer"),
    "loans_covered": ("我方担保或承保的贷款", "Loans we cover"), "claims_sharing": ("我方分担损失的代偿", "Claims where we bear a share"),
    "our_share": ("我方分担", "Our share"), "fee": ("担保费", "Fee"), "premium": ("保费", "Premium"),
    "joined_on": ("加入日", "Joined"),
    # a loan's repayments
    "repayments": ("还款记录", "Repayments"), "penalty": ("罚息", "Penalty interest"),
    "charges_paid": ("费用", "Charges"), "prepaid_principal": ("提前还本", "Prepaid principal"),
    "source_borrower": ("借款人还款", "By the borrower"), "source_deal": ("处置/交易价款", "Deal proceeds"),
    "source_import": ("导入", "Imported"),
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
