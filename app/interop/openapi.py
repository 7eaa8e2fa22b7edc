"""An OpenAPI 3.0 or 3.1 document (JSON or YAML) becomes one case per operation, scenarios and an environment.

The document is read and checked first (app.interop.openapi_document: PyYAML, openapi-spec-validator,
`referencing` for the `$ref`s); a document that fails is refused with the path of its first problem.

Each operation is a case: `{{base_url}}` + its path, `{petId}` as `{{petId}}`, query and header parameters as
`{{name}}` templates, a JSON, urlencoded or multipart (text fields) body from the operation's example, else a
minimal valid instance of its schema (app.interop.openapi_instance); a status check for the lowest documented
2xx and a `json_schema` check of that response's schema (app.interop.openapi_schema); the auth its security
requirement names, its secret as `{{token}}`, `{{api_key}}` or `{{basic_password}}` (the username
`{{basic_username}}`: operations often take `username`/`password` parameters of their own). Parameter values
are the parameters' examples or defaults: they are the variables of the case's steps and of a dataset
"example", and every named example
(of a parameter or of the body) is a dataset of its own; a body with named examples is sent as
`{{request_body}}` so a dataset can change it. The first server is the environment (`base_url`, with its
variables' defaults; the auth secrets are listed empty for the user to fill).

Scenarios: one of every operation in document order (a smoke test of the whole API), and one per tag,
the way the Postman import makes one of the collection and one per folder. Operations are not a flow, so
these scenarios do not stop on the first failure. Whatever has no equivalent (callbacks, webhooks, links,
cookie parameters, file fields, XML bodies, other servers...) is listed as not translated.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import ValidationError

from app.engine.specs import HEADER_NAME, ScenarioSettings
from app.engine.templates import as_text
from app.interop.content import (
    CaseContent,
    DatasetContent,
    EnvironmentContent,
    ProjectContent,
    ScenarioContent,
    StepContent,
)
from app.interop.openapi_document import Document, read_document
from app.interop.openapi_instance import NoInstance, instance, is_valid
from app.interop.openapi_schema import json_schema

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BODY_VARIABLE = "request_body"


def parse(text: str) -> ProjectContent:
    """Cases, scenarios and an environment from the document; UnreadableFile names the first problem."""
    return _Reader(read_document(text)).read()


# ---- translating it --------------------------------------------------------------------------------------------
_JSON_TYPE = re.compile(r"^application/([\w.+-]*\+)?json$|^\*/\*$|^application/\*$")
_FORM, _MULTIPART = "application/x-www-form-urlencoded", "multipart/form-data"
_IGNORED_HEADERS = {"accept", "content-type", "authorization"}  # OpenAPI says these parameters are ignored
_SECRET_OF = {"bearer": "token", "basic": "basic_password", "api_key": "api_key"}


def _media(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return _JSON_TYPE.match(_media(media_type)) is not None


def _flat(value: Any, separator: str = ",") -> str:
    """A value in a path, header or delimited query parameter (the `simple` style)."""
    if isinstance(value, list):
        return separator.join(as_text(item) for item in value)
    if isinstance(value, dict):
        return separator.join(f"{key}{separator}{as_text(item)}" for key, item in value.items())
    return as_text(value)


class _Case:
    """What one operation gathers before it becomes a case."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.query: dict[str, Any] = {}
        self.variables: dict[str, Any] = {}  # the default value of each template
        self.named: dict[str, dict[str, Any]] = {}  # named example -> the values it changes

    def variable(self, name: str, kind: str) -> str:
        return name if name not in self.variables else f"{name}_{kind}"


class _Reader:
    def __init__(self, document: Document) -> None:
        self.document = document
        self.root = document.root
        self.content = ProjectContent(kind="openapi")
        self.auth_variables: dict[str, str] = {}  # scheme -> its variable ({{token}}...)
        self.secrets: dict[str, str] = {}
        self.plain_variables: dict[str, str] = {}
        self.prefix = ""  # the server's path when its URL is relative
        self.skipped: set[str] = set()

    def skip(self, location: str, source: Any, reason: str) -> None:
        """Listed once, even when many operations share the part (a `$ref`'d body, a scheme)."""
        if location not in self.skipped:
            self.skipped.add(location)
            self.content.skip(location, source, reason)

    def read(self) -> ProjectContent:
        environment = self.environment()
        scenarios: dict[str, list[StepContent]] = {}
        every: list[StepContent] = []
        paths = self.root.get("paths") or {}
        for path, item in paths.items():
            item, item_where = self.document.follow(item, f"paths.{path}")
            if not isinstance(item, dict):
                continue
            self.servers_of(item, f"paths.{path}")
            for method in METHODS:
                if isinstance(item.get(method), dict):
                    step = self.operation(path, method, item, item[method])
                    if step is None:
                        continue
                    every.append(step)
                    for tag in self.content.case(step.case).tags:
                        scenarios.setdefault(tag, []).append(step)
            for key in item:
                if key not in (*METHODS, "parameters", "summary", "description", "servers", "$ref"):
                    if not key.startswith("x-"):
                        self.skip(f"{item_where}.{key}", key, "not an operation: not translated")
        for name, hook in (self.root.get("webhooks") or {}).items():
            self.skip(f"webhooks.{name}", _brief(hook), "a webhook is a request the API sends: no case")
        if environment is not None:
            environment.secret_variables = self.secrets
            environment.variables = {**environment.variables, **self.plain_variables}
            self.content.environments.append(environment)
        info = self.root.get("info") or {}
        title = str(info.get("title") or "").strip()[:200] or "OpenAPI"
        settings = ScenarioSettings(stop_on_failure=False)
        self.content.scenarios.append(
            ScenarioContent(
                key="all",
                name=title,
                description=str(info.get("description") or "")[:20_000],
                settings=settings,
                steps=every,
            )
        )
        described = {str(tag.get("name")): tag for tag in self.root.get("tags") or [] if isinstance(tag, dict)}
        order = [name for name in described if name in scenarios] + [n for n in scenarios if n not in described]
        for tag in order:
            self.content.scenarios.append(
                ScenarioContent(
                    key=f"tag:{tag}",
                    name=tag[:200],
                    description=str(described.get(tag, {}).get("description") or "")[:20_000],
                    settings=settings,
                    steps=scenarios[tag],
                    tags=[tag[:64]],
                )
            )
        return self.content

    # -- servers and security --------------------------------------------------------------------------------
    def environment(self) -> EnvironmentContent | None:
        servers = self.root.get("servers") or []
        for index, server in enumerate(servers[1:], start=1):
            self.skip(f"servers[{index}]", server.get("url", ""), "only the first server is the environment")
        title = str((self.root.get("info") or {}).get("title") or "").strip() or "OpenAPI"
        if not servers:
            return EnvironmentContent(name=title[:200])
        server = servers[0]
        url = str(server.get("url") or "")
        for name, variable in (server.get("variables") or {}).items():
            url = url.replace("{" + name + "}", str(variable.get("default", "")))
        name = f"{title} ({server['description']})" if server.get("description") else title
        url = url.rstrip("/")
        if not url.lower().startswith(("http://", "https://")):
            self.prefix = "/" + url.strip("/") if url.strip("/") else ""
            self.skip("servers[0].url", server.get("url"), "a relative server URL: set the base_url")
            return EnvironmentContent(name=name[:200])
        try:
            return EnvironmentContent(name=name[:200], base_url=url)
        except ValidationError:
            self.skip("servers[0].url", server.get("url"), "not a usable base_url: set it by hand")
            return EnvironmentContent(name=name[:200])

    def servers_of(self, node: dict[str, Any], where: str) -> None:
        if node.get("servers"):
            reason = "its own servers: the case uses {{base_url}}"
            self.skip(f"{where}.servers", _brief(node["servers"]), reason)

    def auth(self, operation: dict[str, Any], where: str) -> dict[str, Any]:
        requirements = operation.get("security", self.root.get("security"))
        if not isinstance(requirements, list) or not requirements or not isinstance(requirements[0], dict):
            return {"type": "none"}
        location = f"{where}.security" if "security" in operation else "security"
        names = list(requirements[0])
        if not names:  # `{}` first: anonymous access is allowed
            return {"type": "none"}
        for extra in names[1:]:
            self.skip(f"{location}[0].{extra}", extra, "a second scheme required at once: only the first")
        schemes = (self.root.get("components") or {}).get("securitySchemes") or {}
        scheme, scheme_where = self.document.follow(schemes.get(names[0]), f"components.securitySchemes.{names[0]}")
        if not isinstance(scheme, dict):
            self.skip(f"{location}[0]", names[0], "a security scheme the document does not define")
            return {"type": "none"}
        kind, http = scheme.get("type"), str(scheme.get("scheme", "")).lower()
        if (kind == "http" and http == "bearer") or kind in ("oauth2", "openIdConnect"):
            if kind != "http":
                self.skip(scheme_where, kind, "the token flow is not run: put an access token in the secret")
            return {"type": "bearer", "token": "{{" + self.secret(names[0], "bearer") + "}}"}
        if kind == "http" and http == "basic":
            password = self.secret(names[0], "basic")  # not `password`: operations take one as a parameter
            username = password.replace("password", "username")
            self.plain_variables.setdefault(username, "")
            return {"type": "basic", "username": "{{" + username + "}}", "password": "{{" + password + "}}"}
        if kind == "apiKey" and scheme.get("in") in ("header", "query"):
            variable = self.secret(names[0], "api_key")
            key = str(scheme.get("name"))
            return {"type": "api_key", "key": key, "value": "{{" + variable + "}}", "in": scheme["in"]}
        self.skip(scheme_where, f"{kind} {http}".strip(), "a security scheme with no equivalent here")
        return {"type": "none"}

    def secret(self, scheme: str, kind: str) -> str:
        """The variable holding a scheme's secret: `token`, `api_key`, `password`; another scheme its own."""
        if scheme not in self.auth_variables:
            base = _SECRET_OF[kind]
            taken = set(self.auth_variables.values())
            name = base if base not in taken else re.sub(r"[^A-Za-z0-9_]", "_", f"{scheme}_{base}")
            self.auth_variables[scheme] = name
            self.secrets[name] = ""
        return self.auth_variables[scheme]

    # -- one operation ---------------------------------------------------------------------------------------
    def operation(self, path: str, method: str, item: dict[str, Any], operation: dict[str, Any]) -> StepContent | None:
        where = f"paths.{path}.{method}"
        if method == "trace":
            self.skip(where, f"TRACE {path}", "TRACE is not a method a case sends")
            return None
        case = _Case()
        url = self.prefix + path
        shared = item.get("parameters") or []
        parameters = {}
        for index, raw in enumerate([*shared, *(operation.get("parameters") or [])]):
            own = index >= len(shared)
            parameter_where = f"{where if own else f'paths.{path}'}.parameters[{index - len(shared) if own else index}]"
            parameter, _ = self.document.follow(raw, parameter_where)
            if isinstance(parameter, dict):  # the operation's own replaces the path's of the same name and place
                parameters[(parameter.get("name"), parameter.get("in"))] = (parameter, parameter_where)
        for parameter, parameter_where in parameters.values():
            url = self.parameter(parameter, parameter_where, case, url)
        key = f"{method.upper()} {path}"[:200]
        fields: dict[str, Any] = {
            "key": key,
            "name": str(operation.get("summary") or operation.get("operationId") or key).strip()[:200] or key,
            "description": "\n\n".join(str(operation[k]) for k in ("summary", "description") if operation.get(k)),
            "method": method.upper(),
            "url": "{{base_url}}" + re.sub(r"\{([^{}]+)\}", r"{{\1}}", url),
            "body": self.body(operation.get("requestBody"), f"{where}.requestBody", case),
            "auth": self.auth(operation, where),
            "tags": [str(tag).strip()[:64] for tag in operation.get("tags") or [] if str(tag).strip()],
        }
        assertions = self.assertions(operation.get("responses") or {}, f"{where}.responses")
        for name, callback in (operation.get("callbacks") or {}).items():
            self.skip(f"{where}.callbacks.{name}", _brief(callback), "a callback is a request the API sends")
        self.servers_of(operation, where)
        datasets = [DatasetContent(name="example", variables=case.variables)] if case.variables else []
        if case.named:
            datasets = [
                DatasetContent(name=example[:200], variables={**case.variables, **values})
                for example, values in case.named.items()
            ]
        while True:  # a check the engine refuses is reported and left out, the rest of the case kept
            try:
                content = CaseContent(
                    **fields, headers=case.headers, query=case.query, assertions=assertions, datasets=datasets
                )
            except ValidationError as exc:
                first = exc.errors()[0]
                place = first["loc"]
                if len(place) > 1 and place[0] == "assertions" and isinstance(place[1], int):
                    dropped = assertions.pop(place[1])
                    self.skip(f"{where}.responses", _brief(dropped), f"a check the engine refuses: {first['msg']}")
                    continue
                field = ".".join(str(part) for part in place)
                self.skip(where, key, f"not a valid case ({field}: {first['msg']}): left out")
                return None
            self.content.cases.append(content)
            return StepContent(case=key, variables=case.variables)

    def parameter(self, parameter: dict[str, Any], where: str, case: _Case, url: str) -> str:
        name, kind = str(parameter.get("name") or ""), parameter.get("in")
        if kind == "cookie":
            self.skip(where, f"cookie {name}", "a cookie parameter is not sent (set it in a header)")
            return url
        if kind == "header" and name.lower() in _IGNORED_HEADERS:
            self.skip(where, f"header {name}", "OpenAPI ignores this header parameter (the case sets it)")
            return url
        if not name or len(name) > 120 or name != name.strip() or re.search(r"[{}\s]", name):
            self.skip(where, f"{kind} {name!r}", "a parameter name that cannot be a {{variable}}")
            return url
        if kind == "header" and not HEADER_NAME.match(name):
            self.skip(where, f"header {name}", "not a valid HTTP header name")
            return url
        value, named, known = self.parameter_value(parameter, where)
        if not known and not parameter.get("required") and kind != "path":
            self.skip(where, f"{kind} {name}", "an optional parameter with no example or default: not sent")
            return url
        style = parameter.get("style") or ("form" if kind == "query" else "simple")
        explode = parameter.get("explode", style == "form")
        variable = case.variable(name, str(kind))
        if kind == "query" and isinstance(value, list | dict) and (explode or style == "deepObject"):
            # one query item per value (or per property): sent as given; the datasets cannot change it
            for example in named:
                self.skip(f"{where}.examples.{example}", f"query {name}", "an exploded list is sent as is")
            if isinstance(value, list):
                case.query[name] = [as_text(item) for item in value]
            else:
                for key, item in value.items():
                    case.query[f"{name}[{key}]" if style == "deepObject" else key] = as_text(item)
            return url
        separator = {"spaceDelimited": " ", "pipeDelimited": "|"}.get(style, ",")
        if style not in ("form", "simple", "spaceDelimited", "pipeDelimited"):
            self.skip(f"{where}.style", style, f"the {style} style is sent as the simple one")
        flat: Any = value if not isinstance(value, list | dict) else _flat(value, separator)
        case.variables[variable] = flat
        for example, example_value in named.items():
            case.named.setdefault(example, {})[variable] = (
                example_value if not isinstance(example_value, list | dict) else _flat(example_value, separator)
            )
        template = "{{" + variable + "}}"
        if kind == "path":
            return url.replace("{" + name + "}", "{" + variable + "}")
        if kind == "query":
            case.query[name] = template
        else:
            case.headers[name] = template
        return url

    def parameter_value(self, parameter: dict[str, Any], where: str) -> tuple[Any, dict[str, Any], bool]:
        """The parameter's default value, its named examples, and whether the document gave a value."""
        holder: dict[str, Any] = parameter
        schema = parameter.get("schema")
        if schema is None and isinstance(parameter.get("content"), dict) and parameter["content"]:
            holder = next(iter(parameter["content"].values())) or {}
            schema = holder.get("schema")
        named = self.named_examples(holder.get("examples"), f"{where}.examples")
        if "example" in holder:
            return holder["example"], named, True
        if named:
            return next(iter(named.values())), named, True
        if schema is None:
            return "", named, False
        converted = json_schema(self.document, schema, f"{where}.schema", "request")
        given = schema if not isinstance(schema, dict) else self.document.follow(schema, where)[0]
        known = isinstance(given, dict) and any(k in given for k in ("example", "examples", "default", "enum", "const"))
        try:
            return instance(converted), named, known
        except NoInstance:
            return "", named, known

    def named_examples(self, examples: Any, where: str) -> dict[str, Any]:
        named: dict[str, Any] = {}
        for name, example in (examples or {}).items() if isinstance(examples, dict) else []:
            example, _ = self.document.follow(example, f"{where}.{name}")
            if isinstance(example, dict) and "value" in example:
                named[str(name)] = example["value"]
            else:
                self.skip(f"{where}.{name}", _brief(example), "an example without a value (externalValue)")
        return named

    def body(self, request_body: Any, where: str, case: _Case) -> dict[str, Any]:
        if request_body is None:
            return {"mode": "none"}
        request_body, where = self.document.follow(request_body, where)
        media_types = request_body.get("content") or {}
        chosen = next((m for m in media_types if _is_json(m)), None)
        chosen = chosen or next((m for m in media_types if _media(m) in (_FORM, _MULTIPART, "text/plain")), None)
        for other in media_types:
            if other != chosen:
                reason = f"another form of the same body: the case sends {chosen}" if chosen else "a body not supported"
                self.skip(f"{where}.content.{other}", other, reason)
        if chosen is None:
            return {"mode": "none"}
        media = media_types[chosen] or {}
        media_where = f"{where}.content.{chosen}"
        named = self.named_examples(media.get("examples"), f"{media_where}.examples")
        value = media["example"] if "example" in media else next(iter(named.values())) if named else None
        if "example" not in media and not named:
            value = self.generated(media.get("schema"), media_where)
        if _is_json(chosen):
            if named:
                case.variables[BODY_VARIABLE] = value
                for example, example_value in named.items():
                    case.named.setdefault(example, {})[BODY_VARIABLE] = example_value
                return {"mode": "json", "content": "{{" + BODY_VARIABLE + "}}"}
            content_type = None if _media(chosen) == "application/json" else chosen
            return {"mode": "json", "content": value, "content_type": content_type}
        if _media(chosen) == "text/plain":
            return {"mode": "raw", "content": as_text(value if value is not None else ""), "content_type": chosen}
        for example in list(named)[1:]:
            reason = "a form body is sent from its first example"
            self.skip(f"{media_where}.examples.{example}", example, reason)
        return self.form(value, media, media_where, "urlencoded" if _media(chosen) == _FORM else "form")

    def form(self, value: Any, media: dict[str, Any], where: str, mode: str) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        schema, _ = self.document.follow(media.get("schema") or {}, where)
        properties = schema.get("properties") or {} if isinstance(schema, dict) else {}
        for name, property_schema in properties.items():
            property_schema, _ = self.document.follow(property_schema, f"{where}.schema.properties.{name}")
            if isinstance(property_schema, dict) and (
                property_schema.get("format") in ("binary", "base64") or "contentMediaType" in property_schema
            ):
                self.skip(f"{where}.schema.properties.{name}", name, "a file field: not supported")
                if isinstance(value, dict):
                    value.pop(name, None)
        for name, field in (value or {}).items() if isinstance(value, dict) else []:
            fields[name] = field if isinstance(field, str | int | float | bool) else as_text(field)
        return {"mode": mode, "content": fields} if fields else {"mode": "none"}

    def generated(self, schema: Any, where: str) -> Any:
        if schema is None:
            return {}
        converted = json_schema(self.document, schema, f"{where}.schema", "request")
        try:
            value = instance(converted)
        except NoInstance as exc:
            self.skip(f"{where}.schema", _brief(schema), f"no finite example of the schema ({exc}): sent {{}}")
            return {}
        if not is_valid(converted, value):
            reason = "the generated body may not match the schema: check it"
            self.skip(f"{where}.schema", _brief(schema), reason)
        return value

    def assertions(self, responses: dict[str, Any], where: str) -> list[dict[str, Any]]:
        """Plain dicts: the case checks them once (a JSON Schema's check against its metaschema is not cheap)."""
        codes = sorted(code for code in responses if re.fullmatch(r"2\d\d", code))
        if codes:
            code = codes[0]
            checks: list[dict[str, Any]] = [{"source": "status_code", "op": "eq", "expected": int(code)}]
        elif "2XX" in responses:
            code = "2XX"
            checks = [{"source": "status_code", "op": "between", "expected": [200, 299]}]
        else:
            self.skip(where, ", ".join(responses), "no documented 2xx response: no status check")
            return []
        response, response_where = self.document.follow(responses[code], f"{where}.{code}")
        for name, header in (response.get("headers") or {}).items():
            header, _ = self.document.follow(header, f"{response_where}.headers.{name}")
            if isinstance(header, dict) and header.get("required") and HEADER_NAME.match(name):
                checks.append({"source": "header", "expression": name, "op": "exists"})
        for name in response.get("links") or {}:
            self.skip(f"{response_where}.links.{name}", name, "a link between operations is not followed")
        media_types = response.get("content") or {}
        chosen = next((m for m in media_types if _is_json(m)), None)
        if media_types and chosen is None:
            reason = "a response body that is not JSON: only its status is checked"
            self.skip(f"{response_where}.content", ", ".join(media_types), reason)
        schema = (media_types.get(chosen) or {}).get("schema") if chosen else None
        if schema is not None:
            schema_where = f"{response_where}.content.{chosen}.schema"
            checks.append(
                {"source": "json_schema", "expected": json_schema(self.document, schema, schema_where, "response")}
            )
        return checks


def _brief(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)[:300]
