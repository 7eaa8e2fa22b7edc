"""Schemathesis over every operation of the OpenAPI, in-process: no answer is a 5xx, every answer is documented.

Each operation gets a fresh database seeded through the API (an admin, a project, an environment, a case
with a dataset, a scenario with a step and a data row, a finished run, a token), and generated requests
use those ids half the time, so the fuzzing reaches past "404 not found". Requests go through httpx's
ASGI transport on the test session's event loop, the loop the database engine lives on (schemathesis'
own ASGI client would run the app on another loop). Runs started by the fuzzing only ever reach a closed
port on 127.0.0.1 and end before the next operation.

Schemathesis' coverage phase (boundary values of every parameter) runs first, then EXILE_FUZZ_EXAMPLES
random requests per operation (default 25); EXILE_FUZZ_COVERAGE=0 skips the coverage phase.
"""

from __future__ import annotations

import asyncio
import os
import socket
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from app.main import app
from app.runs.dispatch import wait_for_inline_runs
from tests import factories
from tests.conftest import bearer

MAX_EXAMPLES = int(os.environ.get("EXILE_FUZZ_EXAMPLES", "25"))
COVERAGE_PHASE = os.environ.get("EXILE_FUZZ_COVERAGE", "1") != "0"
BASE_URL = "http://exile.test"
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

schema = schemathesis.openapi.from_dict(
    app.openapi(),
    config=schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all", "deterministic": True, "database": "none"},
            # The coverage phase: boundary and just-out-of-bounds values of every parameter (~4,600 requests).
            "phases": {"coverage": {"enabled": COVERAGE_PHASE}},
        }
    ),
)


def _closed_port() -> int:
    """A port nothing listens on: runs started by the fuzzing fail at once with 'connection refused'."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
async def session_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


@pytest.fixture
async def world(client: httpx.AsyncClient, make_user: Any) -> AsyncIterator[dict[str, Any]]:
    """Ids of one of everything, created through the API as a site admin."""
    admin = await make_user(email="admin@example.com", is_admin=True)
    member = await make_user(email="member@example.com")
    client.headers.update(bearer(admin))
    target = f"http://127.0.0.1:{_closed_port()}"
    project = await factories.project(client)
    environment = await factories.create(
        client, f"/api/v1/projects/{project['id']}/environments", {"name": "closed", "base_url": target}
    )
    case = await factories.case(client, project["id"], url=f"{target}/login", timeout_ms=2000)
    dataset = await factories.create(
        client, f"/api/v1/cases/{case['id']}/datasets", {"name": "row", "variables": {"username": "a", "qty": 1}}
    )
    scenario = await factories.scenario(client, project["id"])
    steps = await factories.put_steps(client, scenario["id"], [{"case_id": case["id"]}])
    rows = await client.put(f"/api/v1/scenarios/{scenario['id']}/datasets", json=[{"name": "r", "variables": {}}])
    assert rows.status_code == 200, rows.text
    sent = await client.post(f"/api/v1/cases/{case['id']}/run", json={"environment_id": environment["id"]})
    assert sent.status_code == 200, sent.text
    await factories.create(
        client, f"/api/v1/projects/{project['id']}/members", {"email": "member@example.com", "role": "editor"}
    )
    token = await factories.create(client, f"/api/v1/projects/{project['id']}/tokens", {"name": "ci", "role": "runner"})
    yield {
        "project_id": project["id"],
        "environment_id": environment["id"],
        "case_id": case["id"],
        "dataset_id": dataset["id"],
        "scenario_id": scenario["id"],
        "step_id": steps[0]["id"],
        "run_id": sent.json()["run"]["id"],
        "scenario_run_id": sent.json()["run"]["id"],
        "request_run_id": sent.json()["items"][0]["id"],
        "token_id": token["id"],
        "user_id": member.id,
        "headers": dict(client.headers),
    }


# Operations that start runs always use the seeded case, scenario or run, whose requests go to the closed port,
# and each waits for the runs it started.
RUN_STARTERS = {
    ("POST", "/api/v1/cases/{case_id}/run"),
    ("POST", "/api/v1/scenarios/{scenario_id}/runs"),
    ("POST", "/api/v1/scenario-runs/{run_id}/rerun"),
}


def _use_world(case: schemathesis.Case, world: dict[str, Any], real_ids: bool) -> None:
    """Point path ids (and id fields of a JSON body) at seeded records."""
    force = (case.method.upper(), case.path) in RUN_STARTERS
    for name in case.path_parameters or {}:
        if name in world and (real_ids or force):
            case.path_parameters[name] = world[name]
    if real_ids and isinstance(case.body, dict):
        for name in list(case.body):
            if name in world and isinstance(case.body[name], int):
                case.body[name] = world[name]


async def _send(client: httpx.AsyncClient, case: schemathesis.Case, headers: dict[str, str]) -> httpx.Response:
    """Serialise the case exactly as schemathesis' own transport would, then send it over ASGI."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    prepared = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params"),
        cookies=kwargs.get("cookies"),
        data=kwargs.get("data"),
        json=kwargs.get("json"),
        files=kwargs.get("files"),
    ).prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    response = await client.request(
        str(prepared.method), str(prepared.url), headers=dict(prepared.headers), content=body or b""
    )
    if (case.method.upper(), case.path) in RUN_STARTERS:
        await wait_for_inline_runs()
    return response


def _half_of_the_cases(case: schemathesis.Case) -> bool:
    """Chosen from the case itself (not drawn), so a failure replays the same way and the coverage phase,
    which takes no extra Hypothesis inputs, can run."""
    return zlib.crc32(repr((case.path_parameters, case.query, case.body)).encode()) % 2 == 0


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    database=None,
)
def test_no_server_error_and_every_answer_is_documented(
    case: schemathesis.Case,
    world: dict[str, Any],
    client: httpx.AsyncClient,
    session_loop: asyncio.AbstractEventLoop,
) -> None:
    _use_world(case, world, _half_of_the_cases(case))
    response = session_loop.run_until_complete(_send(client, case, world["headers"]))
    case.validate_response(response, checks=CHECKS)
