from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class LprIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effective_on: date
    one_year_bps: int = Field(gt=0, le=2000)
    five_year_bps: int = Field(gt=0, le=2000)


class LprOut(BaseModel):
    effective_on: date
    one_year_bps: int
    five_year_bps: int
