"""One step: skip_if, then attempts (retried as its case says), each one render, send (and poll), check.

Every attempt becomes a StepResult through the Recorder; the step's status is its last attempt's.
"""

from __future__ import annotations

import asyncio
from collections import ChainMap
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import urlsplit

from app.engine.attempt import Attempt, StepPosition
from app.engine.checks import check_result
from app.engine.compiled import CompiledProcessor, CompiledStep
from app.engine.control import RunControl
from app.engine.evaluation import Evaluator
from app.engine.exchange import NEXT_IN_ORDER, IterationState, RedirectRefused, exchange, origin
from app.engine.expressions import ExpressionLimitError
from app.engine.masking import Masker
from app.engine.ratelimit import RateLimiter
from app.engine.recorder import Recorder
from app.engine.regexes import RegexError
from app.engine.request import CompiledRequest, RequestBuildError
from app.engine.scripting import ScriptFailed, ScriptHost
from app.engine.scripts.sandbox import ScriptLimits
from app.engine.specs import FlowSpec, RetrySpec, RunOptions
from app.engine.statuses import ResultStatus
from app.engine.taint import SecretDerivationError, TrackedScope, describe
from app.engine.templates import UnknownVariable
from app.engine.transport import PreparedRequest, Response, Transport, TransportError


class StepRunner:
    """Runs one step at a given position, in a given scope; shared by every iteration of a run."""

    def __init__(
        self,
        flow: FlowSpec,
        options: RunOptions,
        transport: Transport,
        control: RunControl,
        recorder: Recorder,
        evaluator: Evaluator,
        limiter: RateLimiter | None,
    ) -> None:
        self.base_url = flow.environment.base_url
        self.run_variables = flow.run_variables
        self.options = options
        self.transport = transport
        self.control = control
        self.recorder = recorder
        self.evaluator = evaluator
        self.masker: Masker = evaluator.masker
        self.limiter = limiter
        limits = ScriptLimits(options.script_time_ms, options.script_memory_mb * 1024 * 1024)
        self.scripts = ScriptHost(list(flow.environment.secrets), limits)

    async def run(
        self, at: StepPosition, scope: MutableMapping[str, Any], runtime: dict[str, Any], state: IterationState
    ) -> ResultStatus:
        """Run the step (its retries included) and record each attempt; its final status."""
        step, control = at.step, self.control
        if control.cancelled:
            await self.recorder.skipped(at, f"not started: {control.stop_reason}")
            raise asyncio.CancelledError
        if step.skip_if is not None:
            try:
                skip, _ = self.evaluator.evaluate(step.skip_if, None, scope, state, None)
            except Exception as exc:
                why = f"{step.name}: skip_if could not be evaluated: {describe(exc)}"
                await self.recorder.without_request(at, ResultStatus.ERROR, why)
                return ResultStatus.ERROR
            if skip:
                await self.recorder.skipped(at, f"skip_if held: {step.spec.skip_if}")
                return ResultStatus.SKIPPED
        clock, retry = control.clock, step.retry
        had_failure = False
        for attempt in range(1, retry.max_attempts + 1):
            started_at, started = clock.wall(), clock.now()
            outcome = Attempt()
            state.next_request = NEXT_IN_ORDER  # only the attempt that stands says where the iteration goes
            try:
                if attempt > 1:
                    await control.backoff(retry, attempt - 1)
                    started_at, started = clock.wall(), clock.now()
                await self._attempt(at, scope, runtime, state, outcome)
            except asyncio.CancelledError:
                # Abandoned in flight (or while waiting to retry): this attempt, with the request it was
                # sending, is the step's last word.
                outcome.status, outcome.error, outcome.response = ResultStatus.ERROR, control.stop_reason, None
                elapsed_ms = (clock.now() - started) * 1000
                await self.recorder.emit(
                    self.recorder.result(at, attempt, scope, outcome, started_at, elapsed_ms), at.buffer
                )
                raise
            retryable = attempt < retry.max_attempts and not control.cancelled and _should_retry(outcome, retry)
            result = self.recorder.result(at, attempt, scope, outcome, started_at, (clock.now() - started) * 1000)
            result.is_final = not retryable
            result.flaky = outcome.status == ResultStatus.PASSED and had_failure
            await self.recorder.emit(result, at.buffer)
            if not retryable:
                return outcome.status
            had_failure = True
        return ResultStatus.ERROR  # unreachable: the last attempt always returns

    async def _attempt(
        self,
        at: StepPosition,
        scope: MutableMapping[str, Any],
        runtime: dict[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> None:
        """Render, send (and poll), extract, check: everything one attempt does, recorded in `outcome`."""
        step = at.step
        try:
            request = step.spec.case.request
            for processor in step.pre:
                if processor.script is not None:
                    request = await self.scripts.pre_request(
                        processor.script, at, request, scope, runtime, state, outcome
                    )
                else:
                    await self._process(processor, None, scope, runtime, state, outcome)
            # A pre-request script that changed pm.request: that request is compiled for this attempt only.
            compiled = step.request if request is step.spec.case.request else CompiledRequest(request)
            prepared = outcome.prepared = compiled.render(scope, self.base_url)
            if self.masker.active:
                state.taint.learn_basic_credentials(prepared.headers, self.masker)
                self._check_secret_origin(step, scope, prepared)
        except (UnknownVariable, RequestBuildError, SecretDerivationError, ScriptFailed) as exc:
            outcome.fail(ResultStatus.ERROR, f"{step.name}: {exc}")
            return
        except Exception as exc:
            outcome.fail(ResultStatus.ERROR, f"{step.name}: pre-processor failed: {describe(exc)}")
            return
        response = await self._send(step, prepared, scope, state, outcome)
        if response is None:
            return
        outcome.response = response
        evaluator = self.evaluator
        try:
            for extractor in step.extractors:
                evaluator.extract(extractor, response, runtime, state, outcome)
            for assertion in step.assertions:
                outcome.assertions.append(evaluator.check(assertion, response, scope, state, outcome))
        except (SecretDerivationError, ExpressionLimitError, RegexError) as exc:
            # Not a failed check: the check could not run (a size or time limit, a pattern RE2 refuses).
            outcome.fail(ResultStatus.ERROR, f"{step.name}: {exc}")
            return
        except Exception as exc:  # whatever one step's checks meet, it ends that step, never the run
            outcome.fail(ResultStatus.ERROR, f"{step.name}: checks could not run: {describe(exc)}")
            return
        try:
            for processor in step.post:
                if processor.script is not None:
                    await self.scripts.test(
                        processor.script, at, outcome.prepared, response, scope, runtime, state, outcome
                    )
                else:
                    await self._process(processor, response, scope, runtime, state, outcome)
        except (SecretDerivationError, ScriptFailed) as exc:
            outcome.fail(ResultStatus.ERROR, f"{step.name}: {exc}")
            return
        except Exception as exc:
            outcome.fail(ResultStatus.ERROR, f"{step.name}: post-processor failed: {describe(exc)}")
            return
        if outcome.status == ResultStatus.PASSED and any(not check["passed"] for check in outcome.assertions):
            outcome.status = ResultStatus.FAILED

    async def _send(
        self,
        step: CompiledStep,
        prepared: PreparedRequest,
        scope: MutableMapping[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> Response | None:
        """Send (following redirects unless the case says not to) once, or until poll.until holds."""
        control, poll, until = self.control, step.poll, step.poll_until
        attempts = poll.max_attempts if poll else 1
        deadline = control.clock.now() + poll.timeout_ms / 1000 if poll else None
        response: Response | None = None
        for poll_attempt in range(1, attempts + 1):
            if control.cancelled:
                raise asyncio.CancelledError
            try:
                outcome.prepared, response = await exchange(
                    self.transport,
                    prepared,
                    step.timeout_s,
                    state.cookies,
                    step.follow_redirects,
                    self._throttle,
                    self._carries_secret,
                    self.options.response_max_bytes,
                    control.clock,
                )
            except TransportError as exc:
                outcome.fail(ResultStatus.ERROR, str(exc))
                outcome.network_error = True
                return None
            except RedirectRefused as exc:
                outcome.fail(ResultStatus.ERROR, f"{step.name}: {exc}")
                return None
            if poll is None or until is None:
                return response
            try:
                if self.evaluator.evaluate(until, response, scope, state, outcome)[0]:
                    return response
            except Exception as exc:
                outcome.fail(ResultStatus.ERROR, f"{step.name}: poll.until could not be evaluated: {describe(exc)}")
                return response
            if poll_attempt == attempts or (deadline is not None and control.clock.now() >= deadline):
                break
            await control.sleep(poll.interval_ms / 1000)
        message = f"poll.until never held ({poll_attempt} attempts)"
        outcome.assertions.append(check_result("poll", poll.until if poll else None, None, True, False, False, message))
        return response

    async def _process(
        self,
        processor: CompiledProcessor,
        response: Response | None,
        scope: MutableMapping[str, Any],
        runtime: dict[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> None:
        """One pre- or post-processor: wait, set a value, extract (as extractors do), or assert an expression."""
        if processor.kind == "wait":
            await self.control.sleep(processor.ms / 1000)
        elif processor.kind == "set":
            derived_from: str | None = None
            if processor.expression is not None:
                value, derived_from = self.evaluator.evaluate(processor.expression, response, scope, state, outcome)
            else:
                assert processor.value is not None
                if self.masker.active:
                    tracked = TrackedScope(scope, self.masker, state.taint)
                    value, derived_from = processor.value(tracked), tracked.secret_read
                else:
                    value = processor.value(scope)
            if derived_from is not None:
                state.taint.derive(processor.name, value, f"processor 'set {processor.name}'")
            runtime[processor.name] = value  # type: ignore[index]
        elif processor.kind == "extract" and response is not None:
            assert processor.extractor is not None
            self.evaluator.extract(processor.extractor, response, runtime, state, outcome)
        elif processor.kind == "assert_expression":
            expression = processor.expression
            assert expression is not None
            holds = bool(self.evaluator.evaluate(expression, response, scope, state, outcome)[0])
            message = "expression holds" if holds else f"expression is false: {expression.source}"
            outcome.assertions.append(check_result("expression", expression.source, None, True, holds, holds, message))

    def _check_secret_origin(
        self, step: CompiledStep, scope: MutableMapping[str, Any], prepared: PreparedRequest
    ) -> None:
        """A request that carries a secret goes where the case, environment and scenario say, not the run variables.

        Run variables are given by whoever starts the run; they may change what is sent but not, for a request
        carrying a secret, its scheme, host and port (RunOptions.run_variables_may_redirect_secrets opts out).
        """
        run_variables = self.run_variables
        if not run_variables or self.options.run_variables_may_redirect_secrets:
            return
        if not self._carries_secret(prepared):
            return
        maps = scope.maps if isinstance(scope, ChainMap) else [scope]
        without_run = ChainMap(*[layer for layer in maps if layer is not run_variables])
        try:
            intended: str | None = origin(step.request.url(without_run, self.base_url))
        except (UnknownVariable, RequestBuildError):
            intended = None
        actual = origin(prepared.url)
        if actual != intended:
            raise RequestBuildError(
                f"the request carries a secret and the run's variables change where it goes ({actual} instead of "
                f"{intended or 'an origin the case, environment or scenario gives'}); nothing was sent. "
                "Set the host in the environment or the scenario instead"
            )

    def _carries_secret(self, request: PreparedRequest) -> bool:
        mask = self.masker
        if not mask.active:
            return False
        return (
            mask.finds(request.url)
            or any(mask.finds(value) for _, value in request.headers)
            or (request.body_text is not None and mask.finds(request.body_text))
        )

    async def _throttle(self, url: str) -> None:
        if self.limiter is not None:
            await self.limiter.acquire(urlsplit(url).netloc)


def _should_retry(outcome: Attempt, retry: RetrySpec) -> bool:
    if outcome.network_error:
        return retry.on_network_error
    if outcome.response is not None and outcome.response.status in retry.on_status:
        return True
    return outcome.status == ResultStatus.FAILED and retry.on_assertion_failure
