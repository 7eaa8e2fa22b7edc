"""Text on its way into a text column: bounded, and free of what a database refuses.

PostgreSQL refuses NUL in text (and a batch with one row holding it fails whole); no UTF-8 encoder takes a
lone surrogate. A target's body can put either into an error message or an assertion's message, so every
error text the runs and callbacks store passes here (JSON columns are written escaped by orjson already).
"""

from __future__ import annotations

import re

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _visible(found: re.Match[str]) -> str:
    return "\\u0000" if found.group() == "\x00" else "\ufffd"


def storable(text: str) -> str:
    """NUL written as the six characters \\u0000 (still readable as what it was), a lone surrogate as U+FFFD."""
    return UNSTORABLE.sub(_visible, text) if UNSTORABLE.search(text) else text


def bounded(text: str | None, limit: int) -> str | None:
    """At most `limit` characters, saying how long it was when cut."""
    if text is None:
        return None
    text = storable(text)
    if len(text) <= limit:
        return text
    return text[: limit - 24] + f"... ({len(text)} chars)"
