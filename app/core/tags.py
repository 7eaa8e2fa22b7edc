"""Tag rows kept in step with a list of names, without tripping the (owner, tag) unique key."""

from __future__ import annotations

from typing import Any


def sync_tags(rows: list[Any], wanted: list[str], make_row: type) -> list[Any]:
    """Keep rows whose tag stays, drop the rest, add new ones: replacing all would insert before deleting."""
    kept = [row for row in rows if row.tag in wanted]
    have = {row.tag for row in kept}
    return kept + [make_row(tag=tag) for tag in wanted if tag not in have]
