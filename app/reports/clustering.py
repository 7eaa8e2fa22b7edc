"""Failures grouped by cause, so a report shows "42 failures from one cause" instead of 42 rows.

Each failure gets a signature: the class of the status the target answered with, what failed (the first failing
check's source, expression and op) and the failure's text (the check's message and what it saw, else the error)
with its variable parts replaced (`normalise_text`). Failures with equal signatures are one group.

Groups are then merged when they differ only by where the cause was seen. Two groups may merge when their status
class, check and the HTTP statuses they saw are equal (their block); they do when their texts, without what says
where (paths, URLs, a step's name, words seen at one case and step only), are similar enough by rapidfuzz's
token-sort ratio. The merge compares distinct signatures, never rows, and each group with at most
MAX_REPRESENTATIVES cluster leaders of its block, so 50,000 failures from a few dozen causes cluster in about half
a second.

A cluster's key is the hash of the signature of its first-seen member: a name or ticket given to a cluster stays
with it as new endpoints join it. Each member signature's own `cluster_key` is listed too, to follow a cluster
whose first member has aged out of the window.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rapidfuzz import fuzz, process, utils

from app.reports.normalise import normalise_text

# Similarity (0..1, rapidfuzz's token-sort ratio / 100) from which two groups of one block are one cause. Tuned on
# planted histories: one cause's texts seen at different places score 0.9 to 1.0 once the places are taken out,
# lookalike causes (a DNS failure and a refused connection to one host; "insufficient funds" and "card expired")
# 0.6 to 0.75.
DEFAULT_SIMILARITY = 0.85
DEFAULT_MAX_IDS = 20
# The actual value a check saw is part of the signature, up to this long: messages show it quoted (so as `<str>`),
# and its start says what came back instead (an error text, a state).
MAX_ACTUAL = 120
# A block with more clusters than this compares a new group with its largest ones only: the work stays bounded
# even when normalisation leaves every failure distinct.
MAX_REPRESENTATIVES = 200
# A text is compared without its local words (see `_merge_block`) only when they are at most this share of it.
MAX_LOCAL_SHARE = 1 / 3
# Seen in this many failures, a word is common in its block (see `_merge_block`).
MIN_COMMON = 3
# What must agree for two groups to merge, read from an error's text: the HTTP statuses it says were seen (those
# `normalise_text` kept; not one it says was expected) and its JSONPaths (`$.total` and `$.count` failing are
# different causes, however alike their messages).
_ANCHOR = re.compile(
    r"(?<![\w<])(?:(?P<expected>expect[^0-9]{0,20})?(?P<status>[1-5]\d\d)(?![\w>]))|(?P<path>\$[\w.\[\]<>*@?'\"-]*)"
)
# Where a cause was seen, not what it is: request paths and URLs (with their method), the containers of a document
# path (`payments/<n>/amount` -> `amount`: which field is wrong is the cause, the document it is in the place), and
# the one-word label a text starts with when more labelled text follows (a step's name: "checkout: test script:
# failed: ..."), unless it is an exception's type ("KeyError: ...").
_WHERE = re.compile(
    r"(?:\b(?:get|post|put|patch|delete|head|options)\s+)?"
    r"(?:https?://[^\s'\"()<>]+|(?<![\w.:/<>-])/[\w<>.~%=&?+-]+(?:/[\w<>.~%=&?+-]*)*)"
)
_CONTAINERS = re.compile(r"(?<![\w<>/.-])(?:[\w<>.-]+/)+(?=[\w<>.-]+)")
_LABEL = re.compile(r"^(?![\w.-]*(?:error|exception)\b)[\w.-]+: (?=[^:]+: )")


@dataclass(frozen=True)
class Failure:
    request_run_id: int
    scenario_run_id: int
    scenario_id: int | None
    case_id: int | None
    step_key: str
    status: str
    status_code: int | None
    error: str | None
    assertions: list[dict[str, Any]]
    started_at: datetime


@dataclass(frozen=True)
class Example:
    """The most recent failure of a cluster, as a report shows it."""

    request_run_id: int
    message: str
    status_code: int | None


@dataclass
class Cluster:
    key: str
    signature: str
    size: int  # failures in this cluster
    first_seen: datetime
    last_seen: datetime
    case_ids: list[int]
    scenario_ids: list[int]
    request_run_ids: list[int]  # most recent first, at most `max_ids`
    total: int  # request runs in the cluster (= size: one failure is one request run), however many are listed
    example: Example
    member_ids: list[int] = field(default_factory=list)  # every request run of the cluster, most recent first
    signatures: list[str] = field(default_factory=list)  # members, most failures first
    signature_keys: list[str] = field(default_factory=list)  # `cluster_key` of each member, in the same order


@dataclass(frozen=True)
class _Parts:
    """A signature's fields: `block` must be equal for two groups to merge, and their texts similar."""

    block: tuple[str, ...]
    text: str


def first_failing_assertion(failure: Failure) -> dict[str, Any] | None:
    for assertion in failure.assertions:
        if isinstance(assertion, dict) and assertion.get("passed") is False:
            return assertion
    return None


def failure_message(failure: Failure) -> str:
    """What a report says failed: the first failing check's message, else the error."""
    assertion = first_failing_assertion(failure)
    if assertion is not None and assertion.get("message"):
        return str(assertion["message"])
    return failure.error or failure.status


def status_class(status_code: int | None) -> str:
    return "none" if status_code is None else f"{status_code // 100}xx"


def _actual_text(value: Any, source: str, normalise: Callable[[str], str]) -> str:
    if isinstance(value, bool):
        return str(value).lower()  # as JSON writes it
    if source == "status_code" and isinstance(value, int):
        return str(value)  # a status as it is: normalise_text would take a lone number for a count
    if isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        return ""  # nothing found, an object or a list: the message already says what differed
    return normalise(text)[:MAX_ACTUAL]


@functools.lru_cache(maxsize=4096)  # normalised texts repeat: one cause, one text
def _anchors(text: str) -> str:
    found = {
        match.group("status") or match.group("path")
        for match in _ANCHOR.finditer(text)
        if match.group("path") or not match.group("expected")
    }
    return " ".join(sorted(found))


def _parts(failure: Failure, normalise: Callable[[str], str] = normalise_text) -> _Parts:
    assertion = first_failing_assertion(failure)
    if assertion is None:
        message = normalise(failure.error or failure.status)
        source = expression = op = actual = ""
        anchors = _anchors(message)
    else:
        message = normalise(str(assertion.get("message") or failure.error or failure.status))
        source = str(assertion.get("source") or "")
        expression = normalise(str(assertion.get("expression") or ""))
        op = str(assertion.get("op") or "")
        actual = _actual_text(assertion.get("actual"), source, normalise)
        # The check itself (source, expression, op) is in the block; of what it saw, a status.
        anchors = _anchors(actual)
    block = (status_class(failure.status_code), source, expression, op, anchors)
    text = f"{message} {actual}" if actual and actual not in message else message
    return _Parts(block, text)


def _signature_of(parts: _Parts) -> str:
    status, source, expression, op, anchors = parts.block
    check = " ".join(part for part in (source, expression, op) if part) or "-"
    # The statuses seen are said when the text does not say them: two signatures never share a text but not a block.
    unsaid = [anchor for anchor in anchors.split() if anchor not in parts.text]
    return f"{status} | {check} | {parts.text}" + (f" | saw {' '.join(unsaid)}" if unsaid else "")


def signature(failure: Failure) -> str:
    """The failure's cause in one line: status class, the failing check, and its normalised message and actual."""
    return _signature_of(_parts(failure))


def cluster_key(signature: str) -> str:
    """A short key that stays the same for the same signature, across recomputations and processes."""
    return hashlib.sha1(signature.encode(), usedforsecurity=False).hexdigest()[:16]


@dataclass
class _Group:
    signature: str
    parts: _Parts
    failures: list[Failure] = field(default_factory=list)

    @property
    def compared(self) -> str:
        """The text without where it was seen, as rapidfuzz compares it."""
        text = _CONTAINERS.sub("", _WHERE.sub("<path>", _LABEL.sub("", self.parts.text)))
        return utils.default_process(text)

    @property
    def first_seen(self) -> datetime:
        return min(failure.started_at for failure in self.failures)


def _group(failures: Iterable[Failure]) -> list[_Group]:
    groups: dict[str, _Group] = {}
    # Many texts repeat verbatim (a status check's message, an expression, a refused connection): each distinct
    # text is normalised once.
    normalised: dict[str, str] = {}

    def normalise(text: str) -> str:
        result = normalised.get(text)
        if result is None:
            result = normalised[text] = normalise_text(text)
        return result

    for failure in failures:
        parts = _parts(failure, normalise)
        sig = _signature_of(parts)
        group = groups.get(sig)
        if group is None:
            group = groups[sig] = _Group(sig, parts)
        group.failures.append(failure)
    return list(groups.values())


def _merge(groups: list[_Group], cutoff: float) -> list[list[_Group]]:
    blocks: dict[tuple[str, ...], list[_Group]] = {}
    # Largest groups first: they lead their clusters, and the order (so the result) does not depend on the input's.
    for group in sorted(groups, key=lambda group: (-len(group.failures), group.signature)):
        blocks.setdefault(group.parts.block, []).append(group)
    return [members for block in blocks.values() for members in _merge_block(block, cutoff)]


def _merge_block(groups: list[_Group], cutoff: float) -> list[list[_Group]]:
    """Each group joins the cluster whose leader's text is the most similar, if similar enough, else leads one.

    Texts are compared whole; then without their one-off words (seen in one failure only: an id that looks like a
    word); then, between groups seen at different places, without their local words (seen at one place only, case
    and step, in this block: a step's or a host's name say where a cause was seen). A text keeps its words when
    they are more than MAX_LOCAL_SHARE of it, or when its other words are not common: then they are what it says.
    """
    words = [group.compared.split() for group in groups]
    places = [frozenset((failure.case_id, failure.step_key) for failure in group.failures) for group in groups]
    seen_at: dict[str, set[tuple[int | None, str]]] = {}
    seen_in: dict[str, int] = {}
    for group, group_words, group_places in zip(groups, words, places, strict=True):
        for word in set(group_words):
            seen_at.setdefault(word, set()).update(group_places)
            seen_in[word] = seen_in.get(word, 0) + len(group.failures)
    texts = [_sorted_text(group_words) for group_words in words]

    # Words are dropped only from a text whose other words are common (seen in MIN_COMMON failures or more): else
    # the dropped ones may be what a rare cause says ("card stolen" once, next to "insufficient funds" once).
    def common(word: str) -> bool:
        return seen_in[word] >= MIN_COMMON

    general = [_without(group_words, lambda word: seen_in[word] == 1, common) for group_words in words]
    placeless = [_without(group_words, lambda word: len(seen_at[word]) == 1, common) for group_words in words]
    clusters: list[list[_Group]] = []
    leaders: list[int] = []  # the first MAX_REPRESENTATIVES clusters' leaders (the largest groups)
    leader_texts: list[str] = []
    for index, group in enumerate(groups):
        match = process.extractOne(texts[index], leader_texts, scorer=fuzz.ratio, score_cutoff=cutoff)
        if match is None and general[index] is not None:
            without_one_offs = [general[i] or texts[i] for i in leaders]
            match = process.extractOne(general[index], without_one_offs, scorer=fuzz.ratio, score_cutoff=cutoff)
        if match is None and placeless[index] is not None:
            # Leaders seen at one of this group's places are skipped (None): there, local words tell causes apart.
            elsewhere = [None if places[i] & places[index] else placeless[i] or texts[i] for i in leaders]
            match = process.extractOne(placeless[index], elsewhere, scorer=fuzz.ratio, score_cutoff=cutoff)
        if match is None:
            clusters.append([group])
            if len(leaders) < MAX_REPRESENTATIVES:
                leaders.append(index)
                leader_texts.append(texts[index])
        else:
            clusters[match[2]].append(group)
    return clusters


def _sorted_text(words: list[str]) -> str:
    """Words in order: rapidfuzz's plain ratio on these is its token-sort ratio, without sorting at each compare."""
    return " ".join(sorted(words))


def _without(words: list[str], drop: Callable[[str], bool], common: Callable[[str], bool]) -> str | None:
    """The text without the words `drop` picks, when they are some but not too many of it and the others are all
    common; else None."""
    kept = [word for word in words if not drop(word)]
    if not kept or len(kept) == len(words) or len(words) - len(kept) > len(words) * MAX_LOCAL_SHARE:
        return None
    return _sorted_text(kept) if all(common(word) for word in kept) else None


def _cluster(members: list[_Group], max_ids: int) -> Cluster:
    failures = [failure for group in members for failure in group.failures]
    recent = sorted(failures, key=lambda failure: (failure.started_at, failure.request_run_id), reverse=True)
    by_size = sorted(members, key=lambda group: (-len(group.failures), group.signature))
    named_by = min(members, key=lambda group: (group.first_seen, group.signature))
    latest = recent[0]
    return Cluster(
        key=cluster_key(named_by.signature),
        signature=named_by.signature,
        size=len(failures),
        first_seen=recent[-1].started_at,
        last_seen=latest.started_at,
        case_ids=sorted({failure.case_id for failure in failures if failure.case_id is not None}),
        scenario_ids=sorted({failure.scenario_id for failure in failures if failure.scenario_id is not None}),
        request_run_ids=[failure.request_run_id for failure in recent[:max_ids]],
        total=len(failures),
        example=Example(latest.request_run_id, failure_message(latest), latest.status_code),
        signatures=[group.signature for group in by_size],
        signature_keys=[cluster_key(group.signature) for group in by_size],
        member_ids=[failure.request_run_id for failure in recent],
    )


def cluster_failures(
    failures: Iterable[Failure], *, similarity: float = DEFAULT_SIMILARITY, max_ids: int = DEFAULT_MAX_IDS
) -> list[Cluster]:
    """Failures grouped by cause, largest cluster first (then by key): the same input gives the same output."""
    clusters = [_cluster(members, max_ids) for members in _merge(_group(failures), similarity * 100)]
    clusters.sort(key=lambda cluster: (-cluster.size, cluster.key))
    return clusters
