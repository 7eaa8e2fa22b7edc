"""Looking for a secret in a record the way a reader could: decoded every way Exile (or a client) encodes it.

Written independently of app.engine.masking, so a spelling the masker forgets shows up in the tests.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import unquote, unquote_plus

import orjson


def as_text(record: Any) -> str:
    """A record (a dict, a dataclass, an API answer) as its JSON text."""
    return orjson.dumps(record, default=lambda value: getattr(value, "__dict__", str(value))).decode()


def readings(text: str) -> list[str]:
    """What a reader could turn a record's text into: percent-, form- and JSON-decoded, any case."""
    out = [text, unquote(text), unquote_plus(text), unquote(unquote(text))]
    try:
        out.append(json.loads(f'"{text}"'))  # JSON escapes (\\/, \\u00e9) undone
    except ValueError:
        pass
    out.append(text.replace("\\/", "/").replace('\\"', '"').replace("\\\\", "\\"))
    return out


def assert_no_trace(text: str, *values: str) -> None:
    """None of `values` (in any case, nor their Basic-auth base64) can be read back from `text`."""
    for value in values:
        for reading in readings(text):
            assert value.lower() not in reading.lower(), f"{value!r} readable in the record: {text[:3000]}"
        for user in ("ann", ""):
            assert base64.b64encode(f"{user}:{value}".encode()).decode() not in text, f"Basic {user}:{value!r}"
