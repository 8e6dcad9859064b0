"""Tables people open in a spreadsheet: CSV (UTF-8 with BOM) and XLSX, from one description.

CSV: a BOM so Excel on Chinese Windows reads UTF-8, one header row, no comment lines, ``true``/``false``,
money in 元 with two decimals in a column whose header says 元 (JSON keeps integer fen).
XLSX: typed cells (numbers, dates, booleans; money as 元 with a ``#,##0.00`` format), a title row and the
period above the header, and the filters echoed on a second sheet. openpyxl is imported only here, and
only when an XLSX is asked for.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from kernel import fields, i18n

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOTAL_KEY = "__total__"


@dataclass
class Table:
    """Rows of dicts under ``columns`` (keys); ``title`` and labels in either language (the catalogue
    translates them); ``period`` e.g. ``2026-01-01 – 2026-03-31``; ``filters`` echoed in the XLSX."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Mapping[str, Any]]
    period: str = ""
    filters: Mapping[str, Any] = field(default_factory=dict)
    totals: Mapping[str, Any] = field(default_factory=dict)
    money: frozenset[str] | None = None  # columns in fen; by default by name (kernel.fields)
    filename: str = "export"

    def is_money(self, key: str) -> bool:
        return key in self.money if self.money is not None else fields.is_money(key)

    def header(self, key: str, lang: str) -> str:
        label = i18n.column(key, lang)
        return label + i18n.MONEY_UNIT[lang] if self.is_money(key) else label

    def all_rows(self, lang: str) -> list[dict[str, Any]]:
        rows = [dict(r) for r in self.rows]
        if self.totals:
            rows.append({self.columns[0]: i18n.text("合计", lang), **self.totals})
        return rows


def yuan(fen: int) -> Decimal:
    """Fen as an exact Decimal of 元 with two places."""
    return (Decimal(int(fen)) / 100).quantize(Decimal("0.01"))


def _csv_value(table: Table, key: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if table.is_money(key) and isinstance(value, int):
        return f"{yuan(value):.2f}"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def to_csv(table: Table, lang: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([table.header(k, lang) for k in table.columns])
    for row in table.all_rows(lang):
        writer.writerow([_csv_value(table, k, row.get(k)) for k in table.columns])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _cell_value(table: Table, key: str, value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if table.is_money(key) and isinstance(value, int):
        return yuan(value)
    if isinstance(value, (int, float, Decimal, date, datetime)):
        return value
    if isinstance(value, str):
        try:  # ISO dates stay dates in the sheet
            return date.fromisoformat(value) if len(value) == 10 and value[4] == "-" else value
        except ValueError:
            return value
    return str(value)


def to_xlsx(table: Table, lang: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = i18n.text("数据", lang)
    ws.append([i18n.text(table.title, lang)])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([i18n.text("统计期间", lang), table.period])
    ws.append([table.header(k, lang) for k in table.columns])
    for cell in ws[3]:
        cell.font = Font(bold=True)
    for row in table.all_rows(lang):
        ws.append([_cell_value(table, k, row.get(k)) for k in table.columns])
    for col_idx, key in enumerate(table.columns, start=1):
        letter = ws.cell(row=3, column=col_idx).column_letter
        for (cell,) in ws.iter_rows(min_row=4, min_col=col_idx, max_col=col_idx):
            if table.is_money(key) and cell.value is not None and not isinstance(cell.value, str):
                cell.number_format = "#,##0.00"
            elif isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
        ws.column_dimensions[letter].width = max(12, len(table.header(key, lang)) * 2 + 2)
    ws.freeze_panes = "A4"
    filters = wb.create_sheet(i18n.text("筛选条件", lang))
    filters.append([i18n.text("条件", lang), i18n.text("取值", lang)])
    for cell in filters[1]:
        cell.font = Font(bold=True)
    for key, value in table.filters.items():
        filters.append([key, "" if value is None else _cell_value(table, "", value)])
        if isinstance(filters.cell(row=filters.max_row, column=2).value, date):
            filters.cell(row=filters.max_row, column=2).number_format = "yyyy-mm-dd"
    filters.column_dimensions["A"].width = 16
    filters.column_dimensions["B"].width = 28
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def render(table: Table, fmt: str, lang: str) -> tuple[bytes, str, str]:
    """(body, media type, file name) for ``fmt`` csv or xlsx."""
    if fmt == "xlsx":
        return to_xlsx(table, lang), XLSX_MEDIA_TYPE, f"{table.filename}.xlsx"
    return to_csv(table, lang), CSV_MEDIA_TYPE, f"{table.filename}.csv"
