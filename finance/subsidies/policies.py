"""Subsidy policies: the regulator's rules and budget, earmarked in the fund ledger."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from finance.ledger import service as ledger
from finance.ledger.core import AccountSpec, Chart, Recipes
from finance.subsidies.models import SubsidyPolicy
from finance.subsidies.schemas import PolicyIn, PolicyOut
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import get_or_404
from kernel.errors import Forbidden
from kernel.pagination import paginate

REGULATOR = "regulator"


def _budget_accounts(policy_id: str, owner_org_id: str) -> list[AccountSpec]:
    """The policy's own corner of the fund ledger: the appropriation, the earmarked budget and what was paid."""
    return [
        AccountSpec(Chart.cash(policy_id), "Subsidy appropriation cash", "asset", "no_negative", owner_org_id),
        AccountSpec(Chart.capital(policy_id), "Subsidy appropriation", "equity", "none", owner_org_id),
        AccountSpec(Chart.subsidy_budget(policy_id), "Subsidy budget (earmarked cash)", "asset", "no_negative",
                    owner_org_id),
        AccountSpec(Chart.subsidy_expense(policy_id), "Subsidies paid", "expense", "none", owner_org_id),
    ]


async def create_policy(session: AsyncSession, actor: Actor, data: PolicyIn) -> SubsidyPolicy:
    if not actor.is_kind(REGULATOR):
        raise Forbidden("only the regulator sets subsidy policies")
    today = await business_date(session)
    policy = SubsidyPolicy(**data.model_dump(exclude={"conditions", "period", "terms"}),
                           conditions=data.conditions.required(),
                           terms=data.terms.model_dump(exclude_none=True) if data.terms else {},
                           period=data.period or today.year, regulator_org_id=actor.org_id, created_on=today)
    session.add(policy)
    await session.flush()
    await ledger.ensure_accounts(session, _budget_accounts(policy.id, actor.org_id), actor=actor)
    await ledger.post(session, actor, idempotency_key=f"subsidy_policy:{policy.id}:appropriation",
                      lines=Recipes.capital_in(policy.id, policy.budget), kind="subsidy.appropriation",
                      description=f"Appropriation for subsidy policy {policy.name}",
                      object_type="subsidy_policy", object_id=policy.id)
    entry = await ledger.post(session, actor, idempotency_key=f"subsidy_policy:{policy.id}:budget",
                              lines=Recipes.subsidy_funding(policy.id, policy.budget), kind="subsidy.funding",
                              description=f"Budget earmarked for subsidy policy {policy.name}",
                              object_type="subsidy_policy", object_id=policy.id)
    policy.funding_entry_id = entry.id
    session.add(policy)
    await session.flush()
    await audit.record(session, actor, "subsidy_policy.created", "subsidy_policy", policy.id,
                       after=policy.model_dump(exclude={"created_at"}))
    return policy


def describe_policy(policy: SubsidyPolicy) -> PolicyOut:
    return PolicyOut.model_validate({**policy.model_dump(), "budget_remaining": policy.budget - policy.paid_total})


async def get_policy(session: AsyncSession, policy_id: str, *, lock: bool = False) -> SubsidyPolicy:
    return await get_or_404(session, SubsidyPolicy, policy_id, lock=lock, label="subsidy policy")


async def list_policies(session: AsyncSession, limit: int, cursor: str | None, kind: str | None
                        ) -> tuple[list[SubsidyPolicy], bool, str | None]:
    stmt = select(SubsidyPolicy)
    if kind:
        stmt = stmt.where(SubsidyPolicy.kind == kind)
    return await paginate(session, stmt, SubsidyPolicy.id, limit, cursor)
