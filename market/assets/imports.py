"""Importing a patent list (a CNIPA-style export) into the registry: ``POST /imports`` with ``kind=assets``.

Each row is read into an ``AssetIn`` and registered through ``service.create_asset``, so every rule of
``POST /assets`` holds (number form, check character, type digit, the year against the business date,
dates in order); nothing here re-states them. What this module adds is reading the export's cells: the
Chinese headers (or their English aliases), dates as ``YYYY-MM-DD``, ``YYYY.MM.DD``, ``YYYY年M月D日`` or
``YYYYMMDD``, patent types and legal statuses in Chinese, numbers with ``ZL``/``CN`` and dots. A row whose
number is registered to the importer already is a duplicate (a file imported twice imports nothing new);
registered to another organisation, it is refused.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from kernel.actor import Actor
from kernel.clock import business_date
from kernel.db import table_of
from kernel.errors import DomainError, InvalidState, ValidationFailed
from kernel.import_files import Column
from kernel.imports import ChunkResult, Importer, RowError, Rows, register
from market.assets import service
from market.assets.models import ASSET, Asset
from market.assets.schemas import AssetIn
from market.numbers import PATENT_KINDS

COLUMNS = (
    Column("number", "申请号", "application_no", ("专利号", "申请号/专利号", "application number", "number"),
           required=True),
    Column("title", "专利名称", "title", ("发明名称", "名称", "标题")),
    Column("kind", "专利类型", "kind", ("类型", "专利种类", "type")),
    Column("filing_date", "申请日", "filing_date", ("申请日期",)),
    Column("grant_date", "授权公告日", "grant_date", ("授权日", "授权公告日期", "授权日期")),
    Column("ipc", "主分类号", "ipc", ("IPC主分类号", "分类号", "IPC分类号", "ipc_codes")),
    Column("legal_status", "法律状态", "legal_status", ("当前法律状态", "status")),
    Column("claims_count", "权利要求数", "claims_count", ("权利要求项数", "权项数")),
    Column("abstract", "摘要", "abstract", ()),
    Column("fees_paid_until", "年费缴至", "fees_paid_until", ("年费缴纳至", "年费有效期至")),
)

KINDS = {"发明": "invention_patent", "发明专利": "invention_patent", "invention": "invention_patent",
         "invention_patent": "invention_patent", "实用新型": "utility_model", "实用新型专利": "utility_model",
         "utility_model": "utility_model", "utility": "utility_model", "外观设计": "design_patent",
         "外观设计专利": "design_patent", "外观": "design_patent", "design": "design_patent",
         "design_patent": "design_patent"}
# The type digit of a number, when the kind column is blank (8 and 9 are PCT national-phase entries).
_KIND_OF_DIGIT = {"1": "invention_patent", "8": "invention_patent", "2": "utility_model",
                  "9": "utility_model", "3": "design_patent"}
LEGAL_STATUSES = {"有效": "valid", "授权": "valid", "有权": "valid", "专利权维持": "valid", "valid": "valid",
                  "granted": "valid", "审中": "pending", "在审": "pending", "实质审查": "pending",
                  "公开": "pending", "pending": "pending", "失效": "lapsed", "未缴年费": "lapsed",
                  "未缴年费专利权终止": "lapsed", "权利终止": "lapsed", "lapsed": "lapsed", "届满": "expired",
                  "期限届满": "expired", "expired": "expired", "无效": "invalidated", "全部无效": "invalidated",
                  "invalidated": "invalidated"}
_DATE = (re.compile(r"^(\d{4})[-./](\d{1,2})[-./](\d{1,2})$"), re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
         re.compile(r"^(\d{4})(\d{2})(\d{2})$"))
_FIELD_OF_COLUMN = {"ipc": "ipc_codes"}
_COLUMN_OF_FIELD = {"ipc_codes": "ipc", "status": "legal_status"}


class _Bad(Exception):
    def __init__(self, column: str, reason: str, value: str | None = None) -> None:
        super().__init__(reason)
        self.column, self.reason, self.value = column, reason, value


def parse_date(text: str) -> date:
    for pattern in _DATE:
        if m := pattern.match(text.strip()):
            try:
                return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            except ValueError:
                raise ValueError(f"{text.strip()} is not a date in the calendar") from None
    raise ValueError("dates are written YYYY-MM-DD, YYYY.MM.DD or YYYY年M月D日")


def _kind(raw: dict[str, str]) -> str:
    text = raw.get("kind", "").strip()
    if text:
        found = KINDS.get(text.lower().replace(" ", "_")) or KINDS.get(text)
        if found is None:
            raise _Bad("kind", "kind must be one of 发明, 实用新型, 外观设计", text)
        return found
    digits = re.sub(r"[^0-9X]", "", raw.get("number", "").upper())
    digit = digits[4] if len(digits) == 13 else digits[2] if len(digits) == 9 else ""
    if digit not in _KIND_OF_DIGIT:
        raise _Bad("kind", "the kind cannot be read from the number; fill in kind", raw.get("kind"))
    return _KIND_OF_DIGIT[digit]


def _body(raw: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": _kind(raw), "number": raw.get("number", ""), "title": raw.get("title", "")}
    for key in ("filing_date", "grant_date", "fees_paid_until"):
        if raw.get(key):
            try:
                body[key] = parse_date(raw[key]).isoformat()
            except ValueError as exc:
                raise _Bad(key, str(exc), raw[key]) from exc
    if raw.get("ipc"):
        body["ipc_codes"] = [c for c in re.split(r"[;；,，、]\s*", raw["ipc"]) if c.strip()]
    if raw.get("claims_count"):
        text = raw["claims_count"].strip().removesuffix("项")
        if not text.isdigit():
            raise _Bad("claims_count", "claims_count must be a whole number", raw["claims_count"])
        body["claims_count"] = int(text)
    if raw.get("abstract"):
        body["abstract"] = raw["abstract"]
    return body


def _schema_errors(row: int, raw: dict[str, str], exc: ValidationError) -> list[RowError]:
    out = []
    for e in exc.errors():
        loc = [p for p in e["loc"] if isinstance(p, str)]
        field = loc[0] if loc else "number"  # a model-level rule: the number against its kind
        column = _COLUMN_OF_FIELD.get(field, field)
        ctx = {k: str(v) for k, v in (e.get("ctx") or {}).items()}
        out.append(RowError(row, column, e["msg"].removeprefix("Value error, "), raw.get(column),
                            e["type"], ctx or None))
    return out


def _domain_error(row: int, raw: dict[str, str], exc: DomainError) -> RowError:
    loc = [p for p in (exc.errors or [{}])[0].get("loc", []) if isinstance(p, str) and p != "body"]
    column = _COLUMN_OF_FIELD.get(loc[0], loc[0]) if loc else "number"
    return RowError(row, column, exc.detail, raw.get(column))


def _status_action(initial: str, wanted: str) -> str | None:
    return next((a for (s, a), to in ASSET.moves.items() if s == initial and to == wanted), None)


async def run_chunk(session: AsyncSession, actor: Actor, rows: Rows) -> ChunkResult:
    """Judge every row, then register the good ones in a few statements (``service.insert_assets``)."""
    result = ChunkResult()
    today = await business_date(session)
    ready: list[tuple[int, dict[str, str], AssetIn, str | None]] = []
    for row, raw in rows:
        try:
            wanted = None
            if raw.get("legal_status"):
                wanted = LEGAL_STATUSES.get(raw["legal_status"].strip().lower())
                if wanted is None:
                    raise _Bad("legal_status", "legal_status must be one of 有效, 审中, 失效, 届满, 无效",
                               raw["legal_status"])
            data = AssetIn.model_validate(_body(raw))
            if wanted == "valid" and data.kind in PATENT_KINDS and data.grant_date is None:
                raise _Bad("grant_date", "a valid patent needs its grant_date", None)
            ready.append((row, raw, data, wanted))
        except _Bad as bad:
            result.errors.append(RowError(row, bad.column, bad.reason, bad.value))
        except ValidationError as exc:
            result.errors.extend(_schema_errors(row, raw, exc))
    # What is registered already: the importer's own is a duplicate, another organisation's is refused.
    numbers = sorted({d.number for _, _, d, _ in ready})
    owners: dict[tuple[str, str], str] = {}
    if numbers:
        found = await session.exec(select(Asset.kind, Asset.number, Asset.owner_org_id)
                                   .where(col(Asset.number).in_(numbers)))
        owners = {(k, n): o for k, n, o in found.all()}
    new: list[Asset] = []
    moves: dict[str, str] = {}  # asset id -> the workflow action its legal status needs
    for row, raw, data, wanted in ready:
        owner = owners.get((data.kind, data.number))
        if owner == actor.org_id:
            result.duplicates += 1
            continue
        if owner is not None:
            result.errors.append(RowError(row, "number", "already registered by another organisation",
                                          raw.get("number")))
            continue
        try:
            asset = await service.new_asset(session, actor, data, today)
            if wanted is not None and wanted != asset.status:
                action = _status_action(asset.status, wanted)
                if action is None:
                    raise InvalidState(f"an asset cannot go from {asset.status} to {wanted}",
                                       errors=[{"loc": ["body", "status"], "msg": "legal status"}])
                moves[asset.id] = action
        except (ValidationFailed, InvalidState) as exc:
            result.errors.append(_domain_error(row, raw, exc))
            continue
        owners[(data.kind, data.number)] = actor.org_id  # the same number later in the file: a duplicate
        new.append(asset)
    inserted = await service.insert_assets(session, actor, new, today)
    result.imported = len(inserted)
    result.duplicates += len(new) - len(inserted)  # registered meanwhile by a concurrent request
    table = table_of(Asset)
    for action in sorted(set(moves.values())):
        batch = [(a.id, a.status) for a in new if a.id in inserted and moves.get(a.id) == action]
        await ASSET.apply_bulk(session, actor, batch, action, table=table, business_date=today)
    return result


def _may_import(actor: Actor) -> bool:
    return actor.is_kind(*service.ASSET_OWNER_KINDS)


IMPORTER = register(Importer(kind="assets", columns=COLUMNS, may_import=_may_import,
                             who="SMEs and universities", run_chunk=run_chunk))

assert {c.key for c in COLUMNS} - set(_FIELD_OF_COLUMN) - {"legal_status", "kind", "number"} <= set(
    AssetIn.model_fields), "every asset column is a field of POST /assets"
