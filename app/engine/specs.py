"""The engine's one vocabulary (DESIGN 2 and 4): what a caller hands it, checked once and read as typed fields.

A case's request and its parts (extractors, assertions, processors, retry, poll, auth, body) are pydantic
models, validated when saved and again when a run loads them, so every default lives here and nowhere else.
The flow around them (environment, steps, data rows, setup state, run options) is plain data.

Every check that can fail names what is wrong in words a QA engineer reads: an unknown `op`, a JSONPath
that does not parse, a regex or expression that does not compile.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import jsonpath_rfc9535
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from app.engine.expressions import ExpressionError, check_expression
from app.engine.regexes import RegexError, compile_regex

HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_SCRIPT_CHARS = 100_000  # a script's source (Postman's own longest scripts in the wild are a few thousand)
JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object", "null")
ASSERTION_OPS = (
    "eq", "ne", "gt", "ge", "lt", "le", "between", "in", "not_in", "contains", "not_contains",
    "regex", "exists", "not_exists", "type", "length",
)  # fmt: skip
VARIABLE_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_.$-]{0,127}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
TEMPLATE_ANYWHERE = re.compile(r"\{\{[^{}]*\}\}")
TEMPLATE_START = re.compile(r"^\{\{\s*\$?[A-Za-z_][A-Za-z0-9_.-]*\s*\}\}")
TEMPLATE_ONLY = re.compile(r"^\s*\{\{\s*[^{}\s]+\s*\}\}\s*$")


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def check_variable_name(name: str) -> str:
    if not VARIABLE_NAME.match(name):
        raise ValueError(
            f"'{name}' is not a usable variable name (letters, digits, _ . - $; starting with a letter or _)"
        )
    return name


def check_variables(value: dict[str, Any]) -> dict[str, Any]:
    for key in value:
        if not key or len(key) > 128 or key != key.strip():
            raise ValueError(f"variable name '{key}' must be 1-128 characters without surrounding spaces")
    return value


def check_jsonpath(expression: str) -> str:
    try:
        jsonpath_rfc9535.compile(expression)
    except (jsonpath_rfc9535.JSONPathError, OverflowError, RecursionError, ValueError) as exc:
        raise ValueError(f"JSONPath '{expression}' does not parse: {exc}") from None
    return expression


def check_regex(pattern: str) -> str:
    """A user regex must compile on RE2 (what runs it): no backreferences or lookaround, linear-time matching."""
    try:
        compile_regex(pattern)
    except RegexError as exc:
        raise ValueError(str(exc)) from None
    return pattern


def check_safe_expression(source: str) -> str:
    try:
        check_expression(source)
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return source.strip()


def check_url(url: str) -> str:
    """Absolute http(s), templated (`{{base_url}}/x`) or rooted (`/x`, joined to the environment)."""
    url = url.strip()
    if not url:
        raise ValueError("url is empty")
    if any(ch.isspace() for ch in TEMPLATE_ANYWHERE.sub("", url)):
        raise ValueError("url contains whitespace; encode it or move values to `query`")
    if url.startswith("/") and not url.startswith("//"):
        return url
    if TEMPLATE_START.match(url):
        return url
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in ("http", "https") and rest and not rest.startswith("/"):
        return url
    raise ValueError(
        f"url '{url[:200]}' must be absolute (http:// or https://), start with a template like "
        "{{base_url}}, or start with / to be joined to the environment's base_url"
    )


VariableName = Annotated[str, Field(min_length=1, max_length=128)]
Variables = dict[str, Any]


class Extractor(SpecModel):
    name: VariableName
    source: Literal["body", "header", "cookie", "status_code", "regex", "text"]
    expression: str | None = None

    _check_name = field_validator("name")(check_variable_name)

    @model_validator(mode="after")
    def _expression_fits_source(self) -> Extractor:
        needs = {"body": "a JSONPath", "header": "a header name", "cookie": "a cookie name", "regex": "a regex"}
        if self.source in needs and not (self.expression or "").strip():
            raise ValueError(f"source '{self.source}' needs an expression ({needs[self.source]})")
        if self.source == "body":
            check_jsonpath(self.expression or "")
        elif self.source == "regex":
            check_regex(self.expression or "")
        return self


class Assertion(SpecModel):
    source: Literal["status_code", "body", "header", "text", "response_time_ms", "json_schema", "expression"]
    expression: str | None = None
    op: Literal[ASSERTION_OPS] | None = None  # type: ignore[valid-type]
    expected: Any = None

    @model_validator(mode="after")
    def _consistent(self) -> Assertion:
        source, op = self.source, self.op
        if source == "body":
            check_jsonpath(_required(self.expression, "source 'body' needs a JSONPath in expression"))
        elif source == "header":
            _required(self.expression, "source 'header' needs the header name in expression")
        elif source == "expression":
            self.expression = check_safe_expression(
                _required(self.expression, "source 'expression' needs a safe expression")
            )
            if op is not None:
                raise ValueError("source 'expression' takes no op: the expression itself must be true")
            return self
        elif source == "json_schema":
            if self.expression:
                check_jsonpath(self.expression)
            if not isinstance(self.expected, dict | bool):
                raise ValueError("source 'json_schema' needs the JSON Schema (an object) in expected")
            try:
                validator_for(self.expected).check_schema(self.expected)
            except SchemaError as exc:
                raise ValueError(f"expected is not a valid JSON Schema: {exc.message}") from None
            except (TypeError, ValueError, LookupError) as exc:  # e.g. a $schema that is not a string
                raise ValueError(f"expected is not a valid JSON Schema: {exc}") from None
            if op is not None:
                raise ValueError("source 'json_schema' takes no op: the response must match the schema")
            return self
        if op is None:
            self.op = op = "eq"
        if op in ("exists", "not_exists"):
            return self
        if "expected" not in self.model_fields_set:
            raise ValueError(f"op '{op}' needs an expected value")
        _check_expected(op, self.expected, source)
        return self


def _required(value: str | None, message: str) -> str:
    if value is None or not value.strip():
        raise ValueError(message)
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_template(value: Any) -> bool:
    """Exactly one `{{name}}`: the value comes from the scope (a data row's expected status...) at run time."""
    return isinstance(value, str) and TEMPLATE_ONLY.match(value) is not None


def _check_expected(op: str, expected: Any, source: str) -> None:
    if _is_template(expected):
        return  # its type is only known when the step runs; a mismatch then is a failed check that says why
    if op == "between":
        if not (
            isinstance(expected, list)
            and len(expected) == 2
            and all(_is_number(v) or _is_template(v) for v in expected)
        ):
            raise ValueError("op 'between' needs expected as [low, high] numbers")
        if all(_is_number(v) for v in expected) and expected[0] > expected[1]:
            raise ValueError("op 'between' needs low <= high")
    elif op in ("in", "not_in") and not isinstance(expected, list):
        raise ValueError(f"op '{op}' needs expected as a list of allowed values")
    elif op in ("gt", "ge", "lt", "le") and not (_is_number(expected) or isinstance(expected, str)):
        raise ValueError(f"op '{op}' needs a number (or string) as expected")
    elif op == "regex":
        if not isinstance(expected, str):
            raise ValueError("op 'regex' needs the pattern as a string in expected")
        check_regex(expected)
    elif op == "type" and expected not in JSON_TYPES:
        raise ValueError(f"op 'type' needs one of {', '.join(JSON_TYPES)} as expected")
    elif op == "length" and not (isinstance(expected, int) and not isinstance(expected, bool) and expected >= 0):
        raise ValueError("op 'length' needs a non-negative integer as expected")
    if source in ("status_code", "response_time_ms") and op in ("eq", "ne", "gt", "ge", "lt", "le"):
        if not _is_number(expected):
            raise ValueError(f"source '{source}' compares numbers; expected must be a number")


class SetProcessor(SpecModel):
    type: Literal["set"]
    name: VariableName
    value: Any = None
    expression: str | None = None

    _check_name = field_validator("name")(check_variable_name)

    @model_validator(mode="after")
    def _one_of(self) -> SetProcessor:
        has_expr = self.expression is not None
        # A saved processor is dumped with every field: `"value": null` beside an expression is "no value".
        has_value = "value" in self.model_fields_set and not (has_expr and self.value is None)
        if has_value == has_expr:
            raise ValueError("processor 'set' needs exactly one of value or expression")
        if self.expression is not None:
            self.expression = check_safe_expression(self.expression)
        return self


class WaitProcessor(SpecModel):
    type: Literal["wait"]
    ms: int = Field(ge=0, le=300_000)


class ExtractProcessor(Extractor):
    type: Literal["extract"]


class AssertExpressionProcessor(SpecModel):
    type: Literal["assert_expression"]
    expression: str

    _check = field_validator("expression")(check_safe_expression)


class ScriptProcessor(SpecModel):
    """A Postman-style script (pre-request or test) run in the V8 sandbox with the `pm` API."""

    type: Literal["script"]
    language: Literal["javascript"] = "javascript"
    source: str = Field(min_length=1, max_length=MAX_SCRIPT_CHARS)

    @field_validator("source")
    @classmethod
    def _compiles(cls, source: str) -> str:
        from app.engine.scripts.sandbox import ScriptError, ScriptSyntaxError, shared_sandbox

        try:
            compiled = shared_sandbox().compile(source)
        except ScriptSyntaxError as exc:
            raise ValueError(f"the script does not parse: {exc}") from None
        except ScriptError as exc:  # the sandbox itself is broken: said, never a 500
            raise ValueError(f"the script could not be checked: {exc}") from None
        if compiled.unsupported:
            raise ValueError(f"not supported by Exile: {', '.join(compiled.unsupported)}")
        return source


Processor = Annotated[
    SetProcessor | WaitProcessor | ExtractProcessor | AssertExpressionProcessor | ScriptProcessor,
    Field(discriminator="type"),
]


class RetrySpec(SpecModel):
    max_attempts: int = Field(1, ge=1, le=20)
    backoff_ms: int = Field(200, ge=0, le=600_000)
    backoff_factor: float = Field(2.0, ge=1.0, le=10.0)
    max_backoff_ms: int = Field(5000, ge=0, le=600_000)
    on_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(default_factory=lambda: [502, 503, 504])
    on_network_error: bool = True
    on_assertion_failure: bool = False


class PollSpec(SpecModel):
    until: str
    interval_ms: int = Field(500, ge=0, le=600_000)
    max_attempts: int = Field(20, ge=1, le=10_000)
    timeout_ms: int = Field(30_000, ge=1, le=86_400_000)

    _check = field_validator("until")(check_safe_expression)


class BodySpec(SpecModel):
    mode: Literal["none", "json", "raw", "urlencoded", "form"] = "none"
    content: Any = None
    content_type: str | None = Field(None, max_length=255)

    @model_validator(mode="after")
    def _content_fits_mode(self) -> BodySpec:
        if self.mode == "none" and self.content not in (None, "", {}):
            raise ValueError("mode 'none' takes no content")
        if self.mode == "raw" and not isinstance(self.content, str):
            raise ValueError("mode 'raw' needs content as a string")
        if self.mode in ("urlencoded", "form"):
            if not isinstance(self.content, dict) or not all(
                isinstance(v, str | int | float | bool) for v in self.content.values()
            ):
                raise ValueError(f"mode '{self.mode}' needs content as an object of text fields")
        return self


class NoAuth(SpecModel):
    type: Literal["none"] = "none"


class BearerAuth(SpecModel):
    type: Literal["bearer"]
    token: str = Field(min_length=1)


class BasicAuth(SpecModel):
    type: Literal["basic"]
    username: str
    password: str = ""


class ApiKeyAuth(SpecModel):
    type: Literal["api_key"]
    key: str = Field(min_length=1, max_length=256)
    value: str
    add_to: Literal["header", "query"] = Field("header", alias="in")

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)


AuthSpec = Annotated[NoAuth | BearerAuth | BasicAuth | ApiKeyAuth, Field(discriminator="type")]


class RateLimit(SpecModel):
    per_second: float | None = Field(None, gt=0, le=100_000)
    burst: int | None = Field(None, ge=1, le=100_000)


class ScenarioSettings(SpecModel):
    concurrency: int = Field(1, ge=1, le=256)
    stop_on_failure: bool = True
    timeout_ms: int = Field(600_000, ge=1, le=86_400_000)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    rate_limit: RateLimit = Field(default_factory=RateLimit)


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    for name in headers:
        if not HEADER_NAME.match(name):
            raise ValueError(f"'{name}' is not a valid HTTP header name")
    return headers


# ---- a case's request: what the engine sends and checks ---------------------------------------------------------
def _method(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip().upper()
        if value not in HTTP_METHODS:
            raise ValueError(f"'{value}' is not an HTTP method; use one of {', '.join(HTTP_METHODS)}")
    return value


def _pre_processors(processors: list[Any]) -> list[Any]:
    for index, processor in enumerate(processors):
        if processor.type in ("extract", "assert_expression"):
            raise ValueError(f"item {index}: '{processor.type}' needs a response; put it in post_processors")
    return processors


def _unique_extractor_names(extractors: list[Extractor]) -> list[Extractor]:
    seen: set[str] = set()
    for index, extractor in enumerate(extractors):
        if extractor.name in seen:
            raise ValueError(f"item {index}: another extractor already sets '{extractor.name}'")
        seen.add(extractor.name)
    return extractors


Method = Annotated[str, BeforeValidator(_method)]
Url = Annotated[str, Field(max_length=8192), AfterValidator(check_url)]
Headers = Annotated[dict[str, str], AfterValidator(check_headers)]
QueryValue = str | int | float | bool | list[str | int | float | bool]
Query = dict[str, QueryValue]
Extractors = Annotated[list[Extractor], Field(max_length=200), AfterValidator(_unique_extractor_names)]
Assertions = Annotated[list[Assertion], Field(max_length=500)]
PreProcessors = Annotated[list[Processor], Field(max_length=100), AfterValidator(_pre_processors)]
PostProcessors = Annotated[list[Processor], Field(max_length=100)]
TimeoutMs = Annotated[int, Field(ge=1, le=600_000)]


class RequestSpec(SpecModel):
    """A case's request with its checks, as stored (app.models.ApiRequest) and as the engine runs it."""

    method: Method
    url: Url
    headers: Headers = Field(default_factory=dict)
    query: Query = Field(default_factory=dict)
    body: BodySpec = Field(default_factory=BodySpec)
    auth: AuthSpec = Field(default_factory=NoAuth)
    extractors: Extractors = Field(default_factory=list)
    assertions: Assertions = Field(default_factory=list)
    pre_processors: PreProcessors = Field(default_factory=list)
    post_processors: PostProcessors = Field(default_factory=list)
    poll: PollSpec | None = None
    timeout_ms: TimeoutMs = 10_000
    follow_redirects: bool = True
    retry: RetrySpec = Field(default_factory=RetrySpec)


# ---- the flow a caller hands the engine --------------------------------------------------------------------------
@dataclass
class EnvironmentSpec:
    base_url: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # plain values: masked in every snapshot
    verify_tls: bool = True
    proxy: str | None = None


@dataclass
class DatasetSpec:
    id: int | None
    name: str
    variables: dict[str, Any]
    enabled: bool = True


class CaseSpec(BaseModel):
    """A case as the engine runs it: its request validated into the models above (a stored dict is validated)."""

    model_config = ConfigDict(extra="forbid")

    id: int | None
    name: str
    request: RequestSpec
    datasets: list[DatasetSpec] = Field(default_factory=list)


@dataclass
class StepSpec:
    case: CaseSpec
    step_id: int | None = None
    alias: str | None = None
    enabled: bool = True
    skip_if: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    dataset_mode: str = "none"  # none | all | selected
    dataset_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class DataRow:
    index: int
    variables: dict[str, Any]
    row_id: int | None = None


@dataclass
class SetupState:
    """What setup leaves the iterations and teardown: its values, and what of them came from secrets.

    A sharded run's chunks and its teardown run in other processes: they start from this instead of
    running setup again. It holds secrets in clear: whoever stores it seals it (app.runs.chunks).
    """

    values: dict[str, Any] = field(default_factory=dict)
    secret_names: list[str] = field(default_factory=list)  # run-time variables holding secret-derived values
    secret_texts: list[str] = field(default_factory=list)  # the derived texts, masked wherever they appear


@dataclass
class FlowSpec:
    steps: list[StepSpec]
    environment: EnvironmentSpec = field(default_factory=EnvironmentSpec)
    scenario_variables: dict[str, Any] = field(default_factory=dict)
    run_variables: dict[str, Any] = field(default_factory=dict)
    setup: list[StepSpec] = field(default_factory=list)
    teardown: list[StepSpec] = field(default_factory=list)
    # Iterations: an iterable (or async iterable, read lazily) of rows; None = one iteration with no row.
    rows: Iterable[DataRow] | AsyncIterable[DataRow] | None = None
    # Where a run's iterations start from when its setup ran elsewhere (a chunk of a sharded run).
    seed: SetupState | None = None


class RunOptions(BaseModel):
    """How a run runs; `retry` re-runs a failed iteration from its first step (a stored dict is validated)."""

    model_config = ConfigDict(extra="forbid")

    concurrency: int = 1
    stop_on_failure: bool = True
    timeout_ms: int = 600_000
    retry: RetrySpec = Field(default_factory=RetrySpec)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    body_limit: int = 65536  # characters of a request or response body a record keeps
    value_limit: int = 4096  # characters of any other value a record keeps (app.engine.values)
    response_max_bytes: int = 10 * 1024 * 1024  # a response body is read up to this (decompressed), then cut
    # Opt-in: run variables may change where a request carrying a secret goes (a project setting, later).
    run_variables_may_redirect_secrets: bool = False
    script_time_ms: int = 1000  # one run of one script (SCRIPT_TIME_LIMIT_MS)
    script_memory_mb: int = 64  # the heap one run of one script may grow (SCRIPT_MEMORY_LIMIT_MB)
    carry_over: bool = False  # Newman semantics: values set in one iteration are seen by the next (concurrency 1)
    # Stop once setup passed (its values: FlowRunner.setup_state); a failed setup still runs teardown.
    setup_only: bool = False
