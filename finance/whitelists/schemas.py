"""Request and response models of the white-list API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class WhitelistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    year: int = Field(ge=2000, le=2200)
    org_ids: list[Id] = Field(min_length=1, max_length=500)

    @field_validator("org_ids")
    @classmethod
    def _no_duplicates(cls, ids: list[str]) -> list[str]:
        if len(set(ids)) != len(ids):
            raise ValueError("a firm is named twice")
        return ids


class WhitelistIndicatorsOut(BaseModel):
    invention_patents: int  # invention patents in force
    high_value_patents: int  # of them, meeting one of the five high-value criteria
    enterprise_ip_index: int  # the firm's honours weighted as the zone's index (001_… task 6)
    ip_honours: list[str]
    valuation_total: int  # fen: its certified valuations in force
    loans_repaid: int
    loans_repaid_on_time: int  # repaid with no instalment late
    loans_overdue: int  # past due now
    as_of: date


class WhitelistEntryOut(BaseModel):
    org_id: str
    org_name: str
    region: str | None
    industry: str | None
    indicators: WhitelistIndicatorsOut


class WhitelistOut(BaseModel):
    id: str
    name: str
    year: int
    regulator_org_id: str
    status: str
    published_on: date
    firms: int
    created_at: datetime
    entries: list[WhitelistEntryOut] | None = None  # in GET /whitelists/{id}


class WhitelistConsentOut(BaseModel):
    id: str
    org_id: str
    status: str
    given_on: date
    given_by_user_id: str
