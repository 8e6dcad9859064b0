"""/openapi.json says everything a client needs, for every route (including ones added later).

Each check lists every offender with what to do about it, so a new route fails here with a clear message.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from accounts.credit_code import normalise_credit_code
from api import examples
from api.openapi import PENDING_ENUMS, enum_values
from kernel import fields
from market.numbers import normalise_number

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
async def spec(app) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        r = await c.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _ops(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def _is_integer(prop: dict[str, Any]) -> bool:
    return prop.get("type") == "integer" or any(p.get("type") == "integer" for p in prop.get("anyOf", []))


def _has_enum(prop: dict[str, Any]) -> bool:
    return "enum" in prop or "$ref" in prop or any("enum" in p or "$ref" in p for p in prop.get("anyOf", [])) \
        or "enum" in prop.get("items", {})


def _fail(problems: list[str], what: str) -> None:
    assert not problems, f"{len(problems)} {what}:\n  " + "\n  ".join(problems)


def test_every_operation_declares_its_errors_as_problems(spec):
    problem = spec["components"]["schemas"]["Problem"]
    codes = set(problem["properties"]["code"]["enum"])
    assert {"validation_error", "not_authenticated", "forbidden", "not_found", "invalid_state", "asset_encumbered",
            "idempotency_conflict", "limit_exceeded", "rate_limited", "already_exists"} <= codes
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    missing = []
    for path, method, op in _ops(spec):
        need = {"422"} | ({"401", "403"} if op.get("security") else set()) | ({"404"} if "{" in path else set()) \
            | ({"409"} if method != "get" else set())
        for status in sorted(need):
            content = op["responses"].get(status, {}).get("content", {})
            if content.get("application/problem+json", {}).get("schema", {}).get("$ref") != \
                    "#/components/schemas/Problem":
                missing.append(f"{method.upper()} {path}: {status} without the Problem schema")
    _fail(missing, "operations without their error responses (api/openapi.py adds them)")


def test_every_request_body_has_a_valid_realistic_example(spec, app):
    missing = []
    for path, method, op in _ops(spec):
        for media_type, media in op.get("requestBody", {}).get("content", {}).items():
            schema = media.get("schema", {})
            ref = schema.get("$ref") or next((p["$ref"] for p in schema.get("anyOf", []) if "$ref" in p), "")
            if "example" not in media and ref.rsplit("/", 1)[-1] not in examples.PENDING:
                missing.append(f"{method.upper()} {path} ({media_type}): no example for schema "
                               f"{ref.rsplit('/', 1)[-1]!r}: add one to api/examples.py EXAMPLES")
    _fail(missing, "request bodies without an example")

    # Each example validates against the model the route really parses.
    models: dict[str, type[BaseModel]] = {}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.body_field is not None:
            model = route.body_field.field_info.annotation
            for candidate in (model, *getattr(model, "__args__", ())):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    models[f"{route.methods and sorted(route.methods)[0].lower()} {route.path_format}"] = candidate
    invalid = []
    for path, method, op in _ops(spec):
        model = models.get(f"{method} {path}")
        media = next(iter(op.get("requestBody", {}).get("content", {}).values()), None)
        if model is None or media is None or "example" not in media:
            continue
        try:
            model.model_validate(media["example"])
        except Exception as exc:
            invalid.append(f"{method.upper()} {path}: {exc}")
    _fail(invalid, "examples that their own model refuses")

    # Real check characters and Chinese titles.
    assert normalise_credit_code(examples.EXAMPLES["RegisterIn"]["credit_code"]) == \
        examples.EXAMPLES["RegisterIn"]["credit_code"]
    asset = examples.EXAMPLES["AssetIn"]
    assert normalise_number(asset["kind"], asset["number"]) == asset["number"]
    assert re.search(r"[\u4e00-\u9fff]", asset["title"]) and re.search(r"[\u4e00-\u9fff]",
                                                                         examples.EXAMPLES["ListingIn"]["title"])
    for name in examples.MONEY_NOTES:
        assert name in examples.EXAMPLES and "¥" in examples.MONEY_NOTES[name]


def test_money_and_basis_points_say_their_unit(spec):
    unknown, undocumented = [], []
    for schema_name, schema in spec["components"]["schemas"].items():
        for name, prop in (schema.get("properties") or {}).items():
            if not _is_integer(prop):
                continue
            kind = fields.kind_of(name, schema_name)
            text = prop.get("description", "")
            if kind == "unknown":
                unknown.append(f"{schema_name}.{name}: add it to kernel/fields.py MONEY or NOT_MONEY")
            elif kind == "money" and "fen (1/100 元" not in text:
                undocumented.append(f"{schema_name}.{name} (money) does not say fen")
            elif kind == "bps" and "basis points" not in text:
                undocumented.append(f"{schema_name}.{name} does not say basis points")
    _fail(unknown, "integer fields neither money nor known as plain numbers")
    _fail(undocumented, "fields without their unit")
    loan = spec["components"]["schemas"]["LoanOut"]["properties"]
    assert "fen (1/100 元" in loan["principal"]["description"]


def test_status_and_kind_fields_are_enums(spec):
    plain = []
    for schema_name, schema in spec["components"]["schemas"].items():
        for name, prop in (schema.get("properties") or {}).items():
            if (name in {"status", "kind"} or name.endswith(("_status", "_kind"))) and not _is_integer(prop) \
                    and not _has_enum(prop) and (schema_name, name) not in PENDING_ENUMS:
                plain.append(f"{schema_name}.{name}: map it in api/openapi.py ENUMS (workflow, table.column)")
    _fail(plain, "status/kind fields without their values")
    loan = spec["components"]["schemas"]["LoanOut"]["properties"]["status"]["enum"]
    assert {"pending_security", "active", "overdue", "defaulted", "compensated", "disposing", "repaid",
            "written_off"} <= set(loan)
    assert enum_values("LoanOut", "status") == loan


def test_posts_document_idempotency_key_and_names_are_clean(spec):
    missing = [f"POST {path}" for path, method, op in _ops(spec) if method == "post"
               and not any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op.get("parameters", []))]
    _fail(missing, "POSTs without Idempotency-Key")
    leaked = [n for n in spec["components"]["schemas"] if "__" in n or n.startswith("Body_") or "-" in n]
    _fail(leaked, "schema names leaking module paths (give the class a unique name or add to RENAMES)")


def test_tags_and_operations_are_described(spec):
    described = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    bare = []
    for path, method, op in _ops(spec):
        for tag in op.get("tags", []):
            if len(described.get(tag, "")) < 30:
                bare.append(f"tag {tag!r} ({method.upper()} {path}): describe it in api/openapi.py TAGS")
        text = op.get("description", "")
        if "**Who may call:**" not in text or "**What changes:**" not in text or not op.get("summary"):
            bare.append(f"{method.upper()} {path}: no summary saying who, or no description")
    _fail(sorted(set(bare)), "undescribed tags or operations")


def test_downloads_declare_their_media_types(spec):
    op = spec["paths"]["/api/v1/stats/pledge-financing"]["get"]
    content = op["responses"]["200"]["content"]
    assert {"application/json", "text/csv", "image/png", "image/svg+xml",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"} <= content.keys()
