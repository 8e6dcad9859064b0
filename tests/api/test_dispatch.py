"""api.dispatch: the route index picks the route FastAPI's router would, and leaves everything else to it."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.routing import _IncludedRouter
from starlette.routing import Match

from api.app import API_PREFIX
from api.dispatch import RouteIndex, literal_prefix
from kernel.settings import get_settings


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": [], "query_string": b""}


def _fastapi_choice(app: Any, scope: dict[str, Any]) -> Any:
    """The route FastAPI's own router runs for a full match (its first full match, in order), or None."""
    for route in app.router.routes:
        if isinstance(route, _IncludedRouter):
            match, _, chosen, _ = route._match(dict(scope))
        else:
            match, _ = route.matches(dict(scope))
            chosen = route
        if match is Match.FULL:
            return chosen
    return None


def _index_choice(index: RouteIndex, scope: dict[str, Any]) -> tuple[bool, Any]:
    """(whether the index decided, the route it runs)."""
    candidates = index.candidates(scope["path"])
    if not candidates:
        return False, None
    for _, context, route in candidates:
        if context.matches(dict(scope))[0] is Match.FULL:
            return True, route
    return False, None


def _example(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "x1", path)


def test_literal_prefix():
    assert literal_prefix("/api/v1/assets/{asset_id}") == ("api", "v1", "assets")
    assert literal_prefix("/api/v1/fund/programs/{p}/reports/{month}.pdf") == ("api", "v1", "fund", "programs")
    assert literal_prefix("/") == ("",)


async def test_every_api_route_is_found_in_one_pass_and_is_fastapis_choice(app):
    index = app.router.middleware_stack
    assert isinstance(index, RouteIndex)
    decided = 0
    for route in app.router.routes:
        if not isinstance(route, _IncludedRouter):
            continue
        for context in route.effective_route_contexts():
            path = _example(context.path_format)
            for method in [*sorted(context.methods), "PATCH", "PUT"]:
                scope = _scope(method, path)
                took, chosen = _index_choice(index, scope)
                expected = _fastapi_choice(app, scope)
                if took:
                    decided += 1
                    assert chosen is expected, (method, path)
                elif path.startswith(API_PREFIX) and method in context.methods:
                    # Every API route is served in one pass; only a route an earlier one shadows is not.
                    assert expected is not context.original_route, (method, path)
    assert decided > 200


def test_paths_a_mount_or_nested_router_may_match_are_left_to_fastapi(app):
    index = app.router.middleware_stack
    assert index.candidates("/console/applications/x1") is None  # the console's nested routers
    assert index.candidates("/static/docs/swagger-ui.css") is None
    assert index.candidates("/docs") is None  # too short for a group
    assert index.candidates(f"{API_PREFIX}/no-such-area/x") is None


async def test_a_router_included_later_is_served(app, client):
    assert (await client.get("/health")).status_code == 200  # the index is built
    late = APIRouter()

    @late.get(f"{API_PREFIX}/health/late-probe")
    async def probe() -> dict[str, str]:
        return {"late": "yes"}

    app.include_router(late)
    try:
        r = await client.get("/health/late-probe")
        assert r.status_code == 200 and r.json() == {"late": "yes"}
    finally:
        app.router.routes.remove(next(r for r in app.router.routes
                                      if isinstance(r, _IncludedRouter) and r.original_router is late))
        app.router._mark_routes_changed()


async def test_a_route_added_to_an_included_router_later_is_served(app, client):
    area = next(r.original_router for r in app.router.routes
                if isinstance(r, _IncludedRouter) and any(c.path_format == f"{API_PREFIX}/health"
                                                          for c in r.effective_route_contexts()))
    assert (await client.get("/health")).status_code == 200
    before = list(area.routes)

    # Added in front of /health's own route: the index must see it, or it would answer with the old one.
    @area.get("/health", include_in_schema=False)
    async def shadow() -> dict[str, str]:
        return {"shadow": "yes"}

    area.routes.insert(0, area.routes.pop())
    try:
        r = await client.get("/health")
        assert r.json() == {"shadow": "yes"}
    finally:
        area.routes[:] = before
        area._mark_routes_changed()
    assert "shadow" not in (await client.get("/health")).json()


async def test_wrong_method_unknown_path_and_trailing_slash_answer_as_before(client):
    r = await client.delete("/health")
    assert r.status_code == 405 and r.headers["content-type"].startswith("application/problem+json")
    r = await client.get("/assets/x1/no-such-thing")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert (await client.get("/health/")).status_code == 307  # the router's slash redirect


def test_the_app_keeps_fastapis_router_for_lifespan_and_the_rest():
    from api.app import create_app

    app = create_app(get_settings())
    assert isinstance(app.router.middleware_stack, RouteIndex)
    assert app.router.middleware_stack.router is app.router
