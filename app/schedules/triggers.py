"""Triggers from code hosts: project admins configure them; a verified delivery starts a scenario or plan.

The hook URL's token picks the trigger (kept as its SHA-256, looked up by it and compared in constant
time); the secret verifies the delivery. Both are shown once, at creation or rotation. A delivery that is
not verified (unknown token, bad or missing signature) gets 401 and writes nothing. Runs start as the
trigger's owner, whoever last saved it, with that person's rights at the time of the push.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import service as audit
from app.auth.principal import Principal, require_project
from app.core.config import get_settings
from app.core.crud import apply_changes, check_version
from app.core.errors import AppError, InvalidInput, NotFound, Unauthorized
from app.core.merge_patch import VARIABLE_MAP, merge_patch, validate_merged
from app.core.secret_box import seal, unseal
from app.core.text import bounded
from app.models import CodeHostTrigger
from app.models.base import utcnow
from app.schedules import commit_status, hooks, targets
from app.schedules.schemas import MASK, TriggerCreate, TriggerUpdate

TOKEN_PREFIX = "exh_"
MAX_TOKEN = 200  # a longer path segment is no token of ours


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hook_url(token: str) -> str:
    """Where the code host sends deliveries (absolute when PUBLIC_URL is set)."""
    return f"{(get_settings().public_url or '').rstrip('/')}/api/v1/hooks/{token}"


def trigger_read(trigger: CodeHostTrigger) -> dict[str, Any]:
    """The trigger as the API shows it: the status token masked, the secret and token never."""
    fields = {column: getattr(trigger, column) for column in CodeHostTrigger.__table__.columns.keys()}
    for hidden in ("token_hash", "sealed_secret", "sealed_status_token"):
        fields.pop(hidden)
    fields["status_token"] = MASK if trigger.sealed_status_token else None
    return fields


def _snapshot(trigger: CodeHostTrigger) -> dict[str, Any]:
    state = audit.snapshot(trigger)
    state["sealed_secret"] = MASK
    state["sealed_status_token"] = MASK if trigger.sealed_status_token else None
    return state


def _new_credentials(trigger: CodeHostTrigger) -> tuple[str, str]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(24)
    secret = secrets.token_urlsafe(32)
    trigger.token_hash = _hash(token)
    trigger.token_prefix = token[:12]
    trigger.sealed_secret = seal(secret)
    return token, secret


async def _target_in_project(
    session: AsyncSession, principal: Principal, project_id: int, target: dict[str, int | None]
) -> None:
    found = await targets.check_target(session, principal, **target, action="manage")
    if found != project_id:
        field = "scenario_id" if target["scenario_id"] is not None else "plan_id"
        raise InvalidInput(
            f"the target must be a {field.removesuffix('_id')} of project {project_id}", loc=["body", field]
        )


async def create_trigger(
    session: AsyncSession, principal: Principal, project_id: int, data: TriggerCreate
) -> tuple[CodeHostTrigger, str, str]:
    """A new trigger with its hook token and secret (returned once, never stored in the clear)."""
    await require_project(session, principal, project_id, "manage")
    await _target_in_project(
        session,
        principal,
        project_id,
        {"scenario_id": data.scenario_id, "plan_id": data.plan_id, "environment_id": data.environment_id},
    )
    fields = data.model_dump(mode="json", exclude={"status_token"})
    trigger = CodeHostTrigger(project_id=project_id, owner_id=principal.user.id, **fields)
    token, secret = _new_credentials(trigger)
    trigger.sealed_status_token = seal(data.status_token) if data.status_token else None
    session.add(trigger)
    await session.flush()
    await audit.record(session, principal, "create", "trigger", trigger.id, project_id, {"after": _snapshot(trigger)})
    return trigger, token, secret


async def get_trigger(session: AsyncSession, principal: Principal, project_id: int, trigger_id: int) -> CodeHostTrigger:
    await require_project(session, principal, project_id, "manage")
    trigger = await session.get(CodeHostTrigger, trigger_id)
    if trigger is None or trigger.project_id != project_id:
        raise NotFound(f"trigger {trigger_id} not found in project {project_id}")
    return trigger


async def list_triggers(session: AsyncSession, principal: Principal, project_id: int) -> list[CodeHostTrigger]:
    await require_project(session, principal, project_id, "manage")
    rows = await session.scalars(
        select(CodeHostTrigger).where(CodeHostTrigger.project_id == project_id).order_by(CodeHostTrigger.id)
    )
    return list(rows)


async def update_trigger(
    session: AsyncSession, principal: Principal, project_id: int, trigger_id: int, data: TriggerUpdate
) -> CodeHostTrigger:
    trigger = await get_trigger(session, principal, project_id, trigger_id)
    check_version(trigger, data.version, "trigger")
    changes = data.changes()
    if "variables" in changes:
        merged = merge_patch(trigger.variables or {}, changes["variables"])
        changes["variables"] = validate_merged(VARIABLE_MAP, merged, ["body", "variables"])
    target = {name: changes.get(name, getattr(trigger, name)) for name in ("scenario_id", "plan_id", "environment_id")}
    await _target_in_project(session, principal, project_id, target)
    before = _snapshot(trigger)
    if "status_token" in changes:
        token = changes.pop("status_token")
        if token != MASK:
            trigger.sealed_status_token = seal(token) if token else None
    apply_changes(trigger, changes)
    trigger.owner_id = principal.user.id  # saving lends the trigger your rights
    await session.flush()
    await audit.record(
        session, principal, "update", "trigger", trigger.id, project_id, audit.diff(before, _snapshot(trigger))
    )
    return trigger


async def rotate_trigger(
    session: AsyncSession, principal: Principal, project_id: int, trigger_id: int
) -> tuple[CodeHostTrigger, str, str]:
    """A new token and secret: the old hook URL and secret stop working at once."""
    trigger = await get_trigger(session, principal, project_id, trigger_id)
    token, secret = _new_credentials(trigger)
    trigger.owner_id = principal.user.id
    await session.flush()
    await audit.record(
        session,
        principal,
        "rotate",
        "trigger",
        trigger.id,
        project_id,
        {"after": {"token_prefix": trigger.token_prefix}},
    )
    return trigger, token, secret


async def delete_trigger(session: AsyncSession, principal: Principal, project_id: int, trigger_id: int) -> None:
    trigger = await get_trigger(session, principal, project_id, trigger_id)
    await audit.record(session, principal, "delete", "trigger", trigger.id, project_id, {"before": _snapshot(trigger)})
    await session.delete(trigger)
    await session.flush()


# ---- deliveries ----------------------------------------------------------------------------------------------
async def _verified(session: AsyncSession, token: str, headers: Mapping[str, str], body: bytes) -> CodeHostTrigger:
    """The trigger the token names, if the delivery is signed with its secret; 401 otherwise."""
    unknown = Unauthorized("unknown hook token, or the delivery is not signed with the trigger's secret")
    if not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN:
        raise unknown
    digest = _hash(token)
    trigger = await session.scalar(select(CodeHostTrigger).where(CodeHostTrigger.token_hash == digest))
    if trigger is None or not hmac.compare_digest(trigger.token_hash.encode(), digest.encode()):
        raise unknown
    try:
        secret = unseal(trigger.sealed_secret)
    except ValueError:
        raise Unauthorized("the trigger's secret cannot be read (SECRET_KEY changed): rotate it") from None
    if trigger.provider == "github":
        verified = hooks.verify_github(secret, body, headers.get("x-hub-signature-256"))
    else:
        verified = hooks.verify_gitlab(secret, headers.get("x-gitlab-token"))
    if not verified:
        raise unknown
    return trigger


def _payload(headers: Mapping[str, str], body: bytes) -> Any:
    """The delivery's JSON: the body, or GitHub's `payload` form field (content type x-www-form-urlencoded)."""
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        fields = parse_qs(body.decode("utf-8", "replace"))
        body = (fields.get("payload") or [""])[0].encode()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise AppError("the delivery's body is not JSON", status_code=400, code="invalid_body") from None


async def _note(session: AsyncSession, trigger: CodeHostTrigger, outcome: str) -> None:
    """The trigger's last delivery, shown to its admins (not a change of the trigger: no new version)."""
    await session.execute(
        update(CodeHostTrigger)
        .where(CodeHostTrigger.id == trigger.id)
        .values(last_delivery_at=utcnow(), last_outcome=bounded(outcome, 500))
        .execution_options(synchronize_session=False)
    )


async def receive(
    session: AsyncSession, token: str, headers: Mapping[str, str], body: bytes
) -> tuple[dict[str, Any], targets.Started | None]:
    """Verify and act on one delivery: the answer, and what it started (to hand over after the commit)."""
    trigger = await _verified(session, token, headers, body)
    payload = _payload(headers, body)
    try:
        if not trigger.enabled:
            raise hooks.Ignored("the trigger is disabled")
        event = hooks.read(trigger.provider, headers, payload)
        if event.event not in trigger.events:
            raise hooks.Ignored(f"{event.event} events are not among this trigger's ({', '.join(trigger.events)})")
        if hooks.matching_branch(event.filtered_branch, trigger.branches) is None:
            which = "target branch" if event.event == "pull_request" else "branch"
            raise hooks.Ignored(f"{which} '{event.filtered_branch}' matches none of {', '.join(trigger.branches)}")
    except hooks.Ignored as ignored:
        await _note(session, trigger, f"ignored: {ignored.reason}")
        return {"status": "ignored", "reason": ignored.reason}, None
    principal = await targets.owner_principal(session, trigger.owner_id, f"trigger {trigger.id}")
    started = await targets.start(
        session,
        principal,
        scenario_id=trigger.scenario_id,
        plan_id=trigger.plan_id,
        environment_id=trigger.environment_id,
        variables=dict(trigger.variables or {}),
        trigger="webhook",
        ci={**event.metadata(), "trigger_id": trigger.id},
    )
    if trigger.status_url:
        await commit_status.record(session, trigger, started, event)
    await _note(session, trigger, f"started {started.label} for {event.event} of {event.commit[:12]} on {event.branch}")
    answer: dict[str, Any] = {"status": "started"}
    if started.run is not None:
        answer.update(run_id=started.run.id, run_url=f"/api/v1/scenario-runs/{started.run.id}")
    if started.plan_run is not None:
        answer.update(plan_run_id=started.plan_run.id, run_url=f"/api/v1/plan-runs/{started.plan_run.id}")
    return answer, started
