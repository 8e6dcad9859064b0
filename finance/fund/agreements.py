"""Cooperation agreements between a programme and a bank: the deposit moves to the bank, quota = deposit × leverage."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from accounts.models import Org
from finance.fund import books
from finance.fund.models import FundAgreement
from finance.fund.programmes import current_version, limit_exceeded, owned_program
from finance.fund.schemas import AgreementIn, AgreementOut
from kernel import audit
from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import insert_unique
from kernel.errors import AlreadyExists, ValidationFailed


async def create_agreement(session: AsyncSession, actor: Actor, program_id: str, data: AgreementIn) -> FundAgreement:
    program = await owned_program(session, actor, program_id, lock=True)
    version = await current_version(session, program)
    bank = await session.get(Org, data.bank_org_id)
    if bank is None or bank.kind != "bank":
        raise ValidationFailed.at(["body", "bank_org_id"], "not a bank organisation")
    leverage = data.leverage if data.leverage is not None else version.leverage_max
    if leverage > version.leverage_max:
        raise limit_exceeded("leverage_max", f"leverage {leverage}× is above the programme's maximum "
                     f"{version.leverage_max}×", leverage_max=version.leverage_max)
    if (await session.exec(select(FundAgreement.id).where(FundAgreement.program_id == program.id,
                                                           FundAgreement.bank_org_id == bank.id))).first():
        raise AlreadyExists("the programme already has an agreement with this bank")
    cash = await books.cash(session, program.id)
    if data.deposit > cash:
        raise limit_exceeded("cash", f"the deposit {data.deposit} is more than the fund's cash {cash}", cash=cash)
    agreement = FundAgreement(program_id=program.id, bank_org_id=bank.id, deposit=data.deposit, leverage=leverage,
                              created_on=await business_date(session))
    await insert_unique(session, agreement, AlreadyExists("the programme already has an agreement with this bank"))
    await books.deposit_to_bank(session, actor, program.id, agreement.id, bank.id, data.deposit)
    await audit.record(session, actor, "fund_agreement.created", "fund_agreement", agreement.id,
                       after={"program_id": program.id, "bank_org_id": bank.id, "deposit": agreement.deposit,
                              "leverage": leverage, "quota": agreement.quota})
    return agreement


async def list_agreements(session: AsyncSession, program_id: str) -> list[FundAgreement]:
    stmt = select(FundAgreement).where(FundAgreement.program_id == program_id).order_by(col(FundAgreement.id))
    return list((await session.exec(stmt)).all())


def describe_agreement(a: FundAgreement) -> AgreementOut:
    return AgreementOut.model_validate({"id": a.id, "program_id": a.program_id, "bank_org_id": a.bank_org_id, "deposit": a.deposit,
            "leverage": a.leverage, "quota": a.quota, "created_on": a.created_on})
