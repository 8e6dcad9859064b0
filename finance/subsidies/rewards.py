"""The province's IP rewards beyond loans (002_… §2–4, §13): a fixed amount per qualifying item, every item
checked against the registry's facts.

A claim names its items (assets). Each gets a verdict: it exists, is the claimant's, qualifies under the
kind's rule, has not been rewarded before (under any policy of the kind). Only qualifying items are paid,
and each is reserved by a ``SubsidyRewardItem`` whose unique ``reward_key`` stops a second reward while
the claim is live. The firm-level kinds (贯标 certification, the high-value patent portfolio) name no
items: the firm itself is the one item, checked against its profile and its patents in the registry.

The seeds' numbers are the defaults (``DEFAULTS``). Worked: a firm granted 12 high-value invention
patents in the year that claims them all is paid 12 × ¥5,000 + (12 − 10) × ¥3,000 = ¥66,000; the ¥3,000
bonus goes to the firm's 11th and later patents of the year in grant order, at most ¥300,000 a firm-year
(so the 110th is the last to carry it). Two new Madrid applications each extending to 10 or more countries
earn one ¥30,000 award, split ¥15,000 per application; a third one waits for its pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.subsidies.assessment import Assessment, _counted, yuan
from finance.subsidies.models import SubsidyClaim, SubsidyPolicy, SubsidyRewardItem
from kernel.money import split_largest_remainder
from market.assets.models import Asset
from market.assets.service import high_value
from market.numbers import GI_MARK_FORMS

YUAN = 100
DEFAULTS: dict[str, tuple[int, dict[str, int]]] = {  # kind: (amount per item, terms), 002_… §2–4, §13
    "high_value_patent": (5_000 * YUAN, {"bonus_threshold": 10, "bonus_per_item": 3_000 * YUAN,
                                         "bonus_cap": 300_000 * YUAN}),
    "foreign_patent": (20_000 * YUAN, {}),
    "gi_mark": (30_000 * YUAN, {}),
    "madrid_mark": (30_000 * YUAN, {"items_per_award": 2, "min_countries": 10}),
    "ip_management_certification": (200_000 * YUAN, {}),
    "patent_portfolio": (1_000_000 * YUAN, {"min_invention_patents": 50, "min_pct_applications": 10,
                                            "max_awards": 10}),
}
FIRM_LEVEL = ("ip_management_certification", "patent_portfolio")
CLAIMANT_KINDS = ("sme", "university")
COUNTED = ("approved", "paid")
NOT_ABROAD = ("CN", "WO")  # WO is a PCT application, not a grant abroad


def reward_key(kind: str, subject: str, period: int) -> str:
    """Once ever per item; the portfolio award once per firm and year."""
    return f"{kind}:{subject}:{period}" if kind == "patent_portfolio" else f"{kind}:{subject}"


def _why_not(policy: SubsidyPolicy, asset: Asset, today: date) -> list[str]:
    """Every reason the asset does not qualify under the policy's kind (none: it qualifies)."""
    kind, year, terms, reasons = policy.kind, policy.period, policy.terms, []
    if asset.status != "valid":
        reasons.append(f"the right is {asset.status}, not in force")
    if kind in ("high_value_patent", "foreign_patent"):
        if asset.kind != "invention_patent":
            return [*reasons, f"a {asset.kind} is not an invention patent"]
        if kind == "high_value_patent":
            if asset.grant_date is None or asset.grant_date.year != year:
                reasons.append(f"granted {asset.grant_date or 'not yet'}, not in {year}")
            if not high_value(asset, today):
                reasons.append("it meets none of the five high-value criteria")
        elif not [c for c in asset.family_countries if c not in NOT_ABROAD]:
            reasons.append("no member of its family is granted abroad")
    elif kind == "gi_mark":
        if asset.kind != "geographical_indication" or asset.gi_form not in GI_MARK_FORMS:
            return [*reasons, "it is not a geographical-indication collective or certification mark"]
        if asset.grant_date is None or asset.grant_date.year != year:
            reasons.append(f"registered {asset.grant_date or 'not yet'}, not newly in {year}")
    elif kind == "madrid_mark":
        if asset.kind != "trademark":
            return [*reasons, f"a {asset.kind} is not a trademark"]
        countries = {c for c in asset.family_countries if c != "CN"}
        if len(countries) < terms["min_countries"]:
            reasons.append(f"it extends to {len(countries)} countries, fewer than {terms['min_countries']}")
        if asset.filing_date is None or asset.filing_date.year != year:
            reasons.append(f"applied for {asset.filing_date or 'on no recorded date'}, not newly in {year}")
    return reasons


async def _taken(session: AsyncSession, keys: Sequence[str], claim_id: str | None) -> set[str]:
    """The keys already reserved by another live claim."""
    if not keys:
        return set()
    stmt = select(SubsidyRewardItem.reward_key).where(col(SubsidyRewardItem.reward_key).in_(keys))
    if claim_id:
        stmt = stmt.where(SubsidyRewardItem.claim_id != claim_id)
    return {k for k in (await session.exec(stmt)).all() if k}


async def _granted_ranks(session: AsyncSession, policy: SubsidyPolicy, org_id: str, today: date) -> dict[str, int]:
    """The firm's high-value invention patents granted in the policy year, ranked by grant date (1 = first)."""
    stmt = (select(Asset).where(Asset.owner_org_id == org_id, Asset.kind == "invention_patent",
                                Asset.status == "valid", col(Asset.grant_date) >= date(policy.period, 1, 1),
                                col(Asset.grant_date) <= date(policy.period, 12, 31))
            .order_by(col(Asset.grant_date), col(Asset.id)))
    ranked = [a.id for a in (await session.exec(stmt)).all() if high_value(a, today)]
    return {asset_id: n for n, asset_id in enumerate(ranked, start=1)}


def bonus_for_rank(rank: int, threshold: int, per_item: int, cap: int) -> int:
    """The bonus of the firm's ``rank``-th patent of the year: ``per_item`` beyond the threshold, until the
    cap is reached (the last one may carry what is left of it)."""
    if rank <= threshold:
        return 0
    return max(min(per_item, cap - per_item * (rank - threshold - 1)), 0)


async def _bonus_held(session: AsyncSession, policy: SubsidyPolicy, org_id: str, claim_id: str | None) -> int:
    stmt = select(func.coalesce(func.sum(SubsidyRewardItem.bonus), 0)).where(
        SubsidyRewardItem.kind == policy.kind, SubsidyRewardItem.claimant_org_id == org_id,
        SubsidyRewardItem.period == policy.period, col(SubsidyRewardItem.reward_key).is_not(None))
    if claim_id:
        stmt = stmt.where(SubsidyRewardItem.claim_id != claim_id)
    return int((await session.exec(stmt)).one())


async def awards_made(session: AsyncSession, policy: SubsidyPolicy) -> int:
    stmt = select(func.count()).select_from(SubsidyClaim).where(
        SubsidyClaim.policy_id == policy.id, col(SubsidyClaim.status).in_(COUNTED))
    return int((await session.exec(stmt)).one())


async def _firm_item(session: AsyncSession, policy: SubsidyPolicy, org_id: str, a: Assessment) -> dict[str, Any]:
    terms, reasons = policy.terms, []
    if policy.kind == "ip_management_certification":
        org = await session.get(Org, org_id)
        if org is None or "standard_certified" not in org.ip_honours:
            reasons.append("the firm's profile records no passed IP-management standard (贯标) evaluation or "
                           "certification (ip_honours: standard_certified)")
    else:
        rows = (await session.exec(select(Asset.family_countries).where(
            Asset.owner_org_id == org_id, Asset.kind == "invention_patent", Asset.status == "valid"))).all()
        held, pct = len(rows), sum(1 for countries in rows if "WO" in countries)
        a.working.update(invention_patents=held, pct_applications=pct)
        a.step(f"the firm holds {held} invention patents in force, {pct} of them PCT applications")
        if held < terms["min_invention_patents"]:
            reasons.append(f"it holds {held} invention patents, fewer than {terms['min_invention_patents']}")
        if pct < terms["min_pct_applications"]:
            reasons.append(f"it has {pct} PCT applications, fewer than {terms['min_pct_applications']}")
    return {"org_id": org_id, "verdict": "not_qualifying" if reasons else "qualifies", "reasons": reasons,
            "amount": 0, "bonus": 0, "key": reward_key(policy.kind, org_id, policy.period)}


async def assess_reward(session: AsyncSession, policy: SubsidyPolicy, org_id: str, asset_ids: Sequence[str],
                        today: date, *, claim_id: str | None = None) -> Assessment:
    """Each item's verdict and amount (``working["items"]``), the total after the per-firm cap, and why
    nothing can be paid when nothing can. ``claim_id``: re-assessing that claim (its own reservations)."""
    a = Assessment()
    a.working.update(policy_id=policy.id, kind=policy.kind, basis="per_item", period=policy.period,
                     amount_per_item=policy.amount_per_item, terms=policy.terms)
    terms, per_item = policy.terms, policy.amount_per_item or 0
    items: list[dict[str, Any]] = []
    if policy.kind in FIRM_LEVEL:
        if asset_ids:
            a.reasons.append(f"items: a {policy.kind} reward is the firm's own and names no assets")
        items.append(await _firm_item(session, policy, org_id, a))
    else:
        if not asset_ids:
            a.reasons.append("items: name at least one asset")
        found = {x.id: x for x in (await session.exec(select(Asset).where(col(Asset.id).in_(asset_ids)))).all()}
        taken = await _taken(session, [reward_key(policy.kind, i, policy.period) for i in asset_ids], claim_id)
        seen: set[str] = set()
        for asset_id in asset_ids:
            asset, key = found.get(asset_id), reward_key(policy.kind, asset_id, policy.period)
            item: dict[str, Any] = {"asset_id": asset_id, "verdict": "qualifies", "reasons": [], "amount": 0,
                                    "bonus": 0, "key": key}
            if asset_id in seen:
                item.update(verdict="not_qualifying", reasons=["the asset is named twice in the claim"])
            elif asset is None:
                item.update(verdict="not_found", reasons=["no such asset in the registry"])
            elif asset.owner_org_id != org_id:
                item.update(verdict="not_claimants", reasons=["the asset is held by another organisation"])
            elif why := _why_not(policy, asset, today):
                item.update(verdict="not_qualifying", reasons=why)
            elif key in taken:
                item.update(verdict="already_rewarded", reasons=[f"it has already been rewarded (or is claimed) "
                                                                 f"under a {policy.kind} reward"])
            seen.add(asset_id)
            items.append(item)
    qualifying = [i for i in items if i["verdict"] == "qualifies"]
    if policy.kind == "madrid_mark":
        group = terms["items_per_award"]
        complete = len(qualifying) - len(qualifying) % group
        for n in range(0, complete, group):  # each award split over its applications, largest remainder
            for item, share in zip(qualifying[n:n + group], split_largest_remainder(per_item, [1] * group),
                                   strict=True):
                item["amount"] = share
        for item in qualifying[complete:]:
            item.update(verdict="incomplete_award", reasons=[f"an award is for every {group} qualifying "
                                                             "applications; this one has no partner in the claim"])
        qualifying = qualifying[:complete]
        a.step(f"{complete // group} award(s) of {yuan(per_item)} for {complete} applications")
    else:
        for item in qualifying:
            item["amount"] = per_item
        a.step(f"{len(qualifying)} qualifying item(s) × {yuan(per_item)} = {yuan(per_item * len(qualifying))}")
    if policy.kind == "high_value_patent" and qualifying:
        ranks = await _granted_ranks(session, policy, org_id, today)
        room = max(terms["bonus_cap"] - await _bonus_held(session, policy, org_id, claim_id), 0)
        for item in sorted(qualifying, key=lambda i: ranks.get(i["asset_id"], 0)):
            rank = ranks.get(item["asset_id"], 0)
            item["rank_in_year"] = rank
            bonus = min(bonus_for_rank(rank, terms["bonus_threshold"], terms["bonus_per_item"], terms["bonus_cap"]),
                        room)
            item["bonus"], room = bonus, room - bonus
        bonus_total = sum(i["bonus"] for i in qualifying)
        a.step(f"the firm's high-value invention patents granted in {policy.period}: {len(ranks)}; each beyond "
               f"{terms['bonus_threshold']} earns {yuan(terms['bonus_per_item'])} more, at most "
               f"{yuan(terms['bonus_cap'])} a year: bonus {yuan(bonus_total)}")
    if policy.kind in FIRM_LEVEL and qualifying:
        if await _taken(session, [qualifying[0]["key"]], claim_id):
            qualifying[0].update(verdict="already_rewarded", reasons=[
                f"the firm has already been given (or claims) this reward{' for ' + str(policy.period) if policy.kind == 'patent_portfolio' else ''}"])
            qualifying = []
        else:
            qualifying[0]["amount"] = per_item
    if policy.kind == "patent_portfolio" and qualifying:
        made, most = await awards_made(session, policy), terms["max_awards"]
        a.working.update(awards_made=made, max_awards=most)
        if made >= most:
            a.limits.append(f"max_awards: the policy's {most} awards of {policy.period} are all made")
    a.basis_amount = sum(i["amount"] + i["bonus"] for i in qualifying)
    if not qualifying and not a.reasons:
        a.reasons.append("items: no item qualifies (" + "; ".join(
            f"{i.get('asset_id') or i.get('org_id')}: {i['verdict']}" for i in items) + ")")
    amount = a.basis_amount
    if policy.cap_per_org_year is not None and amount:
        left = max(policy.cap_per_org_year - await _counted(session, policy.id, org_id=org_id), 0)
        a.working["cap_per_org_year_left"] = left
        if amount > left:
            a.step(f"capped at what is left of the {policy.period} cap per organisation "
                   f"{yuan(policy.cap_per_org_year)}: {yuan(left)}")
            amount = left
            if left == 0:
                a.limits.append(f"cap_per_org_year: the {policy.period} cap {yuan(policy.cap_per_org_year)} of "
                                f"organisation {org_id} is used up")
    a.amount = amount
    a.working.update(items=[{k: v for k, v in i.items() if k != "key"} for i in items], amount=amount)
    a.working["_keys"] = [i["key"] for i in qualifying]
    return a


def verdicts(a: Assessment) -> list[dict[str, Any]]:
    return list(a.working.get("items", []))


def reservations(a: Assessment, claim: SubsidyClaim, policy: SubsidyPolicy) -> list[SubsidyRewardItem]:
    """One row per paid item, its key reserved while the claim is live."""
    paid = [i for i in verdicts(a) if i["verdict"] == "qualifies"]
    return [SubsidyRewardItem(claim_id=claim.id, policy_id=policy.id, kind=policy.kind,
                              subject=i.get("asset_id") or i["org_id"], claimant_org_id=claim.claimant_org_id,
                              period=policy.period, amount=i["amount"], bonus=i["bonus"], reward_key=key)
            for i, key in zip(paid, a.working["_keys"], strict=True)]


async def release(session: AsyncSession, claim_id: str, keep: Sequence[str] = ()) -> None:
    """Free the items of a claim that will not be paid (rejected, payout failed, no longer qualifying)."""
    rows = (await session.exec(select(SubsidyRewardItem).where(
        SubsidyRewardItem.claim_id == claim_id, col(SubsidyRewardItem.reward_key).is_not(None)))).all()
    for row in rows:
        if row.subject not in keep:
            row.reward_key = None
            session.add(row)
    await session.flush()
