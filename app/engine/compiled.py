"""A flow's steps compiled once per run: templates, JSONPath, regexes, schemas and expressions."""

from __future__ import annotations

from app.engine.checks import CompiledAssertion, CompiledExtractor
from app.engine.expressions import CompiledExpression, compile_expression
from app.engine.request import CompiledRequest
from app.engine.scripts.sandbox import CompiledScript, shared_sandbox
from app.engine.specs import (
    AssertExpressionProcessor,
    DatasetSpec,
    ExtractProcessor,
    PollSpec,
    Processor,
    RetrySpec,
    ScriptProcessor,
    SetProcessor,
    StepSpec,
    WaitProcessor,
)
from app.engine.templates import Renderer, compile_value


class CompiledProcessor:
    __slots__ = ("expression", "extractor", "kind", "ms", "name", "script", "value")

    def __init__(self, spec: Processor) -> None:
        self.kind = spec.type
        self.name: str | None = None
        self.ms = 0
        self.expression: CompiledExpression | None = None
        self.value: Renderer | None = None
        self.extractor: CompiledExtractor | None = None
        self.script: CompiledScript | None = None
        if isinstance(spec, SetProcessor):
            self.name = spec.name
            if spec.expression is not None:
                self.expression = compile_expression(spec.expression)
            else:
                # A set value is templated like a JSON body: "{{qty}}" keeps its type, objects and lists render inside.
                self.value = compile_value(spec.value)
        elif isinstance(spec, WaitProcessor):
            self.ms = spec.ms
        elif isinstance(spec, ExtractProcessor):
            self.name = spec.name
            self.extractor = CompiledExtractor(spec)
        elif isinstance(spec, AssertExpressionProcessor):
            self.expression = compile_expression(spec.expression)
        elif isinstance(spec, ScriptProcessor):
            self.script = shared_sandbox().compile(spec.source)


class CompiledStep:
    """A step with its case compiled: built once per run."""

    def __init__(self, key: str, step: StepSpec) -> None:
        request = step.case.request
        self.key = key
        self.spec = step
        self.name = step.alias or step.case.name
        self.request = CompiledRequest(request)
        self.extractors = [CompiledExtractor(e) for e in request.extractors]
        self.assertions = [CompiledAssertion(a) for a in request.assertions]
        self.pre = [CompiledProcessor(p) for p in request.pre_processors]
        self.post = [CompiledProcessor(p) for p in request.post_processors]
        self.skip_if = compile_expression(step.skip_if) if step.skip_if else None
        self.poll: PollSpec | None = request.poll
        self.poll_until = compile_expression(request.poll.until) if request.poll else None
        self.timeout_s = request.timeout_ms / 1000
        self.follow_redirects = request.follow_redirects
        self.retry: RetrySpec = request.retry
        self.fan_out = self._fan_out_rows(step)

    @staticmethod
    def _fan_out_rows(step: StepSpec) -> list[DatasetSpec] | None:
        if step.dataset_mode == "all":
            return [d for d in step.case.datasets if d.enabled]
        if step.dataset_mode == "selected":
            by_id = {d.id: d for d in step.case.datasets}
            return [by_id[i] for i in step.dataset_ids if i in by_id]
        return None
