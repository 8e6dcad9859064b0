"""Generated patent lists for the import tests: valid rows, and rows with one planted error each."""

from __future__ import annotations

import csv
import io
import random
from typing import Any

from market.numbers import patent_check_character

ZH_HEADERS = ["申请号", "专利名称", "专利类型", "申请日", "授权公告日", "主分类号", "法律状态", "权利要求数",
              "摘要", "年费缴至"]
EN_HEADERS = ["application_no", "title", "kind", "filing_date", "grant_date", "ipc", "legal_status",
              "claims_count", "abstract", "fees_paid_until"]


def number(serial: int, year: int = 2018, digit: str = "1", dotted: bool = True) -> str:
    body = f"{year}{digit}{serial:07d}"
    check = patent_check_character(body)
    return f"ZL{body}.{check}" if dotted else f"{body}{check}"


def good_row(serial: int, rng: random.Random) -> list[str]:
    digit = rng.choice("123")
    kind = {"1": "发明", "2": "实用新型", "3": "外观设计"}[digit]
    date_style = serial % 3
    filing = ("2018-03-05", "2018.03.05", "2018年3月5日")[date_style]
    grant = ("2020-06-01", "2020.06.01", "2020年6月1日")[date_style]
    return [number(serial, digit=digit, dotted=serial % 2 == 0), f"一种电池管理方法 {serial}", kind, filing,
            grant, "H01M 10/052", "有效", str(rng.randint(1, 30)), "摘要文本", "2026-12-31"]


# Each planted error: (what is wrong, the row, the column key the error file must name).
def planted(serial: int) -> list[tuple[str, list[str], str]]:
    good = good_row(serial, random.Random(serial))
    bad_check = good.copy()
    n = number(serial, digit="1", dotted=False)
    bad_check[0], bad_check[2] = n[:-1] + next(c for c in "0123456789" if c != n[-1]), "发明"
    wrong_kind = good.copy()
    wrong_kind[0], wrong_kind[2] = number(serial, digit="2"), "发明"
    bad_date = good.copy()
    bad_date[3] = "2018/13/45"
    grant_before_filing = good.copy()
    grant_before_filing[3], grant_before_filing[4] = "2020-06-01", "2018-03-05"
    future = good.copy()
    future[4] = "2030-01-01"
    no_title = good.copy()
    no_title[1] = ""
    bad_claims = good.copy()
    bad_claims[7] = "十二"
    bad_ipc = good.copy()
    bad_ipc[5] = "XYZ"
    bad_status = good.copy()
    bad_status[6] = "不知道"
    return [("check character", bad_check, "number"), ("type digit", wrong_kind, "number"),
            ("date form", bad_date, "filing_date"), ("grant before filing", grant_before_filing, "grant_date"),
            ("future grant", future, "grant_date"), ("no title", no_title, "title"),
            ("claims", bad_claims, "claims_count"), ("ipc", bad_ipc, "ipc"),
            ("legal status", bad_status, "legal_status")]


def to_csv(headers: list[str], rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(headers)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)


def to_xlsx(headers: list[str], rows: list[list[Any]], title: str | None = None) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    if title:
        ws.append([title])
    ws.append(headers)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
