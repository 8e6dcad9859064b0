"""The fund's books over HTTP: entries with filters and cursor pages, balances as of a date, the proof,
closed months with their trial balances; in Chinese and English; other kinds are refused."""

from __future__ import annotations

from finance.ledger.core import Chart
from tests.console.helpers import browser, sign_in
from tests.finance.fund.helpers import program


async def inject(api, fund, program_id: str, amount: int, on: str, key: str) -> None:
    body = {"lines": [{"account": Chart.cash(program_id), "side": "debit", "amount": amount},
                      {"account": Chart.capital(program_id), "side": "credit", "amount": amount}],
            "description": "补缴资本金", "effective_date": on}
    r = await api.client.post("/fund/ledger/entries", json=body, headers={**fund.headers, "Idempotency-Key": key})
    assert r.status_code == 201, r.text


async def test_the_fund_reads_its_books_pages_filters_and_verifies(api, app):
    fund, sme = await api.org("fund", name="省风险补偿基金"), await api.org("sme")
    p = await program(api, fund, capital=1_000_000)
    for i in range(26):  # more than one page of 25
        await inject(api, fund, p["id"], 1_000 + i, "2026-02-10", f"k-{i}")
    r = await api.client.post("/fund/ledger/periods/2026-02/close", headers=fund.headers)
    assert r.status_code == 201, r.text
    async with browser(app) as zh, browser(app) as en, browser(app) as other:
        await sign_in(zh, fund)
        page = await zh.get("/console/ledger")
        assert page.status_code == 200 and "记账凭证" in page.text and "科目余额" in page.text
        assert page.text.count("补缴资本金") == 25 and 'data-testid="next-page"' in page.text
        nxt = page.text.split('data-testid="next-page"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
        second = await zh.get(nxt)
        assert second.status_code == 200 and "第一页" in second.text and 'data-testid="next-page"' not in second.text
        # A filter narrows to the month; balances as of the day before the injections show only the capital.
        feb = await zh.get("/console/ledger?from=2026-02-01&to=2026-02-28")
        assert feb.text.count("补缴资本金") == 25
        early = await zh.get("/console/ledger?as_of=2026-02-09")
        assert "截至 2026-02-09" in early.text
        bal = early.text.split('data-testid="balances"')[1].split("</table>")[0]
        assert "263.25 元" not in bal and "10,000.00 元" not in bal
        now = (await zh.get("/console/ledger")).text.split('data-testid="balances"')[1].split("</table>")[0]
        assert "10,263.25 元" in now and "借贷平衡" in now  # ¥10,000 capital (today) + 26 injections in February
        verified = await zh.get("/console/ledger/verify")
        assert "核验通过" in verified.text and 'data-testid="verify-result"' in verified.text
        periods = await zh.get("/console/ledger/periods")
        assert periods.status_code == 200 and "2026-02" in periods.text and "试算平衡表" in periods.text
        bad = await zh.get("/console/ledger?from=not-a-date")
        assert bad.status_code == 422 and 'role="alert"' in bad.text

        await sign_in(en, fund, lang="en")
        page = await en.get("/console/ledger/verify")
        assert "Journal entries" in page.text and "Verified: debits equal credits" in page.text
        assert "Trial balance" in (await en.get("/console/ledger/periods")).text
        # An SME has no books to read: the API says no and the console shows its not-found page.
        await sign_in(other, sme)
        assert (await other.get("/console/ledger")).status_code in (403, 404)
        assert (await other.get("/console/ledger/periods")).status_code in (403, 404)
