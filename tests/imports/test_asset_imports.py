"""Asset imports: chunks, planted errors named in the error file (both languages), duplicates, formats."""

from __future__ import annotations

import csv
import io
import random

import pytest
from openpyxl import load_workbook

from kernel import outbox
from kernel.imports import ImportJob, ImportRowError
from kernel.settings import get_settings
from market.assets.models import Asset
from tests.helpers import count
from tests.imports.helpers import EN_HEADERS, ZH_HEADERS, good_row, planted, to_csv, to_xlsx


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(get_settings(), "import_chunk_rows", 100)


async def upload(api, party, data: bytes, kind: str = "assets", name: str = "patents.csv"):
    return await api.client.post("/imports", files={"file": (name, data)}, data={"kind": kind},
                                 headers=party.headers)


async def run_all(app) -> None:
    await outbox.drain(app.state.session_factory)


def read_csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


async def test_a_csv_with_planted_errors_imports_the_good_rows_in_chunks(app, api, small_chunks):
    uni = await api.org("university")
    rng = random.Random(7)
    rows, expected = [], {}
    for i in range(1, 1001):
        if i % 250 == 0:  # one of each planted error, spread over the chunks
            for what, row, column in planted(100000 + i):
                rows.append(row)
                expected[len(rows) + 1] = (what, column)  # +1: the header is row 1
        else:
            rows.append(good_row(i, rng))
    r = await upload(api, uni, to_csv(ZH_HEADERS, rows))
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["total_rows"] is None
    await run_all(app)
    job = (await api.client.get(f"/imports/{job['id']}", headers=uni.headers)).json()
    planted_count = len(expected)
    assert job["status"] == "done"
    assert job["total_rows"] == job["processed_rows"] == len(rows)
    assert job["rejected"] == planted_count
    assert job["imported"] == len(rows) - planted_count
    assert job["duplicates"] == 0
    assert await count(app, Asset, Asset.owner_org_id == uni.org_id) == job["imported"]
    # Errors file, English: every planted row is named once, with the planted column.
    r = await api.client.get(f"/imports/{job['id']}/errors?format=csv", headers=uni.headers)
    assert r.status_code == 200
    lines = read_csv(r.content)
    assert lines[0] == ["Row", "Column", "Value", "Reason"]
    by_row = {int(line[0]): line for line in lines[1:]}
    assert set(by_row) == set(expected)
    from market.assets.imports import IMPORTER

    for row_no, (what, column) in expected.items():
        assert by_row[row_no][1] == IMPORTER.label(column, "en"), (what, by_row[row_no])
        assert by_row[row_no][3], what
    check = next(line for n, line in by_row.items() if expected[n][0] == "check character")
    assert "check character should be" in check[3]
    # Chinese: the same rows, Chinese headers and reasons.
    r = await api.client.get(f"/imports/{job['id']}/errors?format=csv", headers={**uni.headers,
                                                                               "Accept-Language": "zh-CN"})
    zh = read_csv(r.content)
    assert zh[0] == ["行号", "列", "数值", "原因"]
    zh_by_row = {int(line[0]): line for line in zh[1:]}
    assert set(zh_by_row) == set(expected)
    zh_check = next(line for n, line in zh_by_row.items() if expected[n][0] == "check character")
    assert zh_check[1] == "申请号" and "校验位应为" in zh_check[3]
    zh_date = next(line for n, line in zh_by_row.items() if expected[n][0] == "date form")
    assert zh_date == [zh_date[0], "申请日", "2018/13/45", "2018/13/45 不是有效的日期"]
    zh_order = next(line for n, line in zh_by_row.items() if expected[n][0] == "grant before filing")
    assert zh_order[3] == "授权公告日 不得早于 申请日"
    # XLSX of the errors: the same rows.
    r = await api.client.get(f"/imports/{job['id']}/errors?format=xlsx", headers=uni.headers)
    ws = load_workbook(io.BytesIO(r.content)).active
    numbers = [c.value for c in ws["A"] if isinstance(c.value, int)]
    assert sorted(numbers) == sorted(expected)


async def test_a_file_imported_twice_imports_nothing_new(app, api, small_chunks):
    sme = await api.org("sme")
    rng = random.Random(3)
    rows = [good_row(i, rng) for i in range(1, 251)]
    rows.append(rows[0])  # the same patent twice in one file
    data = to_csv(EN_HEADERS, rows)
    first = (await upload(api, sme, data)).json()
    await run_all(app)
    second = (await upload(api, sme, data)).json()
    await run_all(app)
    a = (await api.client.get(f"/imports/{first['id']}", headers=sme.headers)).json()
    b = (await api.client.get(f"/imports/{second['id']}", headers=sme.headers)).json()
    assert (a["imported"], a["duplicates"], a["rejected"]) == (250, 1, 0)
    assert (b["imported"], b["duplicates"], b["rejected"]) == (0, 251, 0)
    assert await count(app, Asset) == 250
    from kernel.event_log import Event

    assert await count(app, Event, Event.type == "import.finished", Event.object_id == first["id"]) == 1
    # Another organisation's file with the same patents: refused, not taken over.
    other = await api.org("university")
    c = (await upload(api, other, to_csv(EN_HEADERS, rows[:5]))).json()
    await run_all(app)
    c = (await api.client.get(f"/imports/{c['id']}", headers=other.headers)).json()
    assert (c["imported"], c["rejected"]) == (0, 5)
    assert await count(app, Asset, Asset.owner_org_id == other.org_id) == 0


async def test_an_xlsx_with_a_title_row_typed_cells_and_chinese_headers(app, api):
    from datetime import datetime

    uni = await api.org("university")
    rows = [["201810012345" + "", "一种储能装置", "发明", datetime(2018, 3, 5), datetime(2020, 6, 1), "H01M 10/052",
             "有效", 12, "摘要", datetime(2026, 12, 31)],
            ["ZL201820012345", "一种夹具", "", "2018年3月5日", "2019.01.02", "", "失效", "", "", ""]]
    from market.numbers import patent_check_character

    rows[0][0] = "201810012345." + patent_check_character("201810012345")
    rows[1][0] = "ZL201820012345." + patent_check_character("201820012345")
    data = to_xlsx(ZH_HEADERS, rows, title="专利清单（导出）")
    r = await upload(api, uni, data, name="清单.xlsx")
    assert r.status_code == 202, r.text
    await run_all(app)
    job = (await api.client.get(f"/imports/{r.json()['id']}", headers=uni.headers)).json()
    assert (job["file_format"], job["imported"], job["rejected"]) == ("xlsx", 2, 0), job
    listed = (await api.client.get("/assets", params={"owner_org_id": uni.org_id}, headers=uni.headers)).json()
    by_kind = {a["kind"]: a for a in listed["data"]}
    assert by_kind["invention_patent"]["filing_date"] == "2018-03-05"
    assert by_kind["utility_model"]["status"] == "lapsed"  # 失效, the kind read from the type digit


async def test_gb18030_csv_and_refusals(app, api):
    uni = await api.org("university")
    rows = [good_row(5, random.Random(1))]
    r = await upload(api, uni, to_csv(ZH_HEADERS, rows, encoding="gb18030"))
    assert r.status_code == 202
    await run_all(app)
    assert (await api.client.get(f"/imports/{r.json()['id']}", headers=uni.headers)).json()["imported"] == 1
    before = await count(app, ImportJob)
    no_header = await upload(api, uni, to_csv(["foo", "bar"], [["1", "2"]]))
    assert no_header.status_code == 422
    pdf = await upload(api, uni, b"%PDF-1.7\n...", name="patents.csv")
    assert pdf.status_code == 415
    exe = await upload(api, uni, b"MZ\x90\x00\x03\x00\x00\x00" * 10, name="patents.csv")
    assert exe.status_code == 415
    bank = await api.org("bank")
    forbidden = await upload(api, bank, to_csv(ZH_HEADERS, rows))
    assert forbidden.status_code == 403
    assert await count(app, ImportJob) == before  # refused requests left no job


async def test_another_orgs_import_is_404(app, api):
    uni = await api.org("university")
    job = (await upload(api, uni, to_csv(ZH_HEADERS, [good_row(9, random.Random(2))]))).json()
    other = await api.org("university")
    assert (await api.client.get(f"/imports/{job['id']}", headers=other.headers)).status_code == 404
    assert (await api.client.get(f"/imports/{job['id']}/errors", headers=other.headers)).status_code == 404
    mine = (await api.client.get("/imports", headers=other.headers)).json()
    assert mine["data"] == []
    assert await count(app, ImportRowError) == 0
