"""A flow's steps compiled once per run: templates, JSONPath, regexes, schemas and expressions."""

from __future__ import annotations

from typing import Any

from app.engine.checks import CompiledAssertion, CompiledExtractor
from app.engine.expressions import CompiledExpression, compile_expression
from app.engine.flow import DatasetSpec, StepSpec
from app.engine.request import CompiledRequest
from app.engine.templates import compile_value

DEFAULT_RETRY: dict[str, Any] = {
    "max_attempts": 1,
    "backoff_ms": 200,
    "backoff_factor": 2.0,
    "max_backoff_ms": 5000,
    "on_status": [502, 503, 504],
    "on_network_error": True,
    "on_assertion_failure": False,
}


class CompiledProcessor:
    __slots__ = ("expression", "extractor", "kind", "ms", "name", "value")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.kind = spec["type"]
        self.name = spec.get("name")
        self.ms = spec.get("ms", 0)
        self.expression: CompiledExpression | None = None
        if spec.get("expression") and self.kind in ("set", "assert_expression"):
            self.expression = compile_expression(spec["expression"])
        # A set value is templated like a JSON body: "{{qty}}" keeps its type, objects and lists render inside.
        self.value = compile_value(spec.get("value")) if self.kind == "set" and self.expression is None else None
        self.extractor = CompiledExtractor(spec) if self.kind == "extract" else None


class CompiledStep:
    """A step with its case compiled: built once per run."""

    def __init__(self, key: str, step: StepSpec) -> None:
        case = step.case.request
        self.key = key
        self.spec = step
        self.name = step.alias or step.case.name
        self.request = CompiledRequest(case)
        self.extractors = [CompiledExtractor(e) for e in case.get("extractors") or []]
        self.assertions = [CompiledAssertion(a) for a in case.get("assertions") or []]
        self.pre = [CompiledProcessor(p) for p in case.get("pre_processors") or []]
        self.post = [CompiledProcessor(p) for p in case.get("post_processors") or []]
        self.skip_if = compile_expression(step.skip_if) if step.skip_if else None
        poll = case.get("poll")
        self.poll_until = compile_expression(poll["until"]) if poll else None
        self.poll = poll or {}
        self.timeout_s = (case.get("timeout_ms") or 10_000) / 1000
        self.follow_redirects = bool(case.get("follow_redirects", True))
        self.retry = {**DEFAULT_RETRY, **(case.get("retry") or {})}
        self.fan_out = self._fan_out_rows(step)

    @staticmethod
    def _fan_out_rows(step: StepSpec) -> list[DatasetSpec] | None:
        if step.dataset_mode == "all":
            return [d for d in step.case.datasets if d.enabled]
        if step.dataset_mode == "selected":
            by_id = {d.id: d for d in step.case.datasets}
            return [by_id[i] for i in step.dataset_ids if i in by_id]
        return None
