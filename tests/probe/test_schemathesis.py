"""Schemathesis against the app in-process: every operation, as an SME and as the admin.

No response may be a 5xx, and every response must match its documented schema. Run by `.ci/run`
(IPM_PROBE=1); IPM_PROBE_EXAMPLES bounds the examples per operation and caller.
"""

from __future__ import annotations

import asyncio
import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import bootstrap, create_app
from api.security import create_access_token
from kernel.db import metadata
from kernel.settings import get_settings
from tests.helpers import credit_code

if not os.environ.get("IPM_PROBE"):
    pytest.skip("the probe runs in .ci/run (make probe)", allow_module_level=True)
EXAMPLES = int(os.environ.get("IPM_PROBE_EXAMPLES", "15"))


def _probe_app():
    """An app on a database of its own, with an admin and an SME user, and a token for each."""
    db = os.path.join(tempfile.mkdtemp(prefix="ipm-probe-"), "probe.db")
    probe_settings = get_settings().model_copy(update={"database_url": f"sqlite+aiosqlite:///{db}",
                                                       "embedded_worker": False})
    tokens: dict[str, str] = {}

    async def prepare() -> None:
        from accounts import service
        from accounts.models import User
        from accounts.schemas import RegisterIn

        setup = create_app(probe_settings)
        async with setup.state.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        await bootstrap(setup)
        async with setup.state.session_factory() as session:
            org, user = await service.register(session, RegisterIn(
                org_name="探针科技", org_kind="sme", credit_code=credit_code(7), email="probe@sme.cn",
                password="probe-password"))
            admin = (await session.exec(service.select(User).where(User.role == "admin"))).one()
            await session.commit()
        tokens["sme"] = create_access_token(user.id, org.id, probe_settings)
        tokens["admin"] = create_access_token(admin.id, admin.org_id, probe_settings)
        await setup.state.engine.dispose()

    asyncio.run(prepare())
    return create_app(probe_settings), tokens


APP, TOKENS = _probe_app()
# /ready answers 503 by design while no worker heartbeats (none runs in this probe): liveness is /health.
schema = schemathesis.openapi.from_asgi("/openapi.json", APP).exclude(path="/api/v1/ready")


@pytest.mark.parametrize("who", ["sme", "admin"])
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_error_and_every_response_matches_its_schema(case, who):
    case.call_and_validate(headers={"Authorization": f"Bearer {TOKENS[who]}"},
                           checks=[not_a_server_error, response_schema_conformance, status_code_conformance,
                                   content_type_conformance])
