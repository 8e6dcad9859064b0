"""The appraisal report of a certified valuation, as a PDF (评估报告): values, method values and weights,
the scores, each asset's share, the inputs, and the evaluator who certified it."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from kernel import pdf
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.errors import InvalidState
from market.assets.models import Asset
from market.numbers import display_number
from valuation.models import ValuationAsset
from valuation.service import get_valuation

METHODS = {"income": "收益法", "market": "市场法", "cost": "成本法"}
SCENARIOS = {"financing": "质押融资", "transfer": "转让交易"}
KIND_NAMES = {"invention_patent": "发明专利", "utility_model": "实用新型", "design_patent": "外观设计",
              "trademark": "商标", "copyright": "著作权", "software_copyright": "软件著作权",
              "trade_secret": "商业秘密", "plant_variety": "植物新品种", "geographical_indication": "地理标志"}


def _input_text(value: Any) -> str:
    if isinstance(value, dict):
        return "；".join(f"{k}: {_input_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "、".join(_input_text(v) for v in value)
    return str(value)


async def appraisal_report(session: AsyncSession, actor: Actor, valuation_id: str) -> pdf.Document:
    v = await get_valuation(session, actor, valuation_id)
    if v.certified_by is None:
        raise InvalidState(f"valuation {v.id} is {v.status}; only a certified valuation has an appraisal report")
    evaluator = await session.get(Org, v.certified_by)
    requester = await session.get(Org, v.requested_by_org_id)
    shares = (await session.exec(select(ValuationAsset).where(ValuationAsset.valuation_id == v.id)
                                 .order_by(col(ValuationAsset.position)))).all()
    assets = {a.id: a for a in (await session.exec(select(Asset).where(col(Asset.id).in_(v.asset_ids)))).all()}
    doc = pdf.Document(title="知识产权资产评估报告", subtitle=f"报告编号 {v.id}",
                       generated_on=await business_date(session))
    doc.heading("一、评估结论").pairs([
        ("评估目的", SCENARIOS.get(v.scenario, v.scenario)), ("评估基准日", v.valuation_date.isoformat()),
        ("评估值（元）", pdf.yuan(v.value)), ("评估区间（元）", f"{pdf.yuan(v.low)} – {pdf.yuan(v.high)}"),
        ("可融资额度（元）", pdf.yuan(v.borrowing_base)), ("状态", v.status),
        ("委托方", requester.name if requester else v.requested_by_org_id),
        ("评估机构", evaluator.name if evaluator else v.certified_by),
        ("认证日期", v.certified_on.isoformat() if v.certified_on else ""),
        ("有效期至", v.valid_until.isoformat() if v.valid_until else ""),
    ])
    methods = [[METHODS[m], pdf.yuan(getattr(v, f"{m}_value")), pdf.bps(v.approach_weights.get(m)),
                v.approach_notes.get(m, "")] for m in METHODS]
    doc.heading("二、评估方法").table(["方法", "方法评估值（元）", "权重", "说明"], methods, widths=(20, 30, 15, 60))
    doc.heading("三、价值度评分").pairs([("法律价值度", v.score_legal), ("技术价值度", v.score_technical),
                                  ("经济价值度", v.score_economic), ("综合评分", v.score_total)])
    rows = []
    for s in shares:
        a = assets.get(s.asset_id)
        rows.append([display_number(a.kind, a.number) if a else s.asset_id, a.title if a else "",
                     KIND_NAMES.get(s.kind, s.kind), pdf.yuan(s.value), pdf.bps(s.ltv_bps), pdf.yuan(s.borrowing_base)])
    doc.heading("四、评估对象").table(["编号", "名称", "类型", "评估值（元）", "质押率", "可融资额度（元）"], rows,
                                widths=(32, 48, 18, 26, 14, 26))
    doc.heading("五、评估参数").pairs([(k, _input_text(val)) for k, val in sorted(v.inputs.items())] or
                                  [("参数", "（无）")])
    if v.defaults_applied:
        doc.paragraph("采用默认值的参数：" + "、".join(v.defaults_applied))
    if v.market_note:
        doc.paragraph(f"市场法说明：{v.market_note}")
    doc.paragraph(f"本报告由 {evaluator.name if evaluator else v.certified_by} 认证，平台据评估记录生成；"
                  "评估记录一经生成不再修改。")
    return doc
