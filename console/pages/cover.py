"""A guarantor's or insurer's desk: the invitations to answer (from the inbox), the loans it covers (its
guarantees or policies) and the compensation claims where it bears a share of the loss."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.web import context, not_found, object_page, render

router = APIRouter()
COVERS = {"guarantor": "/guarantees", "insurer": "/insurance-policies"}


@router.get("/cover")
async def cover(request: Request) -> Response:
    ctx = await context(request)
    if ctx.kind not in COVERS or ctx.me is None:
        return not_found(ctx)
    org_id = ctx.me["org"]["id"]
    inbox = await ctx.api.get("/inbox")
    invitations = [{**i, "href": object_page(i["object_type"], i["object_id"])}
                   for i in inbox.data if i["kind"] == "invitation.open"]
    covered = await ctx.api.get(COVERS[ctx.kind], limit=100)
    claims = await ctx.api.get("/compensation-claims", limit=100)
    sharing = [{**c, "our_share": sum(int(s["amount"]) for s in c["shares"] if s.get("org_id") == org_id)}
               for c in claims.data]
    errors = [a.problem() for a in (inbox, covered, claims) if not a.ok]
    return render(ctx, "cover.html", invitations=invitations, covered=covered.data,
                  claims=[c for c in sharing if c["our_share"]], error="; ".join(errors) or None)
