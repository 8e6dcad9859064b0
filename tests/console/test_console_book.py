"""The bank's loan book and a loan's page over HTTP (filters, overdue first, classification in words), and
guarantee invitations: the bank invites, a mismatched invitee is refused at the field, the guarantor
answers from its desk and then sees the loan it covers; in Chinese and in English."""

from __future__ import annotations

import re

from tests.console.helpers import browser, post_form, sign_in
from tests.console.scenes import overdue_90_days
from tests.finance.loans import loan_flow as lf


async def book(api):
    """One bank with an active loan left unpaid to 90 days past due and a newer loan still to be secured."""
    c = await lf.cast(api, n_assets=1)
    late = await lf.active_loan(api, c)
    other = lf.Cast(await api.org("sme", name="后起科技"), c.bank, [])
    other.assets = [await api.asset(other.sme)]
    fresh = await lf.accepted_loan(api, other)
    await overdue_90_days(api)
    return c, late, fresh


async def test_loan_book_filters_and_puts_overdue_first(api, app):
    c, late, fresh = await book(api)
    async with browser(app) as bank:
        await sign_in(bank, c.bank)
        page = (await bank.get("/console/loans")).text
        assert "贷款台账" in page and "仅看逾期" in page and 'for="f-overdue"' in page
        ids = re.findall(r'href="/console/loans/([^"/]+)"', page)
        assert ids == [late["id"], fresh["id"]]  # the overdue loan first although it is the older
        assert "2 笔贷款，未还本金合计" in page
        classification = (await lf.loan(api, c.bank, late["id"]))["classification"]
        assert classification != "normal"
        only = (await bank.get("/console/loans", params={"classification": classification})).text
        assert re.findall(r'href="/console/loans/([^"/]+)"', only) == [late["id"]]
        assert (await bank.get("/console/loans", params={"overdue": "1"})).text.count('href="/console/loans/') == 1
        pending = (await bank.get("/console/loans", params={"status": "pending_security"})).text
        assert re.findall(r'href="/console/loans/([^"/]+)"', pending) == [fresh["id"]]
        # One loan's page: schedule, overdue amount, classification in words, history.
        page = (await bank.get(f"/console/loans/{late['id']}")).text
        assert 'data-testid="schedule"' in page and 'data-testid="history"' in page and "逾期" in page
        assert re.search(r'data-testid="loan-classification">(关注|次级|可疑|损失)<', page)
        await sign_in(bank, c.bank, lang="en")
        page = (await bank.get("/console/loans", params={"overdue": "1"})).text
        assert "Loan book" in page and "Overdue only" in page and "1 loans, outstanding principal in total" in page
        assert re.search(r"<td>(Special mention|Substandard|Doubtful|Loss)</td>", page)


async def test_bank_invites_a_guarantor_who_answers_from_its_desk(api, app):
    c = await lf.cast(api, n_assets=1)
    guarantor = await api.org("guarantor", name="晋融担保")
    await api.org("insurer", name="太平洋财险山西")
    loan = await lf.accepted_loan(api, c)
    path = f"/console/loans/{loan['id']}"
    async with browser(app) as bank, browser(app) as g:
        await sign_in(bank, c.bank)
        page = (await bank.get(path)).text
        assert 'data-testid="invite-form"' in page and "晋融担保" in page and "太平洋财险山西" in page
        # A guarantor invited to insure: the API's refusal is shown at the field, in Chinese.
        r = await post_form(bank, path, f"{path}/invitations", {"org_id": guarantor.org_id, "kind": "insurance"})
        assert r.status_code == 422 and 'data-testid="error-org_id"' in r.text
        r = await post_form(bank, path, f"{path}/invitations", {"org_id": guarantor.org_id, "kind": "guarantee"})
        assert r.status_code == 303, r.text[:800]
        page = (await bank.get(r.headers["location"])).text
        assert "邀请已发出" in page and 'data-testid="invitations"' in page and "待处理" in page

        await sign_in(g, guarantor)
        desk = (await g.get("/console/cover")).text
        assert "待答复的邀请" in desk and f'href="{path}"' in desk
        assert (await post_form(g, path, f"{path}/join/guarantee", {"share": "30", "fee_rate": "1.5"})).status_code == 303
        await sign_in(g, guarantor, lang="en")
        desk = (await g.get("/console/cover")).text
        assert "Loans we cover" in desk and "Invitations to answer" in desk and "30.00%" in desk
        assert f'href="{path}"' in desk.split('data-testid="covered-loans"')[1]
        assert 'data-testid="cover-invitations"' not in desk  # answered: no longer waiting
        assert (await bank.get(path)).text.count("已接受") == 1


async def test_cover_desk_is_only_for_guarantors_and_insurers(api, app):
    sme = await api.org("sme")
    async with browser(app) as s:
        await sign_in(s, sme)
        assert (await s.get("/console/cover")).status_code == 404
        assert 'href="/console/cover"' not in (await s.get("/console/")).text
