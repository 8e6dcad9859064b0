"""Imports from the console over HTTP: upload a CSV, follow the job (the page refreshes itself until it is
done), read the refused rows; a missing file shown at the field; Chinese and English."""

from __future__ import annotations

import random

from kernel import outbox
from tests.console.helpers import browser, csrf_of, sign_in
from tests.imports.helpers import ZH_HEADERS, good_row, planted, to_csv


async def test_an_owner_uploads_patents_and_follows_the_job_to_its_row_errors(api, app):
    uni = await api.org("university")
    rng = random.Random(3)
    rows = [good_row(i, rng) for i in range(1, 6)]
    bad = [row for _what, row, _column in planted(900_001)]
    data = to_csv(ZH_HEADERS, rows + bad)
    async with browser(app) as zh, browser(app) as en:
        await sign_in(zh, uni)
        page = await zh.get("/console/imports")
        assert page.status_code == 200 and "上传导入文件" in page.text and 'type="file"' in page.text
        r = await zh.post("/console/imports", data={"csrf_token": csrf_of(page)}, files={"file": ("", b"")})
        assert r.status_code == 422 and 'data-testid="error-file"' in r.text
        r = await zh.post("/console/imports", data={"csrf_token": csrf_of(page)},
                          files={"file": ("专利清单.csv", data, "text/csv")})
        assert r.status_code == 303, r.text
        path = r.headers["location"]
        queued = await zh.get(path)
        assert '<meta http-equiv="refresh"' in queued.text and 'data-testid="import-running"' in queued.text
        await outbox.drain(app.state.session_factory)  # the worker runs the job
        done = await zh.get(path)
        assert '<meta http-equiv="refresh"' not in done.text and "专利清单.csv" in done.text
        imported = done.text.split('data-testid="import-imported">')[1].split("<")[0]
        rejected = done.text.split('data-testid="import-rejected">')[1].split("<")[0]
        assert (int(imported), int(rejected)) == (len(rows), len(bad))
        table = done.text.split('data-testid="import-errors"')[1].split("</table>")[0]
        assert table.count("<tr>") == len(bad) + 1 and "行" in table  # the API's Chinese headers, one row each
        assert "专利清单.csv" in (await zh.get("/console/imports")).text
        await sign_in(en, uni, lang="en")
        page = await en.get(path)
        assert "Rows refused" in page.text and "Row" in page.text.split('data-testid="import-errors"')[1]
        # A CSRF-less upload does nothing.
        r = await en.post("/console/imports", files={"file": ("x.csv", data, "text/csv")})
        assert r.status_code == 403
