"""Who is acting: passed from the HTTP layer into services, which enforce the rules with it."""

from __future__ import annotations

from dataclasses import dataclass

PLATFORM_ADMIN = "admin"
ORG_ADMIN = "org_admin"
# May approve another user's request under the organisation's four-eyes policy (so may an org_admin).
CHECKER = "checker"
MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: str
    org_id: str
    org_kind: str
    role: str

    @property
    def is_platform_admin(self) -> bool:
        return self.role == PLATFORM_ADMIN

    def is_kind(self, *kinds: str) -> bool:
        return self.org_kind in kinds


SYSTEM = Actor(user_id="system", org_id="platform", org_kind="platform", role=PLATFORM_ADMIN)
