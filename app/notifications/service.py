"""Channels and their rules: project admins manage them, members read them without their secrets.

A robot's webhook URL carries its access token (DingTalk's access_token, WeCom's key, Slack's hook path), so every
URL is sealed like a signing secret or an SMTP password (app.core.secret_box) and reads show only its scheme and
host. The audit trail records which secrets changed, never their values.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from app.audit import service as audit
from app.auth.principal import Principal, require_project
from app.core.crud import check_version
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.secret_box import seal, unseal
from app.engine.masking import MASK
from app.models import Base, NotificationChannel, NotificationDelivery, Project
from app.models.base import utcnow
from app.models.notification import ChannelType, NotificationStatus
from app.notifications import delivery as sending
from app.notifications.messages import trial_message
from app.notifications.schemas import (
    SIGNED_TYPES,
    URL_TYPES,
    ChannelCreate,
    ChannelUpdate,
    EmailSettings,
)


def masked_url(url: str) -> str:
    """What a read shows of a URL: scheme and host (and port), never the path or query that hold the token."""
    try:
        parsed = URL(url)
        port = f":{parsed.explicit_port}" if parsed.explicit_port else ""
        return f"{parsed.scheme}://{parsed.host}{port}/{MASK}"
    except ValueError:
        return MASK


def channel_read(channel: NotificationChannel) -> dict[str, Any]:
    """The channel as members see it: no URL beyond its host, no secret, no password."""
    sealed = channel.sealed or {}
    url = None
    if "url" in sealed:
        try:
            url = masked_url(unseal(sealed["url"]))
        except ValueError:
            url = MASK
    email = None
    if channel.type == ChannelType.EMAIL:
        email = {**(channel.config or {}), "password_set": "password" in sealed}
    return {
        "id": channel.id,
        "project_id": channel.project_id,
        "name": channel.name,
        "type": channel.type,
        "enabled": channel.enabled,
        "url": url,
        "secret_set": "secret" in sealed,
        "email": email,
        "events": list(channel.events),
        "scenario_ids": channel.scenario_ids,
        "plan_ids": channel.plan_ids,
        "throttle": {"max_messages": channel.throttle_max, "window_seconds": channel.throttle_window_seconds},
        "version": channel.version,
        "created_at": channel.created_at,
        "updated_at": channel.updated_at,
    }


def _audit_state(channel: NotificationChannel) -> dict[str, Any]:
    return {
        "name": channel.name,
        "type": str(channel.type),
        "enabled": channel.enabled,
        "config": channel.config,
        "secrets": dict.fromkeys(sorted(channel.sealed or {}), MASK),
        "events": list(channel.events),
        "scenario_ids": channel.scenario_ids,
        "plan_ids": channel.plan_ids,
        "throttle_max": channel.throttle_max,
        "throttle_window_seconds": channel.throttle_window_seconds,
    }


# ---- checks that need the type or the database ----------------------------------------------------------------
def _check_shape(
    channel_type: ChannelType, url: str | None, secret: str | None, email: EmailSettings | None, *, creating: bool
) -> None:
    """What each type needs and refuses, each 422 naming its field."""
    if channel_type in URL_TYPES:
        if creating and url is None:
            raise InvalidInput(f"a {channel_type} channel needs a url", loc=["body", "url"])
        if email is not None:
            raise InvalidInput(f"email settings are for email channels, not {channel_type}", loc=["body", "email"])
    else:
        if creating and email is None:
            raise InvalidInput(
                "an email channel needs its SMTP settings (host, from_address, to)", loc=["body", "email"]
            )
        if url is not None:
            raise InvalidInput("an email channel has no url; set email.host", loc=["body", "url"])
    if secret is not None and channel_type not in SIGNED_TYPES:
        raise InvalidInput(
            f"{channel_type} channels are not signed (only webhook, dingtalk and feishu take a secret)",
            loc=["body", "secret"],
        )
    if email is not None and email.password is not None and not email.username:
        raise InvalidInput("a password needs a username", loc=["body", "email", "username"])


async def _check_name_free(session: AsyncSession, project_id: int, name: str, own_id: int | None = None) -> None:
    clash = await session.scalar(
        select(NotificationChannel.id).where(
            NotificationChannel.project_id == project_id, NotificationChannel.name == name
        )
    )
    if clash is not None and clash != own_id:
        raise Conflict(
            f"project {project_id} already has a channel named '{name}'",
            code="duplicate_name",
            details=[{"loc": ["body", "name"], "msg": "already used in this project"}],
        )


async def _check_in_project(session: AsyncSession, project_id: int, ids: list[int] | None, field: str) -> None:
    """Filter ids must name the project's own scenarios (or plans)."""
    if not ids:
        return
    # Plans are their own domain (app.plans): their table is read by name, so this filter needs nothing else of it.
    table = Base.metadata.tables.get("test_scenarios" if field == "scenario_ids" else "test_plans")
    if table is None:
        return
    found = set(await session.scalars(select(table.c.id).where(table.c.project_id == project_id, table.c.id.in_(ids))))
    for index, entity_id in enumerate(ids):
        if entity_id not in found:
            what = "scenario" if field == "scenario_ids" else "plan"
            raise InvalidInput(f"{what} {entity_id} is not in project {project_id}", loc=["body", field, index])


def _email_config(email: EmailSettings) -> dict[str, Any]:
    return email.model_dump(mode="json", exclude={"password"})


# ---- CRUD --------------------------------------------------------------------------------------------------------
async def create_channel(
    session: AsyncSession, principal: Principal, project_id: int, data: ChannelCreate
) -> NotificationChannel:
    await require_project(session, principal, project_id, "manage")
    _check_shape(data.type, data.url, data.secret, data.email, creating=True)
    await _check_name_free(session, project_id, data.name)
    await _check_in_project(session, project_id, data.scenario_ids, "scenario_ids")
    await _check_in_project(session, project_id, data.plan_ids, "plan_ids")
    sealed: dict[str, str] = {}
    if data.url is not None:
        sealed["url"] = seal(data.url)
    if data.secret is not None:
        sealed["secret"] = seal(data.secret)
    if data.email is not None and data.email.password is not None:
        sealed["password"] = seal(data.email.password)
    channel = NotificationChannel(
        project_id=project_id,
        name=data.name,
        type=data.type,
        enabled=data.enabled,
        config=_email_config(data.email) if data.email is not None else {},
        sealed=sealed,
        events=[str(event) for event in data.events],
        scenario_ids=data.scenario_ids,
        plan_ids=data.plan_ids,
        throttle_max=data.throttle.max_messages,
        throttle_window_seconds=data.throttle.window_seconds,
        created_by_id=principal.user.id,
    )
    session.add(channel)
    await session.flush()
    await audit.record(
        session, principal, "create", "notification_channel", channel.id, project_id, {"after": _audit_state(channel)}
    )
    return channel


async def get_channel(
    session: AsyncSession, principal: Principal, channel_id: int, action: str = "read"
) -> NotificationChannel:
    """The channel if the caller belongs to its project (404 otherwise) and may `action` there (403 otherwise)."""
    channel = await session.get(NotificationChannel, channel_id)
    if channel is None or await principal.role_in(session, channel.project_id) is None:
        raise NotFound(f"channel {channel_id} not found")
    await require_project(session, principal, channel.project_id, action)
    return channel


async def list_channels(session: AsyncSession, principal: Principal, project_id: int) -> list[NotificationChannel]:
    await require_project(session, principal, project_id, "read")
    rows = await session.scalars(
        select(NotificationChannel)
        .where(NotificationChannel.project_id == project_id)
        .order_by(NotificationChannel.name)
    )
    return list(rows)


async def update_channel(
    session: AsyncSession, principal: Principal, channel_id: int, data: ChannelUpdate
) -> NotificationChannel:
    channel = await get_channel(session, principal, channel_id, "manage")
    check_version(channel, data.version, "channel")
    sent = data.model_fields_set
    url = data.url if "url" in sent else None
    secret = data.secret if "secret" in sent else None
    _check_shape(channel.type, url, secret, data.email if "email" in sent else None, creating=False)
    before = _audit_state(channel)
    sealed = dict(channel.sealed or {})
    changed_secrets: list[str] = []
    if "name" in sent and data.name is not None:
        await _check_name_free(session, channel.project_id, data.name, channel.id)
        channel.name = data.name
    if url is not None and url != channel_read(channel)["url"]:  # the masked URL sent back keeps the stored one
        sealed["url"] = seal(url)
        changed_secrets.append("url")
    if "secret" in sent:
        if secret is None:
            if sealed.pop("secret", None) is not None:
                changed_secrets.append("secret")
        else:
            sealed["secret"] = seal(secret)
            changed_secrets.append("secret")
    if "email" in sent and data.email is not None:
        channel.config = _email_config(data.email)
        if data.email.password is not None:
            sealed["password"] = seal(data.email.password)
            changed_secrets.append("password")
        elif not data.email.username:
            sealed.pop("password", None)  # no username, no login: a kept password would never be used
    if "enabled" in sent and data.enabled is not None:
        channel.enabled = data.enabled
    if "events" in sent and data.events is not None:
        channel.events = [str(event) for event in data.events]
    if "scenario_ids" in sent:
        await _check_in_project(session, channel.project_id, data.scenario_ids, "scenario_ids")
        channel.scenario_ids = data.scenario_ids
    if "plan_ids" in sent:
        await _check_in_project(session, channel.project_id, data.plan_ids, "plan_ids")
        channel.plan_ids = data.plan_ids
    if "throttle" in sent and data.throttle is not None:
        channel.throttle_max = data.throttle.max_messages
        channel.throttle_window_seconds = data.throttle.window_seconds
    channel.sealed = sealed
    channel.updated_at = utcnow()  # a change of secrets only still bumps the version
    await session.flush()
    changes = audit.diff(before, _audit_state(channel))
    if changed_secrets:
        changes["secrets_changed"] = sorted(set(changed_secrets))
    await audit.record(session, principal, "update", "notification_channel", channel.id, channel.project_id, changes)
    return channel


async def delete_channel(session: AsyncSession, principal: Principal, channel_id: int) -> None:
    channel = await get_channel(session, principal, channel_id, "manage")
    await audit.record(
        session,
        principal,
        "delete",
        "notification_channel",
        channel.id,
        channel.project_id,
        {"before": _audit_state(channel)},
    )
    await session.delete(channel)
    await session.flush()


# ---- deliveries ----------------------------------------------------------------------------------------------------
def deliveries_query(channel_id: int, status: str | None, event: str | None) -> Select[Any]:
    statement = select(NotificationDelivery).where(NotificationDelivery.channel_id == channel_id)
    if status is not None:
        statement = statement.where(NotificationDelivery.status == status)
    if event is not None:
        statement = statement.where(NotificationDelivery.event == event)
    return statement.order_by(NotificationDelivery.id.desc())


def delivery_read(delivery: NotificationDelivery) -> dict[str, Any]:
    fields = {column: getattr(delivery, column) for column in NotificationDelivery.__table__.columns.keys()}
    fields["message"] = orjson.loads(delivery.message)
    return fields


async def record_test(session: AsyncSession, principal: Principal, channel_id: int) -> tuple[int, str]:
    """A test message for the channel, recorded already claimed by the caller: (delivery id, lease owner)."""
    channel = await get_channel(session, principal, channel_id, "manage")
    project_name = await session.scalar(select(Project.name).where(Project.id == channel.project_id)) or "?"
    message = trial_message(project_name, channel.name, principal.label)
    now = utcnow()
    owner = sending.new_owner()
    delivery = NotificationDelivery(
        channel_id=channel.id,
        project_id=channel.project_id,
        event="test",
        subject_key=None,
        dedupe_key=None,
        title=message["title"],
        message=orjson.dumps(message).decode(),
        status=NotificationStatus.PENDING,
        max_attempts=1,  # the answer is the outcome of this one attempt
        attempts=0,
        attempt_log=[],
        next_attempt_at=now,
        claimed_by=owner,
        claimed_until=now + timedelta(seconds=sending.lease_seconds()),
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    await session.flush()
    return delivery.id, owner
