"""The OpenAPI document, completed in one pass over what FastAPI generates, so every route — including
those added later — is documented by the same rules without touching its schemas:

- error responses on every operation with a ``Problem`` schema (problem+json; ``code`` is an enum of the
  stable codes), FastAPI's default 422 shape replaced;
- an example on every request body (``api/examples.py``, keyed by schema name), with the 元 figures;
- "amount in fen (1/100 元)" on every money field and "basis points" on every ``*_bps`` field, by name
  (``kernel/fields.py``); ``status``/``kind`` fields as enums (the workflow's states, else the column's
  CHECK constraint: ``ENUMS``);
- ``Idempotency-Key`` on every POST; clean schema names; tag descriptions; a description per operation
  saying who may call it and what changes;
- the media types of ``format=csv|xlsx|png|svg`` downloads.
``tests/api/test_openapi.py`` walks ``/openapi.json`` and fails on anything missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api import examples
from finance.inbox.messages import MESSAGES as INBOX_TITLES
from kernel import errors, fields, tabular
from kernel.db import metadata
from kernel.workflow import Workflow

PROBLEM = "application/problem+json"
FEN = "Amount in fen (1/100 元, integer)."
BPS = "In basis points (1/100 of a percent: 435 = 4.35%)."

TAGS: dict[str, str] = {
    "accounts": "Sign-up, tokens and organisations. SMEs and universities register themselves; the platform "
                "admin onboards banks, guarantors, insurers, evaluators, the fund and the regulator; "
                "organisation admins add their users.",
    "platform": "Health, readiness, the business clock and the workflow tables. Operators, every user; the "
                "platform admin advances a manual clock.",
    "assets": "The IP registry: patents, trademarks, copyrights and their encumbrances. Owners (SMEs, "
              "universities) register and update; every user searches.",
    "market": "Listings, offers, licenses, open licenses, auctions and technology needs. Rights holders sell "
              "and license; other SMEs and universities buy, bid and take licenses.",
    "deals": "Paying for a deal: the buyer pays through the payment gateway; the deal is then recorded.",
    "valuation": "Indicator scores and appraisals. Owners, banks and evaluators request; evaluators certify; "
                 "banks read the borrowing base.",
    "loans": "IP-pledge loans: SMEs apply, banks offer and service, guarantors and insurers cover, the fund "
             "watches; borrowers repay.",
    "fund": "The risk-compensation fund: programmes, bank agreements, cover, compensation and recovery, "
            "exposure and stress tests. The fund administrator; regulators read.",
    "fund ledger": "The fund's double-entry, append-only ledger. The fund administrator posts; the fund and "
                   "regulators read and verify.",
    "subsidies": "The LPR table, subsidy policies and claims. Regulators set policies and decide claims; SMEs, "
                 "guarantors and insurers claim.",
    "whitelists": "The white list: firms consent to be recommended; the regulator publishes lists of them with "
                  "their IP indicators; banks, the fund and regulators read them.",
    "statistics": "The province's statistics as JSON, CSV, XLSX or charts. Regulators, the fund and the admin.",
    "payments": "The payment gateway: provider webhooks (signed) and payouts.",
    "lists": "Worklists: everything an organisation owns or must act on (loans, claims, guarantees, "
             "disposals, programmes, valuations), each role seeing its own. Every signed-in user.",
    "events": "Events about objects the caller's organisation may see, and signed webhook deliveries of them. "
              "Every user reads events; organisation admins manage endpoints.",
    "inbox": "What the caller's organisation must act on now, with the call that does it. Every user.",
    "approvals": "Four-eyes approvals: a maker's protected action waits for a checker or organisation admin "
                 "of the same organisation, other than the maker, to approve or reject it.",
    "servicing": "Loan servicing: pledge consents, restructures, charges, escrows and payoffs. Lending banks "
                 "propose and decide; borrowers ask and accept; parties read.",
    "audit": "The audit trail and object histories. Admins and regulators read all; organisation admins "
             "read their own organisation's; parties read the history of their objects.",
    "imports": "Bulk imports: a patent list (CNIPA-style export, Chinese or English headers) by its owner, or a "
               "bank's existing pledge-loan book once the platform admin approves it. The worker runs them in "
               "chunks; the job shows progress and the refused rows come back as CSV/XLSX.",
    "documents": "Files attached to the objects they prove (appraisal reports, pledge registration notices, "
                 "contracts, claim evidence): PDF, PNG, JPEG or XLSX by content, at most 20 MiB, seen by the "
                 "object's parties only."
}

DISPOSAL_STATES = ["open", "sold", "unsold", "cancelled", "settled"]  # the lot's, until a disposal settles
# Schema property → where its values come from: ``(workflow name, "table.column" or the values)``; the
# workflow's states once it is registered in ``kernel.workflow``, else the column's CHECK constraint.
ENUMS: dict[tuple[str, str], tuple[str | None, str | list[str]]] = {
    ("ApplicationOut", "status"): ("loan_application", "loan_applications.status"),
    ("AssetOut", "kind"): (None, "assets.kind"), ("AssetOut", "status"): ("asset", "assets.status"),
    ("AssetSummaryOut", "kind"): (None, "assets.kind"), ("AssetSummaryOut", "status"): ("asset", "assets.status"),
    ("PerAssetOut", "kind"): (None, "assets.kind"),
    ("AuctionOut", "status"): ("auction", "auctions.status"),
    ("DealOut", "status"): ("deal", "deals.status"), ("DealOut", "mode"): (None, "listings.mode"),
    ("ListingOut", "status"): ("listing", "listings.status"), ("ListingOut", "mode"): (None, "listings.mode"),
    ("ListingOfferOut", "status"): ("offer", "offers.status"),
    ("LoanOfferOut", "status"): ("loan_offer", "loan_offers.status"),
    ("LicenseOut", "kind"): (None, "licenses.kind"), ("LicenseOut", "status"): ("license", "licenses.status"),
    ("OpenLicenseOut", "status"): ("open_license", "open_license_declarations.status"),
    ("RoyaltyReportOut", "kind"): (None, "royalty_reports.kind"),
    ("RoyaltyReportOut", "status"): (None, "royalty_reports.status"),
    ("EncumbranceOut", "kind"): (None, "encumbrances.kind"),
    ("LoanOut", "status"): ("loan", "loans.status"), ("LoanOut", "classification"): (None, "loans.classification"),
    ("DisposalOut", "loan_status"): ("loan", "loans.status"),
    ("DisposalOut", "status"): ("disposal", DISPOSAL_STATES),
    ("DisposalRowOut", "status"): ("disposal", DISPOSAL_STATES),
    ("DisposalRowOut", "auction_status"): ("auction", "auctions.status"),
    ("InstallmentOut", "status"): (None, "loan_installments.status"),
    ("RepaymentOut", "status"): ("repayment", "loan_repayments.status"),
    ("RepaymentRecordOut", "status"): ("repayment", "loan_repayments.status"),
    ("CompensationClaimOut", "status"): ("compensation_claim", "compensation_claims.status"),
    ("SubsidyClaimOut", "status"): ("subsidy_claim", "subsidy_claims.status"),
    ("PolicyOut", "kind"): (None, "subsidy_policies.kind"), ("PolicyOut", "basis"): (None, "subsidy_policies.basis"),
    ("ValuationOut", "status"): ("valuation", "valuations.status"),
    ("ValuationOut", "scenario"): (None, "valuations.scenario"),
    ("CollateralOut", "valuation_status"): ("valuation", "valuations.status"),
    ("NeedOut", "status"): (None, "tech_needs.status"), ("OrgOut", "kind"): (None, "orgs.kind"),
    ("UserOut", "role"): (None, "users.role"), ("FeedbackOut", "verdict"): (None, "match_feedback.verdict"),
    ("PaymentOut", "status"): ("payment", "payments.status"),
    ("WriteOffOut", "status"): ("loan", "loans.status"),
    ("AssetRef", "kind"): (None, "assets.kind"), ("OrgPublicOut", "kind"): (None, "orgs.kind"),
    ("ClaimSummary", "status"): ("compensation_claim", "compensation_claims.status"),
    ("RecoveryOut", "status"): ("fund_recovery", "fund_recoveries.status"),
    ("DisposalSummary", "status"): ("disposal", DISPOSAL_STATES),
    ("DisposalSummary", "auction_status"): ("auction", "auctions.status"),
    ("GuaranteeSummary", "loan_status"): ("loan", "loans.status"),
    ("LoanSummary", "status"): ("loan", "loans.status"),
    ("PolicySummary", "loan_status"): ("loan", "loans.status"),
    ("ValuationSummary", "status"): ("valuation", "valuations.status"),
    ("EndpointOut", "status"): (None, ["enabled", "disabled"]),
    ("EndpointWithSecret", "status"): (None, ["enabled", "disabled"]),
    ("ValuationSummaryOut", "status"): ("valuation", "valuations.status"),
    ("ChargeOut", "kind"): (None, "loan_charges.kind"),
    ("ChargeOut", "status"): ("loan_charge", "loan_charges.status"),
    ("ConsentOut", "status"): ("pledge_consent", "pledge_consents.status"),
    ("EscrowOut", "status"): ("loan_escrow", ["held", "released"]),
    ("RestructureOut", "kind"): (None, "loan_restructures.kind"),
    ("RestructureOut", "status"): ("loan_restructure", "loan_restructures.status"),
    ("MarginCallOut", "status"): ("margin_call", "margin_calls.status"),
    ("CollateralAdditionOut", "status"): ("collateral_addition", ["requested", "registered", "withdrawn"]),
    ("ReleaseOut", "status"): ("collateral_release", ["requested", "approved", "rejected"]),
    ("CollateralAssetOut", "status"): (None, "assets.status"),
    ("DeliveryOut", "status"): ("webhook_delivery", ["pending", "delivered", "failed", "skipped"]),
    ("WhitelistOut", "status"): ("whitelist", "whitelists.status"),
    ("WhitelistConsentOut", "status"): ("whitelist_consent", "whitelist_consents.status"),
    ("ImportOut", "status"): ("import_job", "import_jobs.status"),
    ("DocumentOut", "kind"): (None, "documents.kind"),
}
# status/kind fields that still need their source (the test lets only these through). Empty: every
# status/kind field of every response lists its values; a new one must be mapped here when it lands.
PENDING_ENUMS: frozenset[tuple[str, str]] = frozenset()
# Fixed values that no table holds.
FIXED_ENUMS: dict[tuple[str, str], list[str]] = {
    ("HealthOut", "status"): ["ok"], ("ReadyOut", "status"): ["ok", "degraded"],
    ("ClockOut", "mode"): ["system", "manual"], ("EntryOut", "kind"): ["manual", "system", "reversal"],
    ("CollateralAlertOut", "kind"): ["shortfall", "stale_valuation", "lapsed_asset"],
    ("ShareOut", "party"): ["fund", "guarantor", "insurer", "bank"],
    ("RecoveryOut", "party"): ["fund", "guarantor", "insurer", "bank", "borrower"],
    ("WriteOffRowOut", "party"): ["fund", "guarantor", "insurer", "bank"],
    ("PeriodOut", "status"): ["closed"],  # a period row exists only once its month is closed
    ("InboxItem", "kind"): list(INBOX_TITLES),  # every kind has its title in the catalogue
    ("ImportOut", "kind"): ["assets", "loans"],
}
# FastAPI names a duplicated class by its module path; these read better. Others get the area's name.
RENAMES = {"finance__loans__schemas__OfferIn": "LoanOfferIn", "finance__loans__schemas__OfferOut": "LoanOfferOut",
           "market__trading__schemas__OfferIn": "ListingOfferIn",
           "market__trading__schemas__OfferOut": "ListingOfferOut",
           "finance__fund__schemas__ClaimOut": "CompensationClaimOut",
           "finance__subsidies__schemas__ClaimOut": "SubsidyClaimOut"}
HTTP_CODES = ("bad_request", "method_not_allowed", "payload_too_large", "unsupported_media_type", "internal_error")
ERROR_TEXT = {
    400: "The body could not be read at all, e.g. it is not UTF-8 (`bad_request`).",
    401: "Not authenticated: no, expired or revoked bearer token (`not_authenticated`).",
    403: "The caller's organisation or role may not do this (`forbidden`).",
    404: "No such object, or another organisation's private object (`not_found`).",
    409: "Refused by a rule: `invalid_state`, `asset_encumbered`, `limit_exceeded`, `already_exists` or "
         "`idempotency_conflict`. Nothing was changed.",
    413: "The request body is larger than allowed (`payload_too_large`).",
    415: "The file is not of a type accepted here, judged by its content (`unsupported_media_type`).",
    422: "The request is not valid (`validation_error`); `errors` lists each field.",
    429: "Too many requests (`rate_limited`); see `Retry-After`.",
}
FILE_TYPES = {"csv": "text/csv", "xlsx": tabular.XLSX_MEDIA_TYPE, "png": "image/png", "svg": "image/svg+xml"}


def stable_codes() -> list[str]:
    """Every ``code`` a problem can carry: each DomainError subclass's, and the HTTP-level ones."""
    found: set[str] = set(HTTP_CODES)
    stack: list[type[errors.DomainError]] = [errors.DomainError]
    while stack:
        cls = stack.pop()
        found.add(cls.code)
        stack.extend(cls.__subclasses__())
    return sorted(found)


def _problem_schema() -> dict[str, Any]:
    return {"title": "Problem", "type": "object", "required": ["type", "title", "status", "detail", "code"],
            "description": "RFC 9457 problem details. `code` is stable; `title` and `detail` follow "
                           "`Accept-Language` (zh-CN or en).",
            "properties": {
                "type": {"type": "string", "example": "urn:ipm:problem:invalid_state"},
                "title": {"type": "string", "example": "Not allowed in the current state"},
                "status": {"type": "integer", "example": 409},
                "detail": {"type": "string", "example": "loan ln_01HZX3 is repaid; disburse is not allowed now"},
                "code": {"type": "string", "enum": stable_codes()},
                "errors": {"type": "array", "items": {
                    "type": "object", "required": ["loc", "msg"],
                    "properties": {"loc": {"type": "array", "items": {"anyOf": [{"type": "string"},
                                                                                {"type": "integer"}]}},
                                   "msg": {"type": "string"}}}},
            }, "additionalProperties": True}


def _check_values(column: str) -> list[str]:
    table_name, column_name = column.split(".")
    table = metadata.tables[table_name]
    for constraint in table.constraints:
        if isinstance(constraint, sa.CheckConstraint):
            text = str(constraint.sqltext)
            m = re.search(rf"\b{column_name} IN \(([^)]*)\)", text)
            if m:
                return re.findall(r"'([^']*)'", m.group(1))
    raise LookupError(f"no CHECK ({column_name} IN ...) on {table_name}")


def enum_values(schema: str, prop: str) -> list[str] | None:
    if (schema, prop) in FIXED_ENUMS:
        return FIXED_ENUMS[(schema, prop)]
    if (schema, prop) not in ENUMS:
        return None
    workflow, column = ENUMS[(schema, prop)]
    if workflow and workflow in Workflow.registry:
        return list(Workflow.registry[workflow].states)
    return list(column) if isinstance(column, list) else _check_values(column)


def _rename_schemas(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    ops = {op.get("operationId", ""): op for _, _, op in _operations(spec)}
    names: dict[str, str] = {}
    for name in list(schemas):
        new = RENAMES.get(name)
        if new is None and "__" in name:
            parts = name.split("__")
            new = parts[-3].rstrip("s").capitalize() + parts[-1] if len(parts) >= 3 else parts[-1]
        if new is None and name.startswith("Body_") and name[5:] in ops:
            func = name[5:].split("_api_v1_")[0]
            new = "".join(w.capitalize() for w in func.split("_")) + "Form"
        if new and new not in schemas:
            names[name] = new
            schemas[new] = schemas.pop(name)
            schemas[new]["title"] = new

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in names:
                node["$ref"] = "#/components/schemas/" + names[ref.rsplit("/", 1)[-1]]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(spec)


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, op


def _is_integer(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "integer" or any(p.get("type") == "integer" for p in prop.get("anyOf", []))


def _describe(prop: dict[str, Any], note: str, word: str) -> None:
    text = prop.get("description", "")
    if word not in text:
        prop["description"] = f"{text.rstrip('. ')}. {note}" if text else note


def _annotate_fields(spec: dict[str, Any]) -> None:
    for schema_name, schema in spec["components"]["schemas"].items():
        for prop_name, prop in (schema.get("properties") or {}).items():
            if _is_integer(prop):
                kind = fields.kind_of(prop_name, schema_name)
                if kind == "money":
                    _describe(prop, FEN, "fen (1/100 元")
                elif kind == "bps":
                    _describe(prop, BPS, "basis points")
            values = enum_values(schema_name, prop_name)
            if values is not None and "enum" not in prop:
                if "anyOf" in prop:
                    prop["anyOf"] = [{"type": "string", "enum": values} if p.get("type") == "string" else p
                                     for p in prop["anyOf"]]
                else:
                    prop["enum"] = values
    for _, _, op in _operations(spec):
        for param in op.get("parameters", []):
            if _is_integer(param.get("schema", {})):
                kind = fields.kind_of(param["name"])
                if kind == "money":
                    _describe(param, FEN, "fen (1/100 元")
                elif kind == "bps":
                    _describe(param, BPS, "basis points")


def _body_schema_name(op: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    for media in op.get("requestBody", {}).get("content", {}).values():
        schema = media.get("schema", {})
        refs = [schema.get("$ref")] + [p.get("$ref") for p in schema.get("anyOf", [])]
        for ref in refs:
            if ref:
                return ref.rsplit("/", 1)[-1], media
    return None


def _complete_operations(spec: dict[str, Any]) -> None:
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for path, method, op in _operations(spec):
        responses = op.setdefault("responses", {})
        statuses = [422]
        if op.get("security"):
            statuses += [401, 403]
        elif "/auth/" in path:
            statuses.append(401)  # wrong credentials, or a refresh token that is expired or revoked
        if "requestBody" in op or path.endswith("/payments/webhook"):  # the webhook reads its raw body
            statuses.append(400)
        if "multipart/form-data" in op.get("requestBody", {}).get("content", {}):
            statuses.append(415)  # an upload is judged by its bytes (kernel.uploads)
        if "{" in path:
            statuses.append(404)
        if method != "get":
            statuses += [409, 413]
        if path.endswith("/auth/token"):
            statuses.append(429)
        for status in statuses:
            responses[str(status)] = {"description": ERROR_TEXT[status],
                                      "content": {PROBLEM: {"schema": problem_ref}}}
        for param in op.get("parameters", []):
            if param["name"] == "format" and param.get("in") == "query":
                values: list[str] = param["schema"].get("enum") or next(
                    (p.get("enum") for p in param["schema"].get("anyOf", []) if p.get("enum")), [])
                content = responses.setdefault("200", {"description": "OK"}).setdefault("content", {})
                for v in values:
                    if v in FILE_TYPES:
                        content.setdefault(FILE_TYPES[v], {"schema": {"type": "string", "format": "binary"}})
        for param in op.get("parameters", []):
            if param["in"] == "header" and param["name"].lower() == "idempotency-key":
                param["name"] = "Idempotency-Key"  # the header's documented spelling
        if method == "post" and not any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])):
            op.setdefault("parameters", []).append({
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "Makes the call safe to retry: the same key with the same body replays the first "
                               "response; with another body it answers 409 `idempotency_conflict`. Scoped to the "
                               "caller's organisation, kept at least 24 h."})
        found = _body_schema_name(op)
        if found:
            name, media = found
            if name in examples.EXAMPLES:
                media["example"] = examples.EXAMPLES[name]
                note = examples.MONEY_NOTES.get(name)
                if note:
                    op["requestBody"]["description"] = f"Example money: {note}. Money fields are fen."
        op["description"] = _operation_description(method, op)


_WHO = re.compile(r"\(([^()]*)\)\s*$")


def _operation_description(method: str, op: dict[str, Any]) -> str:
    """Who may call (the summary's closing parentheses say it) and what changes; any docstring follows."""
    existing = op.get("description", "")
    if "**Who may call:**" in existing:
        return existing
    summary = op.get("summary", "")
    m = _WHO.search(summary)
    who = m.group(1) if m else ("anyone" if not op.get("security") else "any signed-in user")
    if method == "get":
        changes = "nothing: a read. Another organisation's private objects answer 404."
    else:
        what = _WHO.sub("", summary).strip().rstrip(".")
        changes = (f"{what[:1].lower() + what[1:]}, in one transaction with its audit record: on any error "
                   "nothing changes.")
    text = f"**Who may call:** {who}.\n\n**What changes:** {changes}"
    return f"{text}\n\n{existing}" if existing else text


def build(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                       tags=[{"name": n, "description": d} for n, d in TAGS.items()])
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _rename_schemas(spec)
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas["Problem"] = _problem_schema()
    _annotate_fields(spec)
    _complete_operations(spec)
    return spec


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it
