"""Runs a flow: setup once, iterations concurrently (steps in order inside each), teardown once.

Everything is compiled once per run (templates, JSONPath, regexes, schemas, expressions); the hot path
renders, sends, checks and hands a plain StepResult to the caller's sink.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import ChainMap
from collections.abc import AsyncIterator, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiolimiter import AsyncLimiter

from app.engine.checks import CompiledAssertion, CompiledExtractor, ExtractionError, expression_names
from app.engine.expressions import CompiledExpression, compile_expression
from app.engine.flow import DataRow, DatasetSpec, FlowSpec, RunOptions, StepSpec
from app.engine.masking import Masker
from app.engine.request import CompiledRequest, RequestBuildError
from app.engine.results import Counts, FlowOutcome, ResultSink, StepResult
from app.engine.templates import UnknownVariable, compile_text
from app.engine.transport import PreparedRequest, Response, Transport, TransportError

SEVERITY = {"passed": 0, "skipped": 0, "failed": 1, "error": 2}


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: SEVERITY[s], default="passed")


class CompiledProcessor:
    __slots__ = ("constant", "expression", "extractor", "kind", "ms", "name", "value")

    def __init__(self, spec: dict[str, Any]) -> None:
        self.kind = spec["type"]
        self.name = spec.get("name")
        self.ms = spec.get("ms", 0)
        self.value = compile_text(spec["value"]) if self.kind == "set" and isinstance(spec.get("value"), str) else None
        self.expression: CompiledExpression | None = None
        if spec.get("expression") and self.kind in ("set", "assert_expression"):
            self.expression = compile_expression(spec["expression"])
        self.extractor = CompiledExtractor(spec) if self.kind == "extract" else None
        self.constant = spec.get("value") if self.kind == "set" and self.value is None else None


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
        self.retry = {
            "max_attempts": 1,
            "backoff_ms": 200,
            "backoff_factor": 2.0,
            "max_backoff_ms": 5000,
            "on_status": [502, 503, 504],
            "on_network_error": True,
            "on_assertion_failure": False,
            **(case.get("retry") or {}),
        }
        self.fan_out = self._fan_out_rows(step)

    @staticmethod
    def _fan_out_rows(step: StepSpec) -> list[DatasetSpec] | None:
        if step.dataset_mode == "all":
            return [d for d in step.case.datasets if d.enabled]
        if step.dataset_mode == "selected":
            by_id = {d.id: d for d in step.case.datasets}
            return [by_id[i] for i in step.dataset_ids if i in by_id]
        return None


class Attempt:
    """What one send (with its polling) produced, before it becomes a StepResult."""

    __slots__ = ("assertions", "error", "extracted", "network_error", "prepared", "response", "status")

    def __init__(self) -> None:
        self.prepared: PreparedRequest | None = None
        self.response: Response | None = None
        self.error: str | None = None
        self.network_error = False
        self.assertions: list[dict[str, Any]] = []
        self.extracted: dict[str, Any] = {}
        self.status = "passed"


class FlowRunner:
    def __init__(
        self,
        flow: FlowSpec,
        options: RunOptions,
        transport: Transport,
        sink: ResultSink,
        cancel: asyncio.Event | None = None,
    ) -> None:
        self.flow = flow
        self.options = options
        self.transport = transport
        self.sink = sink
        self.cancel = cancel or asyncio.Event()
        env = flow.environment
        self.base_url = env.base_url
        self.env_layer = {"base_url": env.base_url, **env.variables, **env.secrets}
        self.masker = Masker(env.secrets.values())
        self.steps = [CompiledStep(f"step:{i}", s) for i, s in enumerate(flow.steps)]
        self.setup = [CompiledStep(f"setup:{i}", s) for i, s in enumerate(flow.setup)]
        self.teardown = [CompiledStep(f"teardown:{i}", s) for i, s in enumerate(flow.teardown)]
        self.iterations = Counts()
        self.requests = Counts()
        self.not_passed: list[int] = []
        self._limiters: dict[str, AsyncLimiter] = {}
        self._fan_out_slots = asyncio.Semaphore(max(1, options.concurrency))
        rate = options.rate_limit or {}
        self._per_second = rate.get("per_second")
        self._burst = rate.get("burst")
        self._carried: dict[str, Any] = {}

    # ---- the whole run -------------------------------------------------------------------------
    async def run(self) -> FlowOutcome:
        started = datetime.now(UTC)
        status, error = "passed", None
        work = asyncio.ensure_future(self._run_all())
        watcher = asyncio.ensure_future(self.cancel.wait())
        try:
            done, _ = await asyncio.wait(
                {work, watcher}, timeout=self.options.timeout_ms / 1000, return_when=asyncio.FIRST_COMPLETED
            )
            if work in done:
                status = work.result()
            else:
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
                if watcher in done:
                    status, error = "cancelled", "cancelled"
                else:
                    status, error = "error", f"run timed out after {self.options.timeout_ms} ms"
        finally:
            watcher.cancel()
        return FlowOutcome(
            status=status,
            iterations=self.iterations,
            requests=self.requests,
            started_at=started,
            finished_at=datetime.now(UTC),
            error=error,
            not_passed_iterations=self.not_passed,
        )

    async def _run_all(self) -> str:
        base: dict[str, Any] = {}
        setup_status = "passed"
        if self.setup:
            setup_status = await self._run_sequence(self.setup, -1, 1, base, {}, self._layers({}, {}), buffer=None)
        if setup_status in ("passed", "skipped"):
            await self._run_iterations(base)
        teardown_status = "passed"
        if self.teardown:
            teardown_status = await self._run_sequence(
                self.teardown, -1, 1, dict(base), {}, self._layers({}, base), buffer=None, stop=False
            )
        failed_parts = setup_status not in ("passed", "skipped") or teardown_status not in ("passed", "skipped")
        if failed_parts or self.iterations.failed or self.iterations.error:
            return "failed"
        return "passed"

    def _layers(self, row: Mapping[str, Any], seeded: Mapping[str, Any]) -> list[Any]:
        """Scope layers, highest first: data row < ... (DESIGN 4 order, reversed for ChainMap)."""
        return [row, seeded, self.flow.run_variables, self.flow.scenario_variables, self.env_layer]

    # ---- iterations ----------------------------------------------------------------------------
    async def _rows(self) -> AsyncIterator[DataRow]:
        rows = self.flow.rows
        if rows is None:
            yield DataRow(index=0, variables={})
        elif hasattr(rows, "__aiter__"):
            async for row in rows:
                yield row
        else:
            for row in rows:
                yield row

    async def _run_iterations(self, seeded: dict[str, Any]) -> None:
        workers = 1 if self.options.carry_over else max(1, self.options.concurrency)
        queue: asyncio.Queue[DataRow | None] = asyncio.Queue(maxsize=workers * 2)

        async def produce() -> None:
            async for row in self._rows():
                await queue.put(row)
            for _ in range(workers):
                await queue.put(None)

        async def work() -> None:
            while (row := await queue.get()) is not None:
                await self._run_iteration(row, seeded)

        producer = asyncio.ensure_future(produce())
        try:
            await asyncio.gather(*(work() for _ in range(workers)))
        finally:
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)

    async def _run_iteration(self, row: DataRow, seeded: dict[str, Any]) -> None:
        max_attempts = int((self.options.retry or {}).get("max_attempts") or 1)
        status = "passed"
        for iteration_attempt in range(1, max_attempts + 1):
            retry_possible = iteration_attempt < max_attempts
            buffer: list[StepResult] | None = [] if retry_possible else None
            runtime: dict[str, Any] = self._carried if self.options.carry_over else {}
            layers = self._layers(row.variables, seeded)
            status = await self._run_sequence(self.steps, row.index, iteration_attempt, runtime, {}, layers, buffer)
            if buffer is not None:
                will_retry = status in ("failed", "error") and not self.cancel.is_set()
                for result in buffer:
                    if will_retry:
                        result.is_final = False
                    await self._emit(result)
                if will_retry:
                    await self._backoff(self.options.retry or {}, iteration_attempt)
                    continue
            break
        self.iterations.add(status if status != "skipped" else "passed")
        if status in ("failed", "error"):
            self.not_passed.append(row.index)

    async def _run_sequence(
        self,
        steps: list[CompiledStep],
        iteration: int,
        iteration_attempt: int,
        runtime: dict[str, Any],
        cookies: dict[str, str],
        layers: list[Any],
        buffer: list[StepResult] | None,
        stop: bool | None = None,
    ) -> str:
        stop_on_failure = self.options.stop_on_failure if stop is None else stop
        statuses: list[str] = []
        broken = False
        for step in steps:
            if not step.spec.enabled:
                continue
            if broken and stop_on_failure:
                await self._record_skip(step, iteration, iteration_attempt, "an earlier step failed", buffer)
                statuses.append("skipped")
                continue
            if step.fan_out is not None:
                status = await self._run_fan_out(step, iteration, iteration_attempt, runtime, cookies, layers, buffer)
            else:
                scope = ChainMap(runtime, step.spec.variables, *layers)
                status = await self._run_step(step, iteration, iteration_attempt, scope, runtime, cookies, None, buffer)
            statuses.append(status)
            if status in ("failed", "error"):
                broken = True
        return worst(statuses)

    async def _run_fan_out(
        self,
        step: CompiledStep,
        iteration: int,
        iteration_attempt: int,
        runtime: dict[str, Any],
        cookies: dict[str, str],
        layers: list[Any],
        buffer: list[StepResult] | None,
    ) -> str:
        """Each dataset row in its own copy of the iteration scope; what the rows extract does not flow on."""
        rows = step.fan_out or []
        if not rows:
            await self._record_skip(step, iteration, iteration_attempt, "no enabled datasets to fan out over", buffer)
            return "skipped"

        async def one(dataset: DatasetSpec) -> str:
            async with self._fan_out_slots:
                own_runtime = dict(runtime)
                scope = ChainMap(own_runtime, dataset.variables, step.spec.variables, *layers)
                return await self._run_step(
                    step, iteration, iteration_attempt, scope, own_runtime, dict(cookies), dataset, buffer
                )

        return worst(list(await asyncio.gather(*(one(d) for d in rows))))

    # ---- one step ------------------------------------------------------------------------------
    async def _run_step(
        self,
        step: CompiledStep,
        iteration: int,
        iteration_attempt: int,
        scope: MutableMapping[str, Any],
        runtime: dict[str, Any],
        cookies: dict[str, str],
        dataset: DatasetSpec | None,
        buffer: list[StepResult] | None,
    ) -> str:
        if self.cancel.is_set():
            raise asyncio.CancelledError
        if step.skip_if is not None:
            try:
                skip = step.skip_if.evaluate(expression_names(None, scope))
            except Exception as exc:
                await self._emit_simple(
                    step,
                    iteration,
                    iteration_attempt,
                    dataset,
                    "error",
                    f"skip_if could not be evaluated: {exc}",
                    buffer,
                )
                return "error"
            if skip:
                await self._record_skip(
                    step, iteration, iteration_attempt, f"skip_if held: {step.spec.skip_if}", buffer, dataset
                )
                return "skipped"
        retry = step.retry
        max_attempts = max(1, int(retry.get("max_attempts") or 1))
        had_failure = False
        for attempt in range(1, max_attempts + 1):
            started_at = datetime.now(UTC)
            started = time.perf_counter()
            try:
                outcome = await self._attempt(step, scope, runtime, cookies)
            except asyncio.CancelledError:
                await self._emit_simple(
                    step,
                    iteration,
                    iteration_attempt,
                    dataset,
                    "error",
                    "cancelled",
                    buffer,
                    attempt=attempt,
                    started_at=started_at,
                )
                raise
            retryable = attempt < max_attempts and not self.cancel.is_set() and self._should_retry(outcome, retry)
            result = self._result(
                step,
                iteration,
                iteration_attempt,
                attempt,
                dataset,
                scope,
                outcome,
                started_at,
                (time.perf_counter() - started) * 1000,
            )
            result.is_final = not retryable
            result.flaky = outcome.status == "passed" and had_failure
            await self._emit(result, buffer)
            if not retryable:
                return outcome.status
            had_failure = True
            await self._backoff(retry, attempt)
        return "error"  # unreachable: the last attempt always returns

    @staticmethod
    def _should_retry(outcome: Attempt, retry: dict[str, Any]) -> bool:
        if outcome.network_error:
            return bool(retry.get("on_network_error", True))
        if outcome.response is not None and outcome.response.status in (retry.get("on_status") or []):
            return True
        return outcome.status == "failed" and bool(retry.get("on_assertion_failure"))

    async def _backoff(self, retry: dict[str, Any], attempt: int) -> None:
        delay = float(retry.get("backoff_ms", 200)) * float(retry.get("backoff_factor", 2.0)) ** (attempt - 1)
        delay = min(delay, float(retry.get("max_backoff_ms", 5000)))
        if delay > 0:
            await asyncio.sleep(delay / 1000)

    async def _attempt(
        self, step: CompiledStep, scope: MutableMapping[str, Any], runtime: dict[str, Any], cookies: dict[str, str]
    ) -> Attempt:
        outcome = Attempt()
        try:
            for processor in step.pre:
                await self._process(processor, None, scope, runtime, outcome)
            prepared = outcome.prepared = step.request.render(scope, self.base_url, cookies)
        except (UnknownVariable, RequestBuildError) as exc:
            outcome.status, outcome.error = "error", f"{step.name}: {exc}"
            return outcome
        except Exception as exc:
            outcome.status, outcome.error = "error", f"{step.name}: pre-processor failed: {exc}"
            return outcome
        response = await self._send(step, prepared, scope, outcome)
        if response is None:
            return outcome
        outcome.response = response
        new_cookies = response.set_cookies()
        if new_cookies:
            cookies.update(new_cookies)
        for extractor in step.extractors:
            try:
                value = extractor.extract(response)
            except ExtractionError as exc:
                outcome.assertions.append(
                    {
                        "source": "extractor",
                        "expression": extractor.expression,
                        "op": None,
                        "expected": extractor.name,
                        "actual": None,
                        "passed": False,
                        "message": str(exc),
                    }
                )
                continue
            runtime[extractor.name] = value
            outcome.extracted[extractor.name] = value
        for assertion in step.assertions:
            outcome.assertions.append(assertion.evaluate(response, scope))
        try:
            for processor in step.post:
                await self._process(processor, response, scope, runtime, outcome)
        except Exception as exc:
            outcome.status, outcome.error = "error", f"{step.name}: post-processor failed: {exc}"
            return outcome
        if any(not check["passed"] for check in outcome.assertions):
            outcome.status = "failed"
        return outcome

    async def _send(
        self, step: CompiledStep, prepared: PreparedRequest, scope: Mapping[str, Any], outcome: Attempt
    ) -> Response | None:
        """Send once, or until poll.until holds; the last response is the result."""
        until = step.poll_until
        attempts = int(step.poll.get("max_attempts", 20)) if until else 1
        deadline = time.monotonic() + step.poll.get("timeout_ms", 30_000) / 1000 if until else None
        response: Response | None = None
        for poll_attempt in range(1, attempts + 1):
            await self._throttle(prepared.url)
            try:
                response = await self.transport.send(prepared, step.timeout_s)
            except TransportError as exc:
                outcome.status, outcome.error, outcome.network_error = "error", str(exc), True
                return None
            if until is None:
                return response
            try:
                if until.evaluate(expression_names(response, scope)):
                    return response
            except Exception as exc:
                outcome.status, outcome.error = "error", f"poll.until could not be evaluated: {exc}"
                return response
            if poll_attempt == attempts or (deadline is not None and time.monotonic() >= deadline):
                break
            await asyncio.sleep(step.poll.get("interval_ms", 500) / 1000)
        outcome.assertions.append(
            {
                "source": "poll",
                "expression": step.poll.get("until"),
                "op": None,
                "expected": True,
                "actual": False,
                "passed": False,
                "message": f"poll.until never held ({poll_attempt} attempts)",
            }
        )
        return response

    async def _throttle(self, url: str) -> None:
        if not self._per_second:
            return
        host = urlsplit(url).netloc
        limiter = self._limiters.get(host)
        if limiter is None:
            burst = float(self._burst or 1)
            limiter = self._limiters[host] = AsyncLimiter(burst, burst / float(self._per_second))
        await limiter.acquire()

    async def _process(
        self,
        processor: CompiledProcessor,
        response: Response | None,
        scope: MutableMapping[str, Any],
        runtime: dict[str, Any],
        outcome: Attempt,
    ) -> None:
        if processor.kind == "wait":
            await asyncio.sleep(processor.ms / 1000)
        elif processor.kind == "set":
            if processor.expression is not None:
                value = processor.expression.evaluate(expression_names(response, scope))
            elif processor.value is not None:
                value = processor.value(scope)
            else:
                value = processor.constant
            runtime[processor.name] = value  # type: ignore[index]
        elif processor.kind == "extract" and response is not None:
            assert processor.extractor is not None
            try:
                value = processor.extractor.extract(response)
            except ExtractionError as exc:
                outcome.assertions.append(
                    {
                        "source": "extractor",
                        "expression": processor.extractor.expression,
                        "op": None,
                        "expected": processor.name,
                        "actual": None,
                        "passed": False,
                        "message": str(exc),
                    }
                )
                return
            runtime[processor.extractor.name] = value
            outcome.extracted[processor.extractor.name] = value
        elif processor.kind == "assert_expression":
            assert processor.expression is not None
            holds = processor.expression.evaluate(expression_names(response, scope))
            outcome.assertions.append(
                {
                    "source": "expression",
                    "expression": processor.expression.source,
                    "op": None,
                    "expected": True,
                    "actual": bool(holds),
                    "passed": bool(holds),
                    "message": "expression holds" if holds else f"expression is false: {processor.expression.source}",
                }
            )

    # ---- results -------------------------------------------------------------------------------
    def _result(
        self,
        step: CompiledStep,
        iteration: int,
        iteration_attempt: int,
        attempt: int,
        dataset: DatasetSpec | None,
        scope: Mapping[str, Any],
        outcome: Attempt,
        started_at: datetime,
        duration_ms: float,
    ) -> StepResult:
        mask = self.masker
        request = None
        if outcome.prepared is not None:
            prepared = outcome.prepared
            request = {
                "method": prepared.method,
                "url": prepared.url,
                "headers": prepared.headers,
                "body": self._clip(prepared.body_text),
            }
            if mask.active:
                request = mask.value(request)
        response = None
        if outcome.response is not None:
            raw = outcome.response
            response = {
                "status": raw.status,
                "headers": raw.headers,
                "body": self._clip(raw.text),
                "size": len(raw.body),
                "sha256": hashlib.sha256(raw.body).hexdigest(),
                "elapsed_ms": round(raw.elapsed_ms, 3),
                "url": raw.url,
            }
            if mask.active:
                response = mask.value(response)
        variables = scope.maps[0] if isinstance(scope, ChainMap) else {}
        dataset_snapshot = {"dataset": dataset.variables if dataset else None, "values": dict(variables)}
        if mask.active:
            dataset_snapshot = mask.value(dataset_snapshot)
        return StepResult(
            step_key=step.key,
            case_id=step.spec.case.id,
            step_id=step.spec.step_id,
            dataset_id=dataset.id if dataset else None,
            iteration=iteration,
            attempt=attempt,
            iteration_attempt=iteration_attempt,
            is_final=True,
            flaky=False,
            status=outcome.status,
            started_at=started_at,
            duration_ms=round(duration_ms, 3),
            request=request,
            dataset=dataset_snapshot,
            response=response,
            error=mask.text(outcome.error) if outcome.error else None,
            assertions=mask.value(outcome.assertions) if mask.active else outcome.assertions,
            extracted=mask.value(outcome.extracted) if mask.active else outcome.extracted,
            name=step.name,
        )

    def _clip(self, text: str | None) -> str | None:
        if text is None:
            return None
        limit = self.options.body_limit
        return text if len(text) <= limit else text[:limit]

    async def _record_skip(
        self,
        step: CompiledStep,
        iteration: int,
        iteration_attempt: int,
        why: str,
        buffer: list[StepResult] | None,
        dataset: DatasetSpec | None = None,
    ) -> None:
        await self._emit_simple(step, iteration, iteration_attempt, dataset, "skipped", why, buffer)

    async def _emit_simple(
        self,
        step: CompiledStep,
        iteration: int,
        iteration_attempt: int,
        dataset: DatasetSpec | None,
        status: str,
        why: str,
        buffer: list[StepResult] | None,
        attempt: int = 1,
        started_at: datetime | None = None,
    ) -> None:
        result = StepResult(
            step_key=step.key,
            case_id=step.spec.case.id,
            step_id=step.spec.step_id,
            dataset_id=dataset.id if dataset else None,
            iteration=iteration,
            attempt=attempt,
            iteration_attempt=iteration_attempt,
            is_final=True,
            flaky=False,
            status=status,
            started_at=started_at or datetime.now(UTC),
            duration_ms=0.0,
            error=why,
            name=step.name,
        )
        await self._emit(result, buffer)

    async def _emit(self, result: StepResult, buffer: list[StepResult] | None = None) -> None:
        if buffer is not None:
            buffer.append(result)
            return
        if result.is_final:
            self.requests.add(result.status, result.flaky)
        await self.sink.put(result)


async def run_flow(
    flow: FlowSpec,
    options: RunOptions,
    transport: Transport,
    sink: ResultSink,
    cancel: asyncio.Event | None = None,
) -> FlowOutcome:
    """Run a flow to the end (or until cancelled or timed out) and return its counts.

    Args:
        flow: steps, setup, teardown, environment, variables and the data rows (read lazily).
        options: concurrency, stop_on_failure, run timeout, iteration retry, rate limit, body limit.
        transport: where requests go (one pooled client for the whole run).
        sink: receives every StepResult as it is produced; the caller persists them in batches.
        cancel: set it to stop at once; requests in flight are recorded as error "cancelled".

    Returns:
        The outcome: status, iteration and request counts, and the iterations that did not pass.
    """
    return await FlowRunner(flow, options, transport, sink, cancel).run()
