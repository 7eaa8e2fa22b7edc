"""What a StepResult keeps of a request, a response, the variables and the checks: masked, then bounded.

Bodies are clipped to the body snapshot limit (with their full size and sha256 beside them); every other value
(assertion expected/actual, extracted values, variables) to the per-value limit, in the shape app.engine.values
documents; text fields (error, message, url) are cut with their length said.
"""

from __future__ import annotations

import hashlib
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from app.engine.masking import Masker
from app.engine.specs import DatasetSpec
from app.engine.transport import PreparedRequest, Response
from app.engine.values import DEFAULT_VALUE_LIMIT, record_check, record_mapping, record_text


class Snapshots:
    """Built once per run; without secrets the hot path copies nothing it does not have to."""

    __slots__ = ("_limit", "_mask", "_value_limit")

    def __init__(self, masker: Masker, body_limit: int, value_limit: int = DEFAULT_VALUE_LIMIT) -> None:
        self._mask = masker
        self._limit = body_limit
        self._value_limit = value_limit

    def request(self, prepared: PreparedRequest) -> dict[str, Any]:
        mask, limit, body = self._mask, self._limit, prepared.body_text
        snapshot: dict[str, Any] = {
            "method": prepared.method,
            "url": record_text(prepared.url, limit=limit, mask=mask),
            "headers": mask.headers(prepared.headers) if mask.active else prepared.headers,
            "body": None if body is None else mask.clip(body, limit),
        }
        if body is not None:
            snapshot["size"] = len(body)  # characters of the whole body text; the snapshot holds `limit`
        return snapshot

    def response(self, raw: Response) -> dict[str, Any]:
        """Only the part of the body the snapshot keeps is decoded; size and sha256 describe the body read.

        `truncated` says the target sent more than the response size cap, so the body (and `size`, `sha256`)
        stop at the cap; `content_length` is what the target declared, when it did.
        """
        mask, limit = self._mask, self._limit
        snapshot = {
            "status": raw.status,
            "headers": raw.headers,
            "body": mask.clip(raw.text_head(limit + mask.longest), limit) if mask.active else raw.text_head(limit),
            "size": len(raw.body),
            "sha256": raw.sha256 or hashlib.sha256(raw.body).hexdigest(),
            "truncated": raw.truncated,
            "elapsed_ms": round(raw.elapsed_ms, 3),
            "url": record_text(raw.url, limit=limit, mask=mask),
        }
        if raw.truncated:
            snapshot["content_length"] = raw.content_length
        # The redirects followed to get here (at most MAX_REDIRECTS): where each hop was and where it pointed.
        snapshot["redirects"] = [
            {
                "status": hop["status"],
                "url": record_text(hop["url"], limit=limit, mask=mask),
                "location": record_text(hop["location"], limit=limit, mask=mask),
            }
            for hop in raw.hops
        ]
        if mask.active:
            snapshot["headers"] = mask.value(raw.headers)
        return snapshot

    def dataset(self, dataset: DatasetSpec | None, scope: Mapping[str, Any]) -> dict[str, Any]:
        """The data row, the fan-out row and the values set or extracted at run time, each value bounded.

        The row is the fourth layer from the bottom (row, run, scenario, environment: Iterations.layers).
        """
        maps = scope.maps if isinstance(scope, ChainMap) else [{}]
        mask, limit = self._mask, self._value_limit
        values = mask.variables(dict(maps[0])) if mask.active else maps[0]
        row = maps[-4] if len(maps) >= 5 else {}
        return {
            "row": record_mapping(row, limit=limit, mask=mask),
            "dataset": record_mapping(dataset.variables if dataset else None, limit=limit, mask=mask),
            "values": record_mapping(values, limit=limit, mask=mask),
        }

    def checks(self, checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Assertion and extractor results: expected and actual bounded as values, messages as text."""
        mask, limit = self._mask, self._value_limit
        return [record_check(check, limit=limit, mask=mask) for check in checks]

    def values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Extracted values, each bounded on its own (the runtime keeps them whole)."""
        return record_mapping(values, limit=self._value_limit, mask=self._mask) or {}

    def text(self, text: str) -> str:
        """An error text: masked, and cut at the per-value limit with its length said."""
        return record_text(text, limit=self._value_limit, mask=self._mask)
