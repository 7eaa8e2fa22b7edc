"""Project roles, weakest first: each one may do everything the ones before it may."""

from __future__ import annotations

from typing import Literal

Role = Literal["viewer", "runner", "editor", "admin", "owner"]
ROLES: tuple[Role, ...] = ("viewer", "runner", "editor", "admin", "owner")
_RANK: dict[str, int] = {role: rank for rank, role in enumerate(ROLES)}


def at_least(role: str | None, needed: str) -> bool:
    return role is not None and _RANK[role] >= _RANK[needed]


def weaker(first: str, second: str) -> str:
    return first if _RANK[first] <= _RANK[second] else second
