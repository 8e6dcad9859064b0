"""Errors of the asset registry (rendered as problem+json like every ``kernel.errors.DomainError``)."""

from __future__ import annotations

from kernel.errors import DomainError


class AssetEncumbered(DomainError):
    """The law (a pledge, an exclusive or sole license, an open license) or a deal in flight forbids it."""

    status, code, title = 409, "asset_encumbered", "The asset is encumbered"
