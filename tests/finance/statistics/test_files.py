"""CSV and XLSX read back cleanly with the csv module and openpyxl: BOM, one header, 元, typed cells."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import openpyxl

from kernel import tabular
from tests.finance.statistics.test_financing_transactions import M, _book

Q = "/stats/pledge-financing?from=2026-03-01&to=2026-04-30&group_by=region"


async def test_pledge_financing_csv_and_xlsx_in_both_languages(api, client):
    regulator = await api.org("regulator")
    await _book(api, client)

    zh = {**regulator.headers, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    r = await client.get(Q + "&format=csv", headers=zh)
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="pledge-financing.csv"'
    assert r.content[:3] == b"\xef\xbb\xbf"
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["地区代码", "地区", "笔数", "金额（元）"]  # the one header row
    assert rows[1:] == [["140100", "太原市", "2", f"{4 * M // 100}.00"], ["140200", "大同市", "1", f"{2 * M // 100}.00"],
                        ["合计", "", "3", f"{6 * M // 100}.00"]]
    assert not any(cell.startswith("#") for row in rows for cell in row[:1])

    r = await client.get(Q + "&format=xlsx", headers=zh)
    assert r.status_code == 200 and r.headers["content-type"] == tabular.XLSX_MEDIA_TYPE
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    data, filters = wb.worksheets
    assert data["A1"].value == "知识产权质押融资登记金额"
    assert [c.value for c in data[2]][:2] == ["统计期间", "2026-03-01 – 2026-04-30"]
    assert [c.value for c in data[3]] == ["地区代码", "地区", "笔数", "金额（元）"]
    first = [c.value for c in data[4]]
    assert first[:3] == ["140100", "太原市", 2] and isinstance(first[2], int)
    assert first[3] == 4 * M / 100 and data["D4"].number_format == "#,##0.00"  # a number, not text
    assert data.max_row == 6 and data["A6"].value == "合计" and data["D6"].value == 6 * M / 100
    assert filters.title == "筛选条件"
    echoed = {row[0]: row[1] for row in filters.iter_rows(min_row=2, values_only=True)}
    assert echoed["group_by"] == "region" and filters["B2"].is_date  # a date cell, not text
    assert (echoed["from"].date(), echoed["to"].date()) == (date(2026, 3, 1), date(2026, 4, 30))

    en = await client.get(Q + "&format=xlsx", headers=regulator.headers)  # no Accept-Language: English
    wb = openpyxl.load_workbook(io.BytesIO(en.content))
    assert wb.worksheets[0]["A1"].value == "Registered IP pledge financing"
    assert [c.value for c in wb.worksheets[0][3]] == ["Region code", "Region", "Count", "Amount (yuan)"]
    assert wb.sheetnames == ["Data", "Filters"]


def test_table_types_booleans_dates_and_money() -> None:
    table = tabular.Table(title="T", columns=["key", "paused", "amount", "due_on", "npl_ratio_bps"],
                          rows=[{"key": "a", "paused": True, "amount": 123_456_789, "due_on": date(2026, 3, 2),
                                 "npl_ratio_bps": 250},
                                {"key": "b", "paused": False, "amount": -5, "due_on": None, "npl_ratio_bps": 0}],
                          period="2026-03-02", filters={"status": None, "paused": True})
    rows = list(csv.DictReader(io.StringIO(tabular.to_csv(table, "en").decode("utf-8-sig"))))
    assert rows == [{"Item": "a", "Paused": "true", "Amount (yuan)": "1234567.89", "Due on": "2026-03-02",
                     "NPL ratio (bps)": "250"},
                    {"Item": "b", "Paused": "false", "Amount (yuan)": "-0.05", "Due on": "", "NPL ratio (bps)": "0"}]
    wb = openpyxl.load_workbook(io.BytesIO(tabular.to_xlsx(table, "zh-CN")))
    ws = wb.worksheets[0]
    values = [c.value for c in ws[4]]
    assert values[1] is True and Decimal(str(values[2])) == Decimal("1234567.89")
    assert ws["D4"].is_date and ws["D4"].value.date() == date(2026, 3, 2) and ws["E4"].value == 250
    assert [c.value for c in wb.worksheets[1][3]] == ["paused", True]
