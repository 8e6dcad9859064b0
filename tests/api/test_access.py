"""Every endpoint declares who may call it: public ones are a short named list, all others need a user."""

import re

from tests.helpers import assert_problem

PUBLIC = {("POST", "/api/v1/auth/register"), ("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/refresh"),
          ("GET", "/api/v1/health"), ("GET", "/api/v1/ready"),
          ("POST", "/api/v1/payments/webhook")}
FOUNDATION_TAGS = {"platform", "accounts", "assets"}


def _operations(app):
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            yield method.upper(), path, op


async def test_every_endpoint_is_public_by_name_or_needs_a_bearer_token(app, client):
    seen_public = set()
    for method, path, op in _operations(app):
        assert op.get("summary"), f"{method} {path} has no summary saying who may call it"
        if (method, path) in PUBLIC:
            seen_public.add((method, path))
            assert not op.get("security"), (method, path)
            continue
        assert op.get("security") == [{"OAuth2PasswordBearer": []}], f"{method} {path} declares no caller"
        # And it really refuses an anonymous caller before anything else (path ids need not exist).
        url = re.sub(r"\{[^}]+\}", "x_1", path).removeprefix("/api/v1")
        r = await client.request(method, url, json={} if method in ("POST", "PATCH", "PUT") else None)
        assert_problem(r, 401, "not_authenticated")
    assert seen_public == PUBLIC


def test_foundation_endpoints_name_their_callers_in_the_summary(app):
    ours = [(m, p, op["summary"]) for m, p, op in _operations(app) if FOUNDATION_TAGS & set(op.get("tags", []))]
    assert len(ours) >= 13
    for method, path, summary in ours:
        # e.g. "Register an IP asset ... (SME, university)", "(platform admin)", "(any user)", "(anyone)".
        assert re.search(r"\((anyone|any user|owner|platform admin|SME, university)[^)]*\)", summary), \
            (method, path, summary)
