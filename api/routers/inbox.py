"""GET /inbox: what the caller's organisation must act on now, with the action to take."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from api.deps import CurrentActor, SessionDep
from api.routing import AreaRouter, TransactionalRoute
from finance.inbox.items import InboxItem, inbox
from finance.inbox.messages import language
from kernel.clock import business_date
from kernel.pagination import Page

router = AreaRouter(tags=["inbox"], route_class=TransactionalRoute)


@router.get("/inbox", response_model=Page[InboxItem],
            summary="What your organisation must act on now, soonest due first; titles in zh-CN or en by "
                    "Accept-Language (any user)")
async def get_inbox(actor: CurrentActor, session: SessionDep,
                    accept_language: Annotated[str | None, Header()] = None) -> Page[InboxItem]:
    items = await inbox(session, actor, await business_date(session), language(accept_language))
    return Page(data=items, has_more=False, next_cursor=None)
