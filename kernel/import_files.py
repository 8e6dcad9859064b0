"""Reading an uploaded table (CSV or XLSX) into numbered rows keyed by column, for the bulk imports.

The content decides the format, never the name: a zip that is a real XLSX package (``kernel.uploads``:
no macros, no zip bomb) is read with openpyxl; anything else must be text, UTF-8 (with or without BOM)
or GB18030 (what Excel on Chinese Windows saves as "CSV"). The header row is the first row (of the first
ten) that names a required column, so a title line above it, as in registry exports, is skipped. Headers
match in Chinese or English, ignoring case, spaces, underscores and full-width brackets. Row numbers are
the spreadsheet's (the header row is 1 when it is the first line).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from kernel.errors import UnsupportedMediaType, ValidationFailed
from kernel.uploads import XLSX, sniff

HEADER_SEARCH_ROWS = 10


@dataclass(frozen=True)
class Column:
    """A column an import reads: its key, its Chinese and English headers, and further accepted names."""

    key: str
    zh: str
    en: str
    aliases: tuple[str, ...] = ()
    required: bool = False

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh-CN" else self.en


def header_key(text: str) -> str:
    s = str(text or "").strip().lstrip("\ufeff").lower()
    s = s.replace("（", "(").replace("）", ")").replace("：", "").replace(":", "")
    return re.sub(r"[\s_\-./]+", "", s)


def header_map(columns: Sequence[Column]) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in columns:
        for name in (c.key, c.zh, c.en, *c.aliases):
            out[header_key(name)] = c.key
    return out


def _cell(value: Any) -> str:
    """A cell as the text an import parses: dates ISO, whole floats without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def file_format(data: bytes) -> str:
    """``xlsx`` or ``csv`` by content; 415 for anything else (a PDF, an image, a binary renamed .csv)."""
    kind = sniff(data)
    if kind == XLSX:
        return "xlsx"
    if kind is not None or data.startswith(b"PK\x03\x04") or b"\x00" in data[:65536]:
        raise UnsupportedMediaType("the file's content is not one of: CSV, XLSX")
    return "csv"


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnsupportedMediaType("the file's content is not one of: CSV, XLSX")


def _raw_rows(data: bytes, fmt: str) -> Iterator[list[str]]:
    if fmt == "csv":
        for row in csv.reader(io.StringIO(_decode(data), newline="")):
            yield [c.strip() for c in row]
        return
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet = wb.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield [_cell(v) for v in values]
    finally:
        wb.close()


@dataclass
class Parsed:
    rows: list[tuple[int, dict[str, str]]]  # (row number, {column key: text}); blank rows left out
    header_row: int
    unknown_headers: list[str]


def read_table(data: bytes, fmt: str, columns: Sequence[Column], max_rows: int,
               header_only: bool = False) -> Parsed:
    """The rows of ``data`` under the recognised headers; 422 when no header row names the required
    columns, or when there are more than ``max_rows`` rows. ``header_only``: stop at the header (the
    quick check a request makes before the worker reads the whole file)."""
    mapping = header_map(columns)
    required = [c for c in columns if c.required]
    keys: list[str | None] | None = None
    header_row = 0
    unknown: list[str] = []
    rows: list[tuple[int, dict[str, str]]] = []
    for number, raw in enumerate(_raw_rows(data, fmt), start=1):
        if keys is None:
            found = [mapping.get(header_key(h)) for h in raw]
            if all(c.key in found for c in required):
                keys, header_row = found, number
                unknown = [h for h, k in zip(raw, found, strict=True) if k is None and h]
                if header_only:
                    break
            elif number >= HEADER_SEARCH_ROWS:
                break
            continue
        if not any(raw):
            continue
        row = {k: v for k, v in zip(keys, raw, strict=False) if k is not None and v != ""}
        rows.append((number, row))
        if len(rows) > max_rows:
            raise ValidationFailed.at(["body", "file"], f"the file has more than {max_rows} rows")
    if keys is None:
        names = ", ".join(f"{c.zh} / {c.en}" for c in required)
        raise ValidationFailed.at(["body", "file"], f"no header row names the required columns: {names}")
    return Parsed(rows, header_row, unknown)
