"""ProjectContent as a Postman collection v2.1 that Newman runs: the reverse of app.interop.postman.

Each step is a request in the flow's order (setup first, teardown last); scenario variables are collection
variables; data rows stay out of the collection (Newman takes them with `-d`, see `data_file`). Checks are
written as the `pm.*` lines the importer reads back: assertions as `pm.test(...)`, extractors and `set`
processors as `pm.environment.set(...)` (the environment outranks collection variables in Postman, as a
value set at run time outranks the scenario's in Exile). Whatever Postman cannot express is a
`// exile: ...` comment where it would have been and an entry in the list returned with the collection.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from app.engine.specs import (
    ApiKeyAuth,
    Assertion,
    BasicAuth,
    BearerAuth,
    Extractor,
    RetrySpec,
    ScenarioSettings,
)
from app.interop.content import CaseContent, NotTranslated, ProjectContent, StepContent
from app.interop.postman import SCHEMAS

DEFAULT_TIMEOUT_MS = 10_000
_PATH_PART = re.compile(r"""\.([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\]""")
_WHOLE_TEMPLATE = re.compile(r"^\{\{\s*([^{}\s]+)\s*\}\}$")
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")


class _Writer:
    def __init__(self) -> None:
        self.notes: list[NotTranslated] = []

    def note(self, location: str, source: Any, reason: str) -> str:
        """Records what is not exported; the comment that goes where it would have been."""
        text = source if isinstance(source, str) else json.dumps(source, ensure_ascii=False)
        self.notes.append(NotTranslated(location=location, source=text[:2000], reason=reason))
        return f"// exile: not exported: {_one_line(text)[:200]} ({reason})"


def to_collection(content: ProjectContent, scenario_index: int = 0) -> tuple[dict[str, Any], list[NotTranslated]]:
    """The collection for one scenario of `content`, and what it could not express (never dropped silently),
    after what the content itself lists as not translated (an export's secrets taken out...)."""
    writer = _Writer()
    writer.notes = list(content.not_translated)
    scenario = content.scenarios[scenario_index]
    cases = {case.key: case for case in content.cases}
    variables = dict(scenario.variables)
    base_url = content.environments[0].base_url if content.environments else ""
    _settings(scenario.settings, writer)
    items = []
    for part in ("setup", "steps", "teardown"):
        for index, step in enumerate(getattr(scenario, part)):
            where = f"scenario.{part}[{index}]"
            if part != "steps":
                writer.note(where, step.case, f"{part} runs once per run in Exile; here it runs in every iteration")
            if not step.enabled:
                writer.note(where, step.case, "a disabled step: left out of the collection")
                continue
            items.append(_item(cases[step.case], step, where, writer))
    if any(_rooted(cases[step.case].url) for step in [*scenario.setup, *scenario.steps, *scenario.teardown]):
        if "base_url" not in variables:
            variables["base_url"] = base_url
            if not base_url:
                writer.note("variable.base_url", "base_url", "URLs that start with / need base_url: set it")
    description = scenario.description
    collection: dict[str, Any] = {
        "info": {
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"exile:{scenario.key}:{scenario.name}")),
            "name": scenario.name,
            "schema": SCHEMAS["v2.1.0"],
        },
        "item": items,
    }
    if writer.notes:
        lines = "\n".join(f"- {note.location}: {note.source} ({note.reason})" for note in writer.notes[:200])
        description = f"{description}\n\nNot exported from Exile:\n{lines}".strip()
    if description:
        collection["info"]["description"] = description
    if variables:
        collection["variable"] = [{"key": key, "value": value} for key, value in variables.items()]
    return collection, writer.notes


def data_file(content: ProjectContent, scenario_index: int = 0) -> list[dict[str, Any]]:
    """The scenario's data rows as a Newman data file (`newman run collection.json -d rows.json`)."""
    return [dict(row) for row in content.scenarios[scenario_index].rows]


def _settings(settings: ScenarioSettings, writer: _Writer) -> None:
    if settings.stop_on_failure:
        writer.note(
            "scenario.settings.stop_on_failure",
            "true",
            "Newman runs the rest of an iteration after a failed request (its --bail stops the whole run)",
        )
    if settings.concurrency > 1:
        writer.note("scenario.settings.concurrency", settings.concurrency, "Newman runs iterations one at a time")
    if settings.retry != RetrySpec():
        writer.note("scenario.settings.retry", settings.retry.model_dump(), "Postman does not retry iterations")
    if settings.rate_limit.per_second is not None:
        writer.note("scenario.settings.rate_limit", settings.rate_limit.model_dump(), "use newman --delay-request")


def _rooted(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


# ---- a request -----------------------------------------------------------------------------------------------------
def _item(case: CaseContent, step: StepContent, where: str, writer: _Writer) -> dict[str, Any]:
    headers = dict(case.headers)
    body = _body(case, headers)
    request: dict[str, Any] = {
        "method": case.method,
        "header": [{"key": key, "value": value, "type": "text"} for key, value in headers.items()],
        "url": _url(case.url, case.query),
        "auth": _auth(case),
    }
    if body is not None:
        request["body"] = body
    if case.description:
        request["description"] = case.description
    item: dict[str, Any] = {"name": step.alias or case.name, "request": request}
    prerequest = _prerequest(case, step, where, writer)
    tests = _tests(case, where, writer)
    # pm.variables outlives the request it was set for; a step's variables are that step's alone
    tests += [f"pm.variables.unset({_js(name)});" for name in step.variables]
    events = [
        {"listen": listen, "script": {"type": "text/javascript", "exec": lines}}
        for listen, lines in (("prerequest", prerequest), ("test", tests))
        if lines
    ]
    if events:
        item["event"] = events
    if not case.follow_redirects:
        item["protocolProfileBehavior"] = {"followRedirects": False}
    if case.timeout_ms != DEFAULT_TIMEOUT_MS:
        writer.note(f"{where}.timeout_ms", case.timeout_ms, "a per-request timeout: use newman --timeout-request")
    if case.retry != RetrySpec():
        writer.note(f"{where}.retry", case.retry.model_dump(), "Postman does not retry a request")
    if case.poll is not None:
        writer.note(f"{where}.poll", case.poll.model_dump(), "Postman does not poll a request until a condition")
    if case.datasets:
        names = ", ".join(dataset.name for dataset in case.datasets)
        writer.note(f"{where}.datasets", names, "a case's datasets have no place in a collection")
    return item


def _url(url: str, query: dict[str, Any]) -> dict[str, Any]:
    """Postman's URL object (what its own exports hold), so Newman and the importer read the same parts."""
    if _rooted(url):
        url = "{{base_url}}" + url
    base, _, inline_query = url.partition("?")
    pairs: list[tuple[str, str]] = []
    for part in inline_query.split("&") if inline_query else []:
        key, _, value = part.partition("=")
        pairs.append((key, value))
    for key, value in query.items():
        for one in value if isinstance(value, list) else [value]:
            pairs.append((key, _text(one)))
    result: dict[str, Any] = {}
    rest = base
    if "://" in base and not base.startswith("{{"):
        result["protocol"], rest = base.split("://", 1)
    host, slash, path = rest.partition("/")
    if (port := re.search(r":(\d+|\{\{[^{}]*\}\})$", host)) is not None:
        result["port"] = port[1]
        host = host[: port.start()]
    result["host"] = host.split(".") if not _TEMPLATE.search(host) else [host]
    if slash:
        result["path"] = path.split("/")
    if pairs:
        result["query"] = [{"key": key, "value": value} for key, value in pairs]
    raw_query = "&".join(f"{key}={value}" for key, value in pairs)
    result = {"raw": base + (f"?{raw_query}" if raw_query else ""), **result}
    return result


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _body(case: CaseContent, headers: dict[str, str]) -> dict[str, Any] | None:
    body = case.body
    has_type = any(key.lower() == "content-type" for key in headers)
    if body.mode == "json":
        if not has_type:
            headers["Content-Type"] = "application/json"
        text = json.dumps(body.content, indent=2, ensure_ascii=False)
        return {"mode": "raw", "raw": text, "options": {"raw": {"language": "json"}}}
    if body.mode == "raw":
        if body.content_type and not has_type:
            headers["Content-Type"] = body.content_type
        raw: dict[str, Any] = {"mode": "raw", "raw": body.content}
        if "json" in (body.content_type or "").lower():
            raw["options"] = {"raw": {"language": "json"}}
        return raw
    if body.mode in ("urlencoded", "form"):
        mode = "urlencoded" if body.mode == "urlencoded" else "formdata"
        fields = [{"key": key, "value": _text(value), "type": "text"} for key, value in body.content.items()]
        return {"mode": mode, mode: fields}
    return None


def _auth(case: CaseContent) -> dict[str, Any]:
    auth = case.auth
    if isinstance(auth, BearerAuth):
        return {"type": "bearer", "bearer": [{"key": "token", "value": auth.token, "type": "string"}]}
    if isinstance(auth, BasicAuth):
        values = [("username", auth.username), ("password", auth.password)]
        return {"type": "basic", "basic": [{"key": k, "value": v, "type": "string"} for k, v in values]}
    if isinstance(auth, ApiKeyAuth):
        values = [("key", auth.key), ("value", auth.value), ("in", auth.add_to)]
        return {"type": "apikey", "apikey": [{"key": k, "value": v, "type": "string"} for k, v in values]}
    return {"type": "noauth"}


# ---- scripts -------------------------------------------------------------------------------------------------------
def _prerequest(case: CaseContent, step: StepContent, where: str, writer: _Writer) -> list[str]:
    lines = []
    if step.skip_if:
        lines.append(writer.note(f"{where}.skip_if", step.skip_if, "a condition to skip a step has no Postman form"))
    for name, value in step.variables.items():
        lines.append(f"pm.variables.set({_js(name)}, {_js(value)});")
    for index, processor in enumerate(case.pre_processors):
        lines.append(_processor(processor, f"{where}.pre_processors[{index}]", writer))
    return lines


def _tests(case: CaseContent, where: str, writer: _Writer) -> list[str]:
    lines = []
    for index, assertion in enumerate(case.assertions):
        lines.append(_assertion(assertion, f"{where}.assertions[{index}]", writer))
    for index, extractor in enumerate(case.extractors):
        lines.append(_extractor(extractor, f"{where}.extractors[{index}]", writer))
    for index, processor in enumerate(case.post_processors):
        lines.append(_processor(processor, f"{where}.post_processors[{index}]", writer))
    return lines


def _processor(processor: Any, where: str, writer: _Writer) -> str:
    if processor.type == "set":
        if processor.expression is not None:
            return writer.note(where, processor.expression, "an Exile expression has no Postman form")
        return f"pm.environment.set({_js(processor.name)}, {_js(processor.value)});"
    if processor.type == "wait":
        return f"setTimeout(function () {{}}, {processor.ms});"
    if processor.type == "extract":
        return _extractor(processor, where, writer)
    return writer.note(where, processor.expression, "an Exile expression has no Postman form")


def _extractor(extractor: Extractor, where: str, writer: _Writer) -> str:
    expression = extractor.expression or ""
    value: str | None
    if extractor.source == "body":
        value = _body_value(expression)
    elif extractor.source == "header":
        value = f"pm.response.headers.get({_js(expression)})"
    elif extractor.source == "cookie":
        value = f"pm.cookies.get({_js(expression)})"
    elif extractor.source == "status_code":
        value = "pm.response.code"
    elif extractor.source == "text":
        value = "pm.response.text()"
    else:  # regex: the first group, as Exile takes it
        value = f"(pm.response.text().match({_regex(expression)}) || [])[1]"
    if value is None:
        return writer.note(where, expression, "a JSONPath beyond plain names and indexes has no Postman form")
    return f"pm.environment.set({_js(extractor.name)}, {value});"


def _body_value(path: str) -> str | None:
    """`$.data.items[0]["a b"]` as `pm.response.json().data.items[0]["a b"]`; None for filters, wildcards..."""
    path = path.strip()
    if not path.startswith("$"):
        return None
    accessor, position = "", 1
    while position < len(path):
        match = _PATH_PART.match(path, position)
        if match is None:
            return None
        name, index, quoted = match.groups()
        if name is not None:
            accessor += f".{name}"
        elif index is not None:
            accessor += f"[{index}]"
        else:
            key = json.loads(quoted) if quoted[0] == '"' else quoted[1:-1].replace("\\'", "'")
            accessor += f"[{json.dumps(key, ensure_ascii=False)}]"  # as written: the importer reads it back the same
        position = match.end()
    return "pm.response.json()" + accessor


_CHAI = {
    "eq": "to.eql", "ne": "to.not.eql", "gt": "to.be.above", "ge": "to.be.at.least", "lt": "to.be.below",
    "le": "to.be.at.most", "in": "to.be.oneOf", "not_in": "to.not.be.oneOf", "contains": "to.include",
    "not_contains": "to.not.include", "length": "to.have.lengthOf",
}  # fmt: skip


def _assertion(assertion: Assertion, where: str, writer: _Writer) -> str:
    source, op, expected, expression = assertion.source, assertion.op, assertion.expected, assertion.expression
    name = _test_name(assertion)
    if source == "expression":
        return writer.note(where, expression, "an Exile expression has no Postman form")
    subject: str | None
    if source == "status_code":
        if op == "eq" and isinstance(expected, int) and not isinstance(expected, bool):
            return _test(name, f"pm.response.to.have.status({expected});")
        subject = "pm.response.code"
    elif source == "response_time_ms":
        subject = "pm.response.responseTime"
    elif source == "text":
        subject = "pm.response.text()"
    elif source == "header":
        if op == "exists":
            return _test(name, f"pm.response.to.have.header({_js(expression)});")
        if op == "eq" and isinstance(expected, str) and not _TEMPLATE.search(expected):
            return _test(name, f"pm.response.to.have.header({_js(expression)}, {_js(expected)});")
        subject = f"pm.response.headers.get({_js(expression)})"
    elif source == "json_schema":
        schema = (
            {key: value for key, value in expected.items() if key != "$schema"}
            if isinstance(expected, dict)
            else expected
        )
        if not expression:
            return _test(name, f"pm.response.to.have.jsonSchema({_js(schema)});")
        value = _body_value(expression)
        if value is None:
            return writer.note(where, expression, "a JSONPath beyond plain names and indexes has no Postman form")
        check = (
            f"var ajv = new (require('ajv'))(); "
            f"pm.expect(ajv.validate({_js(schema)}, {value}), JSON.stringify(ajv.errors)).to.be.true;"
        )
        return _test(name, check)
    else:
        subject = _body_value(expression or "")
        if subject is None:
            return writer.note(where, expression, "a JSONPath beyond plain names and indexes has no Postman form")
    return _test(name, _expect(subject, op or "eq", expected))


def _expect(subject: str, op: str, expected: Any) -> str:
    if op == "exists":
        return f"pm.expect({subject}).to.exist;"
    if op == "not_exists":
        return f"pm.expect({subject}).to.be.undefined;"
    if op == "between":
        low, high = expected
        return f"pm.expect({subject}).to.be.within({_value(low)}, {_value(high)});"
    if op == "regex":
        return f"pm.expect({subject}).to.match({_regex(str(expected))});"
    if op == "type":
        if expected == "integer":
            return f"pm.expect(Number.isInteger({subject}), 'an integer').to.be.true;"
        article = "an" if expected in ("array", "object", "integer") else "a"
        return f"pm.expect({subject}).to.be.{article}({_js(expected)});"
    return f"pm.expect({subject}).{_CHAI[op]}({_value(expected)});"


def _value(value: Any) -> str:
    """A JavaScript value; `{{name}}` is read from the variables when the test runs, as Exile renders it."""
    if isinstance(value, str):
        if match := _WHOLE_TEMPLATE.match(value):
            return f"pm.variables.get({_js(match[1])})"
        if _TEMPLATE.search(value):
            return f"pm.variables.replaceIn({_js(value)})"
    return _js(value)


def _regex(pattern: str) -> str:
    flags = ""
    if match := re.match(r"^\(\?([imsU]+)\)", pattern):
        flags, pattern = "".join(flag for flag in match[1] if flag in "ims"), pattern[match.end() :]
    escaped = re.sub(r"(?<!\\)/", r"\/", pattern)
    return f"/{escaped}/{flags}"


def _test(name: str, body: str) -> str:
    return f"pm.test({_js(name)}, function () {{ {body} }});"


def _test_name(assertion: Assertion) -> str:
    subject = {"status_code": "status code", "response_time_ms": "response time", "text": "body text"}.get(
        assertion.source, f"{assertion.source} {assertion.expression or ''}".strip()
    )
    if assertion.source == "json_schema":
        return f"{subject} matches the schema"
    expected = "" if assertion.op in ("exists", "not_exists") else f" {_one_line(json.dumps(assertion.expected))}"
    return f"{subject} {assertion.op}{expected}"[:200]


def _js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _one_line(text: str) -> str:
    return " ".join(text.split())
