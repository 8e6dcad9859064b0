from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from market.numbers import ASSET_KINDS, GI_MARK_FORMS, is_gi_announcement, normalise_number

AssetKind = Literal["invention_patent", "utility_model", "design_patent", "trademark", "copyright",
                    "software_copyright", "trade_secret", "plant_variety", "geographical_indication"]
GiForm = Literal["collective_mark", "certification_mark", "gi_product"]
# An administrative-division code (GB/T 2260): 140000 a province, 140100 a city, 140105 a district.
RegionCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]
GI_FIELDS = ("gi_form", "product", "region")
AssetStatus = Literal["pending", "valid", "lapsed", "expired", "invalidated"]
# A trademark recognised as well-known (驰名商标认定) is recorded as an award too (001_… task 10 counts them).
AWARDS = ("national_sci_tech_award", "china_patent_award", "china_patent_excellence_award",
          "provincial_sci_tech_award", "provincial_patent_award", "well_known_trademark")

_IPC = re.compile(r"^[A-H]\d{2}[A-Z](\s?\d{1,4}/\d{2,6})?$")


def _ipc(code: str) -> str:
    code = re.sub(r"\s+", " ", code.strip().upper())
    if not _IPC.match(code):
        raise ValueError(f"{code!r} is not an IPC code like H01M 10/052")
    return code


def _country(code: str) -> str:
    code = code.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}|EP|WO", code):
        raise ValueError(f"{code!r} is not a two-letter country code")
    return code


IpcCode = Annotated[str, AfterValidator(_ipc)]
Country = Annotated[str, AfterValidator(_country)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Abstract = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000)]
Award = Literal[AWARDS]  # type: ignore[valid-type]  # a Literal of the one tuple of awards
# Any registry date outside this span is a typing error, not a fact (China's Patent Law dates from 1985).
RegistryDate = Annotated[date, Field(ge=date(1950, 1, 1), le=date(2100, 12, 31))]


class _AssetFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    abstract: Abstract | None = None
    ipc_codes: list[IpcCode] | None = Field(default=None, max_length=50)
    nice_classes: list[Annotated[int, Field(ge=1, le=45)]] | None = Field(default=None, max_length=45)
    filing_date: RegistryDate | None = None
    grant_date: RegistryDate | None = None
    expiry_date: RegistryDate | None = None
    fees_paid_until: RegistryDate | None = None
    claims_count: int | None = Field(default=None, ge=0, le=1000)
    forward_citations: int | None = Field(default=None, ge=0, le=100000)
    family_countries: list[Country] | None = Field(default=None, max_length=100)
    awards: list[Award] | None = Field(default=None, max_length=20)
    industry: str | None = Field(default=None, max_length=80)
    strategic_emerging: bool | None = None
    product: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = None
    registrant: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None


class AssetIn(_AssetFacts):
    kind: AssetKind
    number: str = Field(min_length=1, max_length=64)
    title: Title
    gi_form: GiForm | None = None
    region: RegionCode | None = None

    # A field validator (kind is validated first), so a wrong check character is reported at ``number``.
    @field_validator("number")
    @classmethod
    def _number_matches_kind(cls, number: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        return normalise_number(kind, number) if kind else number

    @model_validator(mode="after")
    def _classes_match_kind(self) -> AssetIn:
        gi = self.kind == "geographical_indication"
        if self.nice_classes and self.kind != "trademark" and not (gi and self.gi_form in GI_MARK_FORMS):
            raise ValueError("nice_classes belong to trademarks and GI collective or certification marks")
        if self.ipc_codes and self.kind in ("trademark", "geographical_indication"):
            raise ValueError(f"a {self.kind.replace('_', ' ')} has no IPC codes")
        if gi:
            missing = [f for f in GI_FIELDS if getattr(self, f) is None]
            if missing:
                raise ValueError(f"a geographical indication needs {', '.join(missing)}")
            if (self.gi_form == "gi_product") != is_gi_announcement(self.number):
                raise ValueError("a GI product is numbered by its announcement (2008年第123号), a GI collective or "
                                 "certification mark by its registration number")
        elif any(getattr(self, f) is not None for f in (*GI_FIELDS, "registrant")):
            raise ValueError("gi_form, product, region and registrant belong to geographical indications")
        return self


class AssetPatch(_AssetFacts):
    status: AssetStatus | None = None


class EncumbranceOut(BaseModel):
    kind: str
    ref_id: str
    since: date
    holder_org_id: str | None = None


class OwnershipOut(BaseModel):
    owner_org_id: str
    from_date: date
    to_date: date | None
    via: str
    ref_id: str | None


class HighValueOut(BaseModel):
    is_high_value: bool
    criteria: list[str]


class AssetOut(BaseModel):
    id: str
    kind: str
    number: str
    display_number: str
    title: str
    abstract: str | None
    ipc_codes: list[str]
    nice_classes: list[int]
    filing_date: date | None
    grant_date: date | None
    expiry_date: date | None
    fees_paid_until: date | None
    claims_count: int | None
    forward_citations: int | None
    family_countries: list[str]
    awards: list[str]
    industry: str | None
    strategic_emerging: bool
    gi_form: str | None = None
    product: str | None = None
    region: str | None = None
    registrant: str | None = None
    status: str
    owner_org_id: str
    last_transaction_on: date | None
    created_at: datetime
    updated_at: datetime
    encumbrances: list[EncumbranceOut]
    ownership_history: list[OwnershipOut]
    high_value: HighValueOut


class AssetSummaryOut(BaseModel):
    id: str
    kind: str
    number: str
    display_number: str
    title: str
    ipc_codes: list[str]
    industry: str | None
    status: str
    owner_org_id: str
    filing_date: date | None
    grant_date: date | None
    gi_form: str | None = None
    region: str | None = None


assert set(ASSET_KINDS) == set(get_args(AssetKind))  # one list of kinds
