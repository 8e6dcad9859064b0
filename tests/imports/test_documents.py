"""Documents: each role's access to a loan's papers, content checks, the size cap, sha256, dedup, soft delete,
and the S3 backend."""

from __future__ import annotations

import hashlib
import io

import pytest

from kernel import storage
from kernel.documents import Document
from tests.finance.loans.loan_flow import accepted_loan, cast
from tests.helpers import audit_count, count

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 40


async def attach(api, party, object_type, object_id, data=PDF, kind="loan_contract", name="合同.pdf"):
    return await api.client.post("/documents", files={"file": (name, data)},
                                 data={"object_type": object_type, "object_id": object_id, "kind": kind},
                                 headers=party.headers)


async def test_a_loans_documents_are_seen_by_its_parties_and_the_fund_only(app, api):
    c = await cast(api, n_assets=1)
    loan = await accepted_loan(api, c)
    r = await attach(api, c.bank, "loan", loan["id"])
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert (doc["size"], doc["content_type"], doc["kind"]) == (len(PDF), "application/pdf", "loan_contract")
    # The borrower reads it and attaches too; the fund reads it.
    got = await api.client.get(f"/documents/{doc['id']}/content", headers=c.sme.headers)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "attachment" in got.headers["content-disposition"]
    assert (await attach(api, c.sme, "loan", loan["id"], PNG, "pledge_contract", "x.png")).status_code == 201
    fund = await api.org("fund")
    listed = await api.client.get("/documents", params={"object_type": "loan", "object_id": loan["id"]},
                                  headers=fund.headers)
    assert listed.status_code == 200 and len(listed.json()["data"]) == 2
    assert (await attach(api, fund, "loan", loan["id"])).status_code == 403  # sees, is not a party
    # Another bank, another SME: the loan and its documents do not exist for them.
    for outsider in (await api.org("bank"), await api.org("sme")):
        assert (await api.client.get(f"/documents/{doc['id']}/content", headers=outsider.headers)).status_code == 404
        assert (await api.client.get(f"/documents/{doc['id']}", headers=outsider.headers)).status_code == 404
        assert (await api.client.get("/documents", params={"object_type": "loan", "object_id": loan["id"]},
                                     headers=outsider.headers)).status_code == 404
        assert (await attach(api, outsider, "loan", loan["id"])).status_code == 404
    assert await count(app, Document) == 2


async def test_content_not_name_decides_and_the_cap_holds(app, api):
    c = await cast(api, n_assets=1)
    loan = await accepted_loan(api, c)
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 200
    assert (await attach(api, c.bank, "loan", loan["id"], exe, name="report.pdf")).status_code == 415
    html = b"<html><script>alert(1)</script></html>"
    assert (await attach(api, c.bank, "loan", loan["id"], html, name="scan.png")).status_code == 415
    big = PDF + b"0" * (20 * 1024 * 1024)
    r = await attach(api, c.bank, "loan", loan["id"], big)
    assert r.status_code == 413
    assert (await attach(api, c.bank, "loan", loan["id"], kind="claim_evidence")).status_code == 422
    assert (await attach(api, c.bank, "spaceship", loan["id"])).status_code == 422
    assert await count(app, Document) == 0


async def test_same_bytes_are_stored_once_and_a_repeat_is_the_same_document(app, api):
    c = await cast(api, n_assets=1)
    loan = await accepted_loan(api, c)
    first = await attach(api, c.bank, "loan", loan["id"])
    again = await attach(api, c.bank, "loan", loan["id"], name="copy.pdf")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    other_kind = await attach(api, c.bank, "loan", loan["id"], kind="pledge_registration")
    assert other_kind.status_code == 201 and other_kind.json()["sha256"] == first.json()["sha256"]
    backend = storage.storage()
    assert isinstance(backend, storage.LocalStorage)
    blobs = [p for p in backend.root.rglob("*") if p.is_file() and p.name == first.json()["sha256"]]
    assert len(blobs) == 1


async def test_soft_delete_hides_keeps_and_audits(app, api):
    c = await cast(api, n_assets=1)
    loan = await accepted_loan(api, c)
    doc = (await attach(api, c.bank, "loan", loan["id"])).json()
    assert (await api.client.delete(f"/documents/{doc['id']}", headers=c.sme.headers)).status_code == 403
    assert (await api.client.delete(f"/documents/{doc['id']}", headers=c.bank.headers)).status_code == 204
    assert (await api.client.get(f"/documents/{doc['id']}/content", headers=c.bank.headers)).status_code == 404
    listed = await api.client.get("/documents", params={"object_type": "loan", "object_id": loan["id"]},
                                  headers=c.bank.headers)
    assert listed.json()["data"] == []
    assert await count(app, Document) == 1  # kept
    assert await audit_count(app, "document.deleted", doc["id"]) == 1
    assert storage.storage().exists(doc["sha256"])


async def test_an_assets_documents_are_its_owners(app, api):
    sme = await api.org("sme")
    asset = await api.asset(sme)
    assert (await attach(api, sme, "asset", asset["id"], kind="other")).status_code == 201
    other = await api.org("sme")
    r = await api.client.get("/documents", params={"object_type": "asset", "object_id": asset["id"]},
                             headers=other.headers)
    assert r.status_code == 404


def test_the_s3_backend_stores_content_addressed_blobs():
    moto = pytest.importorskip("moto")
    import boto3

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="ipm-docs")
        s3 = storage.S3Storage("s3://ipm-docs/prod/files", client=client)
        sha = s3.put(PDF)
        assert sha == hashlib.sha256(PDF).hexdigest()
        assert s3.exists(sha) and s3.get(sha) == PDF
        assert s3.put(PDF) == sha  # a second put finds it: never overwritten
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="ipm-docs")["Contents"]]
        assert keys == [f"prod/files/{sha[:2]}/{sha}"]
        assert not s3.exists("0" * 64)
        with pytest.raises(Exception) as missing:
            s3.get("0" * 64)
        assert type(missing.value).__name__ == "NotFound"
        assert io.BytesIO(s3.get(sha)).read(5) == b"%PDF-"


async def test_documents_through_the_api_on_s3(app, api):
    moto = pytest.importorskip("moto")
    import boto3

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="ipm")
        with storage.use(storage.S3Storage("s3://ipm/docs", client=client)):
            c = await cast(api, n_assets=1)
            loan = await accepted_loan(api, c)
            doc = (await attach(api, c.bank, "loan", loan["id"])).json()
            got = await api.client.get(f"/documents/{doc['id']}/content", headers=c.sme.headers)
            assert got.content == PDF
            assert client.head_object(Bucket="ipm", Key=f"docs/{doc['sha256'][:2]}/{doc['sha256']}")
