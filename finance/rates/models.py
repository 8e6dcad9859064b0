from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.db import created_at_field


class LprRate(SQLModel, table=True):
    __tablename__ = "lpr_rates"
    __table_args__ = (
        sa.CheckConstraint("one_year_bps > 0 AND one_year_bps <= 2000", name="one_year_bps"),
        sa.CheckConstraint("five_year_bps > 0 AND five_year_bps <= 2000", name="five_year_bps"),
    )
    effective_on: date = Field(primary_key=True)
    one_year_bps: int
    five_year_bps: int
    created_at: datetime = created_at_field()
