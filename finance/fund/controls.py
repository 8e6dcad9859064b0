"""A programme's control settings: provision rates per classification and the automatic month close."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from finance.fund import provisions
from finance.fund.models import FundProgram
from finance.fund.schemas import ControlsIn
from kernel import audit
from kernel.actor import ORG_ADMIN, Actor
from kernel.db import get_or_404
from kernel.errors import Forbidden


async def update(session: AsyncSession, actor: Actor, program_id: str, data: ControlsIn) -> FundProgram:
    program = await get_or_404(session, FundProgram, program_id, lock=True, label="fund programme",
                               visible=lambda p: p.fund_org_id == actor.org_id)
    if actor.role != ORG_ADMIN:
        raise Forbidden("only a fund administrator changes a programme's controls")
    before = describe(program)
    changes = data.model_dump(exclude_unset=True)
    if "provision_rates_bps" in changes:
        # Replaces the programme's own rates; a class left out takes the default.
        program.provision_rates_bps = provisions.check_rates(changes["provision_rates_bps"] or {})
    if changes.get("auto_close_periods") is not None:
        program.auto_close_periods = changes["auto_close_periods"]
    if changes.get("requires_claim_evidence") is not None:
        program.requires_claim_evidence = changes["requires_claim_evidence"]
    session.add(program)
    await session.flush()
    await audit.record(session, actor, "fund_program.controls_updated", "fund_program", program.id,
                       before=before, after=describe(program))
    return program


def describe(program: FundProgram) -> dict[str, Any]:
    return {"program_id": program.id, "provision_rates_bps": provisions.rates_of(program),
            "own_provision_rates_bps": dict(program.provision_rates_bps or {}),
            "auto_close_periods": program.auto_close_periods,
            "requires_claim_evidence": program.requires_claim_evidence}
