from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from market.assets.schemas import IpcCode


class NeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000)]
    ipc_codes: list[IpcCode] = Field(default_factory=list, max_length=20)
    industry: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)] | None = None


class NeedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    org_id: str
    title: str
    description: str
    ipc_codes: list[str]
    industry: str | None
    status: str
    created_at: datetime


class AssetMatchOut(BaseModel):
    asset_id: str
    title: str
    score: float
    reasons: list[str]


class NeedMatchOut(BaseModel):
    need_id: str
    title: str
    score: float
    reasons: list[str]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    need_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    asset_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    verdict: Literal["interested", "not_relevant"]


class FeedbackOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    need_id: str
    asset_id: str
    verdict: str
    updated_at: datetime
