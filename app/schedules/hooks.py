"""GitHub and GitLab webhooks: verifying a delivery and reading what it says (pure: bytes and dicts in).

- GitHub signs the raw body: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`; GitLab sends the
  secret itself in `X-Gitlab-Token`. Both are compared in constant time.
- Events: a push to a branch, and a pull request (GitLab: merge request) opened, reopened or given new commits.
  Anything else (tag pushes, branch deletions, closed or labelled pull requests, pings) is an ignored
  delivery with the reason, never an error: code hosts send many events to one hook.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.errors import AppError, validation_details

ZERO_SHA = "0" * 40
Sha = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=500)]
Url = Annotated[str, Field(max_length=2048)]
RepositoryId = int | Annotated[str, Field(max_length=200)]


class Ignored(Exception):
    """A genuine delivery this trigger does not act on; the reason goes back in the 202."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class HookEvent:
    """What a push or pull request delivery says, the same for both code hosts."""

    provider: str
    event: str  # push | pull_request
    branch: str  # the branch whose commit is tested (a pull request's source branch)
    commit: str
    repository: str  # owner/name (GitHub full_name, GitLab path_with_namespace)
    repository_id: str
    build_url: str | None  # compare view, pull request or merge request page
    compare_url: str | None = None
    target_branch: str | None = None  # a pull request's base branch, which the branch filters match
    pull_request: int | None = None
    action: str | None = None

    @property
    def filtered_branch(self) -> str:
        return self.target_branch if self.event == "pull_request" and self.target_branch else self.branch

    def metadata(self) -> dict[str, Any]:
        """The run's CI metadata (ScenarioRun.ci / PlanRun.trigger)."""
        fields = {
            "commit": self.commit,
            "branch": self.branch,
            "build_url": self.build_url,
            "repository": self.repository,
            "provider": self.provider,
            "event": self.event,
            "compare_url": self.compare_url,
            "target_branch": self.target_branch,
            "pull_request": self.pull_request,
        }
        return {key: value for key, value in fields.items() if value is not None}


# ---- verifying -----------------------------------------------------------------------------------------------
def github_signature(secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 GitHub sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_github(secret: str, body: bytes, signature: str | None) -> bool:
    """True when the header is GitHub's HMAC of exactly these bytes (constant-time comparison)."""
    if not signature:
        return False
    return hmac.compare_digest(github_signature(secret, body).encode(), signature.strip().encode())


def verify_gitlab(secret: str, token: str | None) -> bool:
    """True when X-Gitlab-Token is the trigger's secret (constant-time comparison)."""
    if not token:
        return False
    return hmac.compare_digest(secret.encode(), token.encode())


# ---- reading -------------------------------------------------------------------------------------------------
class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _GithubRepository(_Loose):
    id: RepositoryId
    full_name: Text


class _GithubPush(_Loose):
    ref: Text
    after: Sha
    deleted: bool = False
    compare: Url | None = None
    repository: _GithubRepository


class _GithubRef(_Loose):
    ref: Text
    sha: Sha | None = None


class _GithubPullRequest(_Loose):
    html_url: Url | None = None
    head: _GithubRef
    base: _GithubRef


class _GithubPullRequestEvent(_Loose):
    action: Text
    number: int
    pull_request: _GithubPullRequest
    repository: _GithubRepository


class _GitlabProject(_Loose):
    id: RepositoryId
    path_with_namespace: Text
    web_url: Url | None = None


class _GitlabPush(_Loose):
    ref: Text
    before: Text | None = None
    after: Sha
    checkout_sha: Text | None = None
    project: _GitlabProject


class _GitlabCommit(_Loose):
    id: Sha


class _GitlabMergeAttributes(_Loose):
    iid: int
    action: Text | None = None
    source_branch: Text
    target_branch: Text
    last_commit: _GitlabCommit
    url: Url | None = None
    oldrev: Text | None = None


class _GitlabMergeRequest(_Loose):
    project: _GitlabProject
    object_attributes: _GitlabMergeAttributes


PULL_REQUEST_ACTIONS = ("opened", "reopened", "synchronize")
MERGE_REQUEST_ACTIONS = ("open", "reopen", "update")


def _read(model: type[_Loose], payload: Any) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        details = validation_details(exc.errors())
        for detail in details:
            detail["loc"] = ["body", *detail["loc"]]
        first = details[0]
        where = ".".join(str(part) for part in first["loc"])
        raise AppError(
            f"{where}: {first['msg']} (not a delivery this hook can read)",
            details=details,
            status_code=422,
            code="validation_error",
        ) from None


def _branch_of(ref: str) -> str:
    if not ref.startswith("refs/heads/"):
        kind = "a tag" if ref.startswith("refs/tags/") else f"'{ref}'"
        raise Ignored(f"the push is to {kind}, not a branch")
    return ref.removeprefix("refs/heads/")


def read_github(event: str | None, payload: Any) -> HookEvent:
    """A GitHub delivery (X-GitHub-Event and its JSON) as a HookEvent; Ignored for what does not start runs."""
    if event == "ping":
        raise Ignored("ping: the webhook reaches this trigger")
    if event == "push":
        push = _read(_GithubPush, payload)
        branch = _branch_of(push.ref)
        if push.deleted or push.after == ZERO_SHA:
            raise Ignored(f"branch '{branch}' was deleted")
        return HookEvent(
            provider="github",
            event="push",
            branch=branch,
            commit=push.after,
            repository=push.repository.full_name,
            repository_id=str(push.repository.id),
            build_url=push.compare,
            compare_url=push.compare,
        )
    if event == "pull_request":
        pull = _read(_GithubPullRequestEvent, payload)
        if pull.action not in PULL_REQUEST_ACTIONS:
            raise Ignored(f"pull request action '{pull.action}' starts nothing ({', '.join(PULL_REQUEST_ACTIONS)} do)")
        if not pull.pull_request.head.sha:
            raise AppError(
                "body.pull_request.head.sha: missing (not a delivery this hook can read)",
                details=[{"loc": ["body", "pull_request", "head", "sha"], "msg": "missing"}],
                status_code=422,
                code="validation_error",
            )
        return HookEvent(
            provider="github",
            event="pull_request",
            branch=pull.pull_request.head.ref,
            commit=pull.pull_request.head.sha,
            repository=pull.repository.full_name,
            repository_id=str(pull.repository.id),
            build_url=pull.pull_request.html_url,
            target_branch=pull.pull_request.base.ref,
            pull_request=pull.number,
            action=pull.action,
        )
    raise Ignored(f"GitHub event '{(event or 'none')[:100]}' starts nothing (push and pull_request do)")


def read_gitlab(event: str | None, payload: Any) -> HookEvent:
    """A GitLab delivery (X-Gitlab-Event and its JSON) as a HookEvent; Ignored for what does not start runs."""
    if event == "Push Hook":
        push = _read(_GitlabPush, payload)
        branch = _branch_of(push.ref)
        if push.after == ZERO_SHA:
            raise Ignored(f"branch '{branch}' was deleted")
        web_url = (push.project.web_url or "").rstrip("/")
        compare = f"{web_url}/-/compare/{push.before}...{push.after}" if web_url and push.before != ZERO_SHA else None
        commit_url = f"{web_url}/-/commit/{push.after}" if web_url else None
        return HookEvent(
            provider="gitlab",
            event="push",
            branch=branch,
            commit=push.checkout_sha or push.after,
            repository=push.project.path_with_namespace,
            repository_id=str(push.project.id),
            build_url=compare or commit_url,
            compare_url=compare,
        )
    if event == "Merge Request Hook":
        merge = _read(_GitlabMergeRequest, payload)
        attributes = merge.object_attributes
        if attributes.action not in MERGE_REQUEST_ACTIONS:
            raise Ignored(
                f"merge request action '{attributes.action}' starts nothing ({', '.join(MERGE_REQUEST_ACTIONS)} do)"
            )
        if attributes.action == "update" and not attributes.oldrev:
            raise Ignored("merge request update without new commits (title, labels, ...)")
        return HookEvent(
            provider="gitlab",
            event="pull_request",
            branch=attributes.source_branch,
            commit=attributes.last_commit.id,
            repository=merge.project.path_with_namespace,
            repository_id=str(merge.project.id),
            build_url=attributes.url,
            target_branch=attributes.target_branch,
            pull_request=attributes.iid,
            action=attributes.action,
        )
    raise Ignored(f"GitLab event '{(event or 'none')[:100]}' starts nothing (Push Hook and Merge Request Hook do)")


def read(provider: str, headers: Mapping[str, str], payload: Any) -> HookEvent:
    """The delivery as a HookEvent, by the trigger's provider."""
    if provider == "github":
        return read_github(headers.get("x-github-event"), payload)
    return read_gitlab(headers.get("x-gitlab-event"), payload)


def matching_branch(branch: str, patterns: Sequence[str]) -> str | None:
    """The pattern that takes the branch, or None. As in GitHub Actions, patterns apply in order and one starting
    with `!` leaves out what matches the rest of it, until a later pattern takes it again (`release/**`,
    `!release/**-alpha`); `branch_pattern` says how a pattern reads."""
    taken: str | None = None
    for pattern in patterns:
        if pattern.startswith("!"):
            if taken is not None and branch_pattern(pattern[1:]).fullmatch(branch):
                taken = None
        elif branch_pattern(pattern).fullmatch(branch):
            taken = pattern
    return taken


@functools.lru_cache(maxsize=512)
def branch_pattern(pattern: str) -> re.Pattern[str]:
    """A branch filter as GitHub Actions reads one: `*` is any characters but `/` (`release/*` matches
    release/1.2, not release/1.2/fix), `**` any characters (`**` is every branch, `feature/**` every branch
    under feature/), `?` one character but `/`, `[...]` one of a set; anything else is itself."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        elif char == "[" and (end := pattern.find("]", index + 2)) != -1:
            members = pattern[index + 1 : end]
            negated = members.startswith("!")
            members = members[1:] if negated else members
            escaped = "".join(member if member == "-" else re.escape(member) for member in members)
            parts.append(("[^" if negated else "[") + escaped + "]")
            index = end + 1
            continue
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts))
