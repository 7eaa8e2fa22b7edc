"""Secret values never reach a snapshot: every occurrence is replaced by the mask."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

MASK = "******"


class Masker:
    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if isinstance(s, str) and s}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None

    @property
    def active(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        return self._pattern.sub(MASK, value) if self._pattern is not None else value

    def value(self, value: Any) -> Any:
        """Masks strings anywhere inside a JSON-like value."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self._pattern.sub(MASK, value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value
