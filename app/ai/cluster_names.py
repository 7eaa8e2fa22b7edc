"""Names for failure clusters: a title built from the signature with no model, a written one with a model.

The signature is "status class | failing check | normalised message[ | saw statuses]" (app.reports.clustering);
without a model the title is its check and message, the likely cause read off its status class and words.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.ai.assistant import UnsafeAnswer

TITLE_CHARS = 80
_NETWORK = r"connect|refused|dns|resolve|unreachable|reset by peer|ssl|tls|certificate"
_AUTH = r"\b40[13]\b|unauthori[sz]ed|forbidden|token|credential|sign.?in|login"
_CONTRACT = r"json_schema|schema|missing|required property|not of type|additional propert"
_CAUSES = (
    (re.compile(_NETWORK, re.I), "the target could not be reached: network or environment"),
    (re.compile(r"timeout|timed out|response_time", re.I), "the target answered too slowly"),
    (re.compile(_AUTH, re.I), "the request was not authenticated or not allowed"),
    (re.compile(_CONTRACT, re.I), "the response's shape changed: a contract change"),
    (re.compile(r"\b5\d\d\b|internal server error|bad gateway|unavailable", re.I), "the target failed: a server error"),
    (re.compile(r"\b4\d\d\b", re.I), "the target refused the request's data"),
)


class ClusterTitle(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cluster_id: str = Field(min_length=1, max_length=32)
    title: str = Field(min_length=3, max_length=TITLE_CHARS)
    likely_cause: str = Field(default="", max_length=300)


class ClusterTitles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    names: list[ClusterTitle] = Field(max_length=100)


def deterministic(cluster: dict[str, Any]) -> ClusterTitle:
    parts = [part.strip() for part in str(cluster.get("signature") or "").split(" | ")]
    status, check, text = [*parts, "", "", ""][:3]
    title = f"{check}: {text}" if check and check != "-" else text or status or "failure"
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1].rstrip() + "…"
    said = " ".join(parts)
    cause = next((cause for pattern, cause in _CAUSES if pattern.search(said)), "unknown: read the example failure")
    return ClusterTitle(
        cluster_id=str(cluster["id"]), title=title if len(title) >= 3 else f"{title}...", likely_cause=cause
    )


def facts(clusters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "groups": [
            {
                "id": cluster["id"],
                "signature": cluster["signature"],
                "size": cluster["size"],
                "case_ids": cluster["case_ids"][:10],
                "scenario_ids": cluster["scenario_ids"][:10],
                "example": str((cluster.get("example") or {}).get("message", ""))[:500],
            }
            for cluster in clusters
        ]
    }


def checker(cluster_ids: list[str]) -> Any:
    def check(answer: ClusterTitles) -> None:
        named = [name.cluster_id for name in answer.names]
        unknown = sorted(set(named) - set(cluster_ids))
        if unknown:
            raise UnsafeAnswer(f"names.cluster_id: {', '.join(unknown)} are not clusters that were given")
        if len(set(named)) != len(named):
            raise UnsafeAnswer("names: a cluster is named twice")

    return check
