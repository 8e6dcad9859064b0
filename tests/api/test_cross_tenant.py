"""Every route with an id, from /openapi.json, called by organisations that have nothing to do with the
object: each answers 404, whatever the verb, and nothing changes.

The world is one organisation's objects (an SME's asset, listing, deal, tech need, valuation, loan with
its bank, invited guarantor and fund programme, a ledger entry). Outsiders are fresh organisations of
every kind. A few operations are open to others by design (any user reads an asset; another
organisation bids or offers); they are named in OPEN with the reason, everything else must be 404.
"""

import re

from tests.finance.fund.helpers import agreement, program
from tests.finance.loans import loan_flow as lf
from tests.helpers import table_counts
from tests.market import helpers as mh

OUTSIDER_KINDS = ("sme", "university", "bank", "guarantor", "insurer", "evaluator", "fund")
ANY_USER = set(OUTSIDER_KINDS)
# (method, path) → kinds of outsider for which the operation is open by design, and why.
OPEN: dict[tuple[str, str], set[str]] = {
    ("GET", "/orgs/{org_id}"): ANY_USER,                                # public profile of any organisation
    ("GET", "/assets/{asset_id}"): ANY_USER,                            # the registry is public to users
    ("GET", "/assets/{asset_id}/score"): ANY_USER,
    ("POST", "/assets/{asset_id}/open-license/accept"): ANY_USER,       # open to others (409 without one)
    ("GET", "/listings/{listing_id}"): ANY_USER,                        # the market is public to users
    ("POST", "/listings/{listing_id}/offers"): ANY_USER,                # another organisation offers
    ("GET", "/listings/{listing_id}/offers"): ANY_USER,                 # a buyer sees its own (none)
    ("GET", "/tech-needs/{need_id}"): ANY_USER,
    ("GET", "/fund/programs/{program_id}"): ANY_USER,
    ("GET", "/valuations/{valuation_id}"): {"bank", "evaluator"},       # banks and evaluators read reports
    ("POST", "/valuations/{valuation_id}/certify"): {"evaluator"},      # any evaluator certifies a draft
    ("GET", "/loan-applications/{application_id}"): {"bank", "fund"},   # banks see applications, the fund all
    ("POST", "/loan-applications/{application_id}/offers"): {"bank"},   # any bank may offer (409 once taken)
    ("GET", "/loan-applications/{application_id}/offers"): {"bank", "fund"},
    # The fund sees every loan and its reads (contract: "parties, fund").
    **{("GET", p): {"fund"} for p in ("/loans/{loan_id}", "/loans/{loan_id}/schedule", "/loans/{loan_id}/history",
                                      "/loans/{loan_id}/invitations", "/loans/{loan_id}/recoveries",
                                      "/loans/{loan_id}/disposals", "/loans/{loan_id}/write-off")},
}
# The fund ledger is an area of funds and regulators, gated by kind before any object (403 to everyone
# else, as tests/finance/ledger/test_api.py asserts); between funds it is scoped and answers 404.
LEDGER_GATED = {"sme", "university", "bank", "guarantor", "insurer", "evaluator"}
# The fund reads every loan; acting on one is its bank's, so the fund may get 403 there.
SEES_BUT_MAY_NOT_ACT = {"fund"}


async def _world(api, client):
    c = await lf.cast(api)
    fund = await api.org("fund")
    prog = await program(api, fund)
    await agreement(api, fund, prog["id"], c.bank)
    loan = await lf.accepted_loan(api, c)
    guarantor = await api.org("guarantor")
    await lf.invite(api, c.bank, loan["id"], guarantor, "guarantee")
    r = await client.post(f"/loans/{loan['id']}/guarantee", json={"share_bps": 3000, "fee_rate_bps": 100},
                          headers=guarantor.headers)
    assert r.status_code == 201, r.text
    spare = await api.asset(c.sme, title="另一项专利")
    listing = await mh.listing(api, c.sme, [spare["id"]])
    buyer = await api.org("sme")
    offer = await mh.offer(api, buyer, listing["id"])
    accepted = (await client.post(f"/offers/{offer['id']}/accept", headers=c.sme.headers)).json()
    need = (await client.post("/tech-needs", json={"title": "电池", "description": "需要电池热管理"},
                              headers=c.sme.headers)).json()
    r = await client.post("/valuations", json={"asset_ids": [spare["id"]], "scenario": "transfer",
                                               "inputs": {"rd_cost": 1_000_000}},
                          headers=c.sme.headers)
    assert r.status_code == 201, r.text
    valuation = r.json()
    entries = (await client.get("/fund/ledger/entries", headers=fund.headers)).json()["data"]
    application_id = loan.get("application_id")
    ids = {"org_id": c.sme.org_id, "user_id": c.sme.user_id, "asset_id": spare["id"], "listing_id": listing["id"],
           "deal_id": accepted["deal"]["id"], "need_id": need["id"], "valuation_id": valuation["id"],
           "loan_id": loan["id"], "program_id": prog["id"], "entry_id": entries[0]["id"],
           "application_id": application_id}
    # Two routes call different things offer_id.
    ids["/offers/"] = offer["id"]
    ids["/loan-offers/"] = loan.get("offer_id")
    return ids


def _open(method, path, open_to=OPEN):
    # The fund sees every loan, so every read of a loan (schedule, charges, consents...) too.
    loan_read = {"fund"} if method == "GET" and path.startswith("/loans/{loan_id}") else set()
    return open_to.get((method, path), set()) | loan_read


def _object_path(path):
    """``/assets/{asset_id}/open-license`` → ``/assets/{asset_id}``: the object the operation acts on."""
    return re.match(r"^(/[^{]*\{[^}]+\})", path).group(1)


# Path ids named alike on different objects: the value depends on the path's first segment.
PATH_DEPENDENT = {"offer_id": ("/loan-offers/", "/offers/"), "claim_id": ("/subsidy-claims/", "/compensation-claims/")}


def _id_for(name, path, ids):
    if name in PATH_DEPENDENT:
        first, other = PATH_DEPENDENT[name]
        return ids.get(first) if path.startswith(first) else ids.get(other)
    return ids.get(name)


def _url(path, ids):
    def sub(m):
        return _id_for(m.group(1), path, ids)
    return re.sub(r"\{([^}]+)\}", sub, path)


async def _gated_by_kind(client, method, path, party, body) -> bool:
    """A 403 that says nothing of the object: the same call on ids that exist nowhere answers the same 403
    (the operation is closed to the caller's kind of organisation, like the fund ledger)."""
    nowhere = re.sub(r"\{([^}]+)\}", "zz_nowhere", path)
    r = await client.request(method, nowhere, json=body, headers={**party.headers, "Idempotency-Key": "nowhere"}
                             if method == "POST" else party.headers)
    return r.status_code == 403


async def check_outsiders(api, client, app, ids, open_to=OPEN, only=None) -> int:
    """Call every operation whose path ids are all in ``ids`` (and, with ``only``, names one of those) as
    an organisation of every kind that has nothing to do with the objects; returns how many were checked."""
    outsiders = [await api.org(kind) for kind in OUTSIDER_KINDS]
    operations = []
    for path, ops in app.openapi()["paths"].items():
        path = path.removeprefix("/api/v1")
        names = re.findall(r"\{([^}]+)\}", path)
        if not names or not all(_id_for(n, path, ids) for n in names):
            continue
        if only is not None and not set(names) & only:
            continue
        operations += [(method.upper(), path) for method in ops]
    before = await table_counts(app)
    checked, failures = 0, []
    for method, path in operations:
        url = _url(path, ids)
        for party in outsiders:
            if party.kind in _open(method, path, open_to):
                continue
            body = {} if method in ("POST", "PATCH", "PUT") else None
            r = await client.request(method, url, json=body, headers={**party.headers, "Idempotency-Key": f"x{checked}"}
                                     if method == "POST" else party.headers)
            if r.status_code == 422:
                # The body is checked before the object; a 422 must not reveal the object.
                assert "not found" not in r.text
                continue
            # An object the outsider may read (a public asset, listing, programme, or any loan for the
            # fund) is not hidden from it: acting on it without the right is 403, asking what its state does
            # not allow is 409 (a draft valuation's report); anything else is 404.
            readable = party.kind in open_to.get(("GET", _object_path(path)), set()) or (
                party.kind in SEES_BUT_MAY_NOT_ACT and path.startswith("/loans/")) or (
                party.kind in LEDGER_GATED and path.startswith("/fund/ledger/"))
            allowed = {403, 404, 409} if readable else {404}
            if r.status_code == 403 and not readable and await _gated_by_kind(client, method, path, party, body):
                allowed = {403}
            if r.status_code not in allowed:
                failures.append((method, path, party.kind, r.status_code, r.text[:120]))
            checked += 1
    assert failures == [], "\n".join(map(str, failures))
    assert await table_counts(app) == before
    return checked


async def test_every_route_with_an_id_is_404_to_outsiders_and_changes_nothing(api, client, app):
    ids = await _world(api, client)
    checked = await check_outsiders(api, client, app, ids)
    assert checked >= 150
