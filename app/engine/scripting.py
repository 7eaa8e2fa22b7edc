"""A step's JavaScript pre-request and test scripts: what the engine hands the sandbox and what it takes back.

A pre-request script sees the case's request as written (templates not yet replaced, as in Postman) and may change
it; a test script sees the request that was sent and the response. Every variable a script sets lands in the
iteration's run-time layer (never a stored environment); each `pm.test` becomes an assertion result.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping, MutableMapping
from http import HTTPStatus
from typing import Any

import orjson
from pydantic import ValidationError

from app.engine.attempt import Attempt, StepPosition
from app.engine.checks import check_result
from app.engine.exchange import IterationState
from app.engine.scripts.sandbox import CompiledScript, ScriptError, ScriptLimits, ScriptRun, shared_sandbox
from app.engine.specs import BodySpec, RequestSpec
from app.engine.templates import as_text
from app.engine.transport import PreparedRequest, Response


class ScriptFailed(Exception):
    """The script threw, touched what Exile does not support, or broke a limit: the step ends `error`."""


class ScriptHost:
    """Runs one step's scripts for a run: the limits and the secrets' names are the run's."""

    __slots__ = ("limits", "sandbox", "secret_names")

    def __init__(self, secret_names: list[str], limits: ScriptLimits) -> None:
        self.secret_names = secret_names
        self.limits = limits
        self.sandbox = shared_sandbox()

    async def pre_request(
        self,
        script: CompiledScript,
        at: StepPosition,
        request: RequestSpec,
        scope: MutableMapping[str, Any],
        runtime: dict[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> RequestSpec:
        """Run a pre-request script; the request to send (changed when the script changed `pm.request`)."""
        shown = template_request(request)
        result = await self._run(script, "prerequest", at, shown, None, scope, state)
        self._apply(result, "pre-request", runtime, state, outcome)
        if result.request is None:
            return request
        return changed_request(request, shown, result.request)

    async def test(
        self,
        script: CompiledScript,
        at: StepPosition,
        prepared: PreparedRequest | None,
        response: Response,
        scope: MutableMapping[str, Any],
        runtime: dict[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> None:
        sent = sent_request(prepared) if prepared is not None else None
        result = await self._run(script, "test", at, sent, response, scope, state)
        self._apply(result, "test", runtime, state, outcome)

    async def _run(
        self,
        script: CompiledScript,
        event: str,
        at: StepPosition,
        request: dict[str, Any] | None,
        response: Response | None,
        scope: MutableMapping[str, Any],
        state: IterationState,
    ) -> ScriptRun:
        step = at.step
        payload = {
            "event": event,
            "info": {"iteration": max(at.iteration, 0), "requestName": step.name, "requestId": step.key},
            "request": request,
            "response": response_for_script(response) if response is not None else None,
            "variables": scope_layers(scope),
            "runtimeScopes": state.variable_scopes,
            "secretNames": self.secret_names,
        }
        try:
            return await self.sandbox.run_async(script, payload, self.limits)
        except ScriptError as exc:
            raise ScriptFailed(f"{'pre-request' if event == 'prerequest' else 'test'} script: {exc}") from None

    def _apply(
        self, result: ScriptRun, event: str, runtime: dict[str, Any], state: IterationState, outcome: Attempt
    ) -> None:
        for test in result.tests:
            name = str(test.get("name") or "")
            passed, skipped = bool(test.get("passed")), bool(test.get("skipped"))
            message = "skipped" if skipped else ("passed" if passed else str(test.get("error") or "failed"))
            outcome.assertions.append(check_result("script", name, "test", None, None, passed, message))
        for name in result.unset:
            runtime.pop(name, None)
            state.variable_scopes.pop(name, None)
        for name, value in result.set.items():
            if result.secret_read:  # what a script computed after reading a secret is masked like the secret
                state.taint.derive(name, value, f"the {event} script setting '{name}'")
            runtime[name] = value
            state.variable_scopes[name] = result.set_scopes.get(name, "local")
        if result.next is not None:
            state.next_request = result.next.get("name")
        if result.error is not None:
            error = result.error
            text = str(error.get("message") or "")
            if result.unsupported is None and error.get("name"):
                text = f"{error['name']}: {text}"
            raise ScriptFailed(f"{event} script: {text}")


def scope_layers(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The scope's layers by the names the `pm` API reads them by (CONTRACT.md).

    A step's scope is ChainMap(runtime, [dataset row,] step variables, data row, run, scenario, environment).
    """
    maps = scope.maps if isinstance(scope, ChainMap) else [scope]
    if len(maps) >= 6:
        runtime, middle, (row, run, scenario, environment) = maps[0], maps[1:-4], maps[-4:]
        data = {**row, **middle[0]} if len(middle) == 2 else dict(row)
        step = middle[-1]
        return {
            "runtime": runtime, "step": step, "data": data, "run": run, "scenario": scenario,
            "environment": environment,
        }  # fmt: skip
    merged: dict[str, Any] = {}
    for layer in reversed(maps[1:]):
        merged.update(layer)
    return {"runtime": maps[0], "step": merged, "data": {}, "run": {}, "scenario": {}, "environment": {}}


def template_request(spec: RequestSpec) -> dict[str, Any]:
    """The case's request as a pre-request script sees it (templates as written)."""
    query = "&".join(
        f"{name}={item}"
        for name, value in spec.query.items()
        for item in (value if isinstance(value, list) else [value])
    )
    body = spec.body
    shown: dict[str, Any]
    if body.mode == "json":
        shown = {"mode": "raw", "raw": orjson.dumps(body.content).decode()}
    elif body.mode == "raw":
        shown = {"mode": "raw", "raw": body.content or ""}
    elif body.mode in ("urlencoded", "form"):
        mode = "urlencoded" if body.mode == "urlencoded" else "formdata"
        shown = {"mode": mode, mode: [[key, _text(value)] for key, value in (body.content or {}).items()]}
    else:
        shown = {"mode": "none"}
    return {
        "method": spec.method,
        "url": f"{spec.url}?{query}" if query else spec.url,
        "headers": [[name, value] for name, value in spec.headers.items()],
        "body": shown,
    }


def changed_request(spec: RequestSpec, shown: dict[str, Any], changed: dict[str, Any]) -> RequestSpec:
    """The case's request with what the script changed; a change that makes it invalid fails the step."""
    update: dict[str, Any] = {}
    if changed.get("method") and changed["method"] != shown["method"]:
        update["method"] = changed["method"]
    url = changed.get("url")
    if isinstance(url, str) and url != shown["url"]:
        base, _, query = url.partition("?")
        update["url"] = base
        pairs: dict[str, Any] = {}
        for part in filter(None, query.split("&")):
            name, _, value = part.partition("=")
            pairs.setdefault(name, []).append(value)
        update["query"] = {name: values[0] if len(values) == 1 else values for name, values in pairs.items()}
    headers = changed.get("headers")
    if isinstance(headers, list) and headers != shown["headers"]:
        update["headers"] = {str(pair[0]): _text(pair[1]) for pair in headers if isinstance(pair, list) and pair}
    body = changed.get("body")
    if isinstance(body, dict) and body != shown["body"]:
        update["body"] = _body_spec(spec.body, body)
    if not update:
        return spec
    try:
        return RequestSpec.model_validate({**spec.model_dump(by_alias=True), **update})
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise ScriptFailed(f"pre-request script: the changed request is not valid: {where}: {problem['msg']}") from None


def _body_spec(original: BodySpec, body: dict[str, Any]) -> dict[str, Any]:
    mode = body.get("mode")
    if mode == "urlencoded" or mode == "formdata":
        fields = {str(pair[0]): _text(pair[1]) for pair in body.get(mode) or [] if isinstance(pair, list) and pair}
        return {"mode": "urlencoded" if mode == "urlencoded" else "form", "content": fields}
    if mode == "raw":
        content_type = original.content_type or ("application/json" if original.mode == "json" else None)
        return {"mode": "raw", "content": _text(body.get("raw") or ""), "content_type": content_type}
    return {"mode": "none"}


def sent_request(prepared: PreparedRequest) -> dict[str, Any]:
    return {
        "method": prepared.method,
        "url": prepared.url,
        "headers": [[name, value] for name, value in prepared.headers],
        "body": {"mode": "raw", "raw": prepared.body_text} if prepared.body_text is not None else {"mode": "none"},
    }


def response_for_script(response: Response) -> dict[str, Any]:
    try:
        status = HTTPStatus(response.status).phrase
    except ValueError:
        status = ""
    return {
        "code": response.status,
        "status": status,
        "headers": [[name, value] for name, value in response.headers],
        "body": response.body.decode("utf-8", "replace"),
        "responseTime": round(response.elapsed_ms, 3),
        "responseSize": len(response.body),
    }


def _text(value: Any) -> str:
    """A header or form value as the request sends it (templates.as_text), a missing one as nothing."""
    return "" if value is None else as_text(value)
