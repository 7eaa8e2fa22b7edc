"""A run loads its cases into the engine's typed models once (issue 8, one typed engine contract)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.engine.specs import BearerAuth, RequestSpec, RetrySpec
from app.models import ApiRequest
from app.runs.loader import RunSetupError, load_cases
from tests import factories


async def test_a_saved_case_reaches_the_engine_as_validated_models(api: httpx.AsyncClient, session: AsyncSession):
    project = await factories.project(api)
    saved = await factories.case(api, project["id"], auth={"type": "bearer", "token": "{{token}}"})
    loaded = (await load_cases(session, {saved["id"]}))[saved["id"]]
    request = loaded.request
    assert isinstance(request, RequestSpec) and loaded.name == "login"
    assert isinstance(request.auth, BearerAuth) and request.auth.token == "{{token}}"
    assert request.retry == RetrySpec(max_attempts=1)  # the stored retry, its other fields from the model's defaults
    assert [(a.source, a.op, a.expected) for a in request.assertions] == [("status_code", "eq", 200), ("body", "eq", 0)]


async def test_a_stored_case_that_no_longer_validates_stops_the_run_naming_case_and_field(
    api: httpx.AsyncClient, session: AsyncSession
):
    project = await factories.project(api)
    saved = await factories.case(api, project["id"], name="pay")
    broken = [{"source": "body", "expression": "$.code", "op": "approximately", "expected": 0}]
    await session.execute(update(ApiRequest).where(ApiRequest.id == saved["id"]).values(assertions=broken))
    await session.commit()
    with pytest.raises(RunSetupError) as raised:
        await load_cases(session, {saved["id"]})
    message = str(raised.value)
    assert f"case 'pay' (id {saved['id']})" in message
    assert "assertions.0.op" in message
