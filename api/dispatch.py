"""The app's router, matched once per request through an index of its routes' first path segments.

FastAPI keeps each included router as one entry of ``app.router.routes`` and dispatches in two passes:
every entry is asked whether it matches (an included router by trying each of its routes in turn), and
the router that does is then asked to handle the request, which matches its routes again. ``RouteIndex``
answers the usual request (an ``/api/v1/...`` path that a route matches) with one match: it groups the
routes by the first three segments of their paths, tries only the routes of the request's group, in the
app's order, and hands the first full match straight to that route, setting in the scope what FastAPI's
two passes would have set. Everything else (no full match, 405, redirects, mounts, nested routers,
lifespan) goes through FastAPI's own router unchanged, so the answer is the router's answer.

A route can only match a path that starts with the literal segments of its own path (those before the
first ``{``), so a route whose prefix differs from the request's is never a candidate; a group with a
mount or a nested router among its candidates is left to FastAPI. The index is rebuilt when a route is
added to the app or to one of its routers.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any

from fastapi.routing import (  # FastAPI's own dispatch steps, reused so the scope is what it would set
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    _FASTAPI_INCLUDED_ROUTER_KEY,
    APIRoute,
    APIRouter,
    _apply_router_form_limits,
    _EffectiveRouteContext,
    _get_fastapi_scope,
    _IncludedRouter,
    _update_scope,
)
from fastapi.telemetry._api import _route_selected
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match
from starlette.types import Receive, Scope, Send

DEPTH = 3  # segments a group is keyed by: /api/v1/<area>

# One candidate: the included router, the route's effective context (its full path, regex and app), the route.
Candidate = tuple[_IncludedRouter, _EffectiveRouteContext, APIRoute]
_VERSION = attrgetter("_routes_version")


def literal_prefix(path: str) -> tuple[str, ...]:
    """The segments of a route's path before its first parameter: ``/api/v1/assets/{id}`` → api, v1, assets."""
    segments = []
    for segment in path.split("/")[1:]:
        if "{" in segment:
            break
        segments.append(segment)
    return tuple(segments)


def _compatible(prefix: tuple[str, ...], key: tuple[str, ...]) -> bool:
    """Whether a path starting with ``key`` can start with ``prefix``."""
    n = min(len(prefix), len(key))
    return prefix[:n] == key[:n]


class RouteIndex:
    """``router``'s dispatch for HTTP requests (installed as its ``middleware_stack``)."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._groups: dict[tuple[str, ...], list[Candidate] | None] = {}
        self._routers: list[APIRouter] = []
        self._version = -1

    def _current(self) -> int:
        # Versions only grow: the sum changes whenever any of these routers gains a route.
        return self.router._routes_version + sum(map(_VERSION, self._routers))

    def _build(self) -> None:
        simple: list[tuple[tuple[str, ...], Candidate]] = []
        other: list[tuple[str, ...]] = []  # the prefixes of what is left to FastAPI
        routers = []
        for route in self.router.routes:
            contexts = _plain_routes(route)
            if contexts is None:
                other.append(_left_prefix(route))
                continue
            assert isinstance(route, _IncludedRouter)
            routers.append(route.original_router)
            for context in contexts:
                assert isinstance(context.original_route, APIRoute)
                simple.append((literal_prefix(context.path_format), (route, context, context.original_route)))
        groups: dict[tuple[str, ...], list[Candidate] | None] = {}
        for key in {prefix[:DEPTH] for prefix, _ in simple if len(prefix) >= DEPTH}:
            if any(_compatible(prefix, key) for prefix in other):
                groups[key] = None
            else:
                groups[key] = [candidate for prefix, candidate in simple if _compatible(prefix, key)]
        self._groups, self._routers = groups, routers
        self._version = self._current()

    def candidates(self, path: str) -> list[Candidate] | None:
        """The routes that may match ``path``, in the app's order; None when FastAPI is to decide."""
        if self._version != self._current():
            self._build()
        return self._groups.get(tuple(path.split("/", DEPTH + 1)[1:DEPTH + 1]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            candidates = self.candidates(get_route_path(scope))
            if candidates:
                for included, context, route in candidates:
                    match, child_scope = context.matches(scope)
                    if match is Match.FULL:
                        await self._handle(scope, receive, send, included, context, route, child_scope)
                        return
        await self.router.app(scope, receive, send)  # FastAPI's own: 405, redirects, 404, mounts, lifespan

    async def _handle(self, scope: Scope, receive: Receive, send: Send, included: _IncludedRouter,
                      context: _EffectiveRouteContext, route: APIRoute, child_scope: dict[str, Any]) -> None:
        # What APIRouter.app, _IncludedRouter.handle and _handle_selected do for a full match, in order.
        _apply_router_form_limits(scope, self.router.form_limits)
        if "router" not in scope:
            scope["router"] = self.router
        _apply_router_form_limits(scope, included.include_context.form_limits)
        fastapi_scope = _get_fastapi_scope(scope)
        fastapi_scope[_FASTAPI_INCLUDED_ROUTER_KEY] = included
        child_scope["route"] = route
        _update_scope(scope, child_scope)
        _route_selected(scope=scope, path=context.path_format)
        fastapi_scope[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = context
        await route.handle(scope, receive, send)


def _plain_routes(route: BaseRoute) -> list[_EffectiveRouteContext] | None:
    """An included router's routes when all are FastAPI routes (no mount, no nested router), else None."""
    if not isinstance(route, _IncludedRouter):
        return None
    contexts = route.effective_candidates()
    if not all(isinstance(c, _EffectiveRouteContext) and isinstance(c.original_route, APIRoute) for c in contexts):
        return None
    return contexts  # type: ignore[return-value]  # checked just above


def _left_prefix(route: BaseRoute) -> tuple[str, ...]:
    """The literal prefix every path a route left to FastAPI matches starts with (``()``: any path)."""
    if not isinstance(route, _IncludedRouter):
        return literal_prefix(str(getattr(route, "path", "")))
    common: tuple[str, ...] | None = None
    for context in route.effective_route_contexts():  # nested routers' routes too
        prefix = literal_prefix(getattr(context.starlette_route, "path", None) or context.path_format)
        n = 0
        if common is not None:
            while n < min(len(common), len(prefix)) and common[n] == prefix[n]:
                n += 1
        common = prefix if common is None else common[:n]
    return common or ()


def install(router: APIRouter) -> RouteIndex:
    """Dispatch ``router``'s requests through a ``RouteIndex``."""
    # Only in place of the router's own dispatch: a router with middleware of its own keeps its stack.
    assert router.middleware_stack == router.app, "the router has a middleware stack of its own"
    index = RouteIndex(router)
    router.middleware_stack = index
    return index
