"""What a StepResult keeps of a request, a response and the variables: clipped to the body limit, secrets masked."""

from __future__ import annotations

import hashlib
from collections import ChainMap
from collections.abc import Mapping
from typing import Any

from app.engine.flow import DatasetSpec
from app.engine.masking import Masker
from app.engine.transport import PreparedRequest, Response


class Snapshots:
    """Built once per run; without secrets the hot path copies nothing it does not have to."""

    __slots__ = ("_limit", "_mask")

    def __init__(self, masker: Masker, body_limit: int) -> None:
        self._mask = masker
        self._limit = body_limit

    def request(self, prepared: PreparedRequest) -> dict[str, Any]:
        mask, limit, body = self._mask, self._limit, prepared.body_text
        if not mask.active:
            return {
                "method": prepared.method,
                "url": prepared.url,
                "headers": prepared.headers,
                "body": None if body is None else body[:limit],
            }
        return {
            "method": prepared.method,
            "url": mask.text(prepared.url),
            "headers": mask.headers(prepared.headers),
            "body": None if body is None else mask.clip(body, limit),
        }

    def response(self, raw: Response) -> dict[str, Any]:
        """Only the part of the body the snapshot keeps is decoded; size and sha256 describe the whole body."""
        mask, limit = self._mask, self._limit
        snapshot = {
            "status": raw.status,
            "headers": raw.headers,
            "body": mask.clip(raw.text_head(limit + mask.longest), limit) if mask.active else raw.text_head(limit),
            "size": len(raw.body),
            "sha256": hashlib.sha256(raw.body).hexdigest(),
            "elapsed_ms": round(raw.elapsed_ms, 3),
            "url": raw.url,
        }
        if mask.active:
            snapshot["headers"] = mask.value(raw.headers)
            snapshot["url"] = mask.text(raw.url)
        return snapshot

    def dataset(self, dataset: DatasetSpec | None, scope: Mapping[str, Any]) -> dict[str, Any]:
        """The data row, the fan-out row and the values set or extracted at run time.

        The row is the fourth layer from the bottom (row, run, scenario, environment: FlowRunner._layers).
        """
        maps = scope.maps if isinstance(scope, ChainMap) else [{}]
        values = maps[0]
        row = maps[-4] if len(maps) >= 5 else {}
        snapshot = {"row": row, "dataset": dataset.variables if dataset else None, "values": dict(values)}
        return self._mask.value(snapshot) if self._mask.active else snapshot
