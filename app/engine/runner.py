"""Runs a flow: setup once, iterations concurrently (steps in order inside each), teardown once.

Everything is compiled once per run (templates, JSONPath, regexes, schemas, expressions); the hot path
renders, sends, checks and hands a plain StepResult to the caller's sink.
"""

from __future__ import annotations

import asyncio
from collections import ChainMap
from collections.abc import AsyncIterator, Mapping, MutableMapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from app.engine.checks import CompiledAssertion, CompiledExtractor, ExtractionError, expression_names
from app.engine.clock import SYSTEM_CLOCK, Clock
from app.engine.compiled import CompiledProcessor, CompiledStep
from app.engine.exchange import IterationState, RedirectRefused, exchange, origin
from app.engine.expressions import CompiledExpression, ExpressionLimitError
from app.engine.masking import CURRENT_TAINT, MASK, MIN_SECRET_LENGTH, Masker
from app.engine.ratelimit import RateLimiter, local_limiter
from app.engine.regexes import RegexError
from app.engine.request import RequestBuildError
from app.engine.results import Counts, FlowOutcome, ResultSink, StepResult
from app.engine.snapshots import Snapshots
from app.engine.specs import DataRow, DatasetSpec, FlowSpec, RetrySpec, RunOptions, SetupState
from app.engine.statuses import FAILING, NOT_FAILING, ResultStatus, RunStatus
from app.engine.taint import (
    SecretDerivationError,
    SecretInError,
    Taint,
    TrackedScope,
    describe,
    holds_secret,
    masked_response,
)
from app.engine.templates import UnknownVariable
from app.engine.transport import PreparedRequest, Response, Transport, TransportError


class RowSourceError(Exception):
    """The data rows could not be read to the end (the run stops with an error once started rows finish)."""


SEVERITY = {ResultStatus.PASSED: 0, ResultStatus.SKIPPED: 0, ResultStatus.FAILED: 1, ResultStatus.ERROR: 2}


def worst(statuses: list[ResultStatus]) -> ResultStatus:
    return max(statuses, key=lambda s: SEVERITY[s], default=ResultStatus.PASSED)


class Attempt:
    """What one send (with its polling) produced, before it becomes a StepResult."""

    __slots__ = (
        "assertions", "error", "extracted", "network_error", "prepared", "response", "response_secret", "status",
    )  # fmt: skip

    def __init__(self) -> None:
        self.prepared: PreparedRequest | None = None
        self.response: Response | None = None
        self.error: str | None = None
        self.network_error = False
        self.assertions: list[dict[str, Any]] = []
        self.extracted: dict[str, Any] = {}
        self.status = ResultStatus.PASSED
        self.response_secret: tuple[Response, bool] | None = None  # whether that response shows a secret


class FlowRunner:
    def __init__(
        self,
        flow: FlowSpec,
        options: RunOptions,
        transport: Transport,
        sink: ResultSink,
        cancel: asyncio.Event | None = None,
        clock: Clock | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.flow = flow
        self.clock = clock or SYSTEM_CLOCK  # every wait, deadline, duration and timestamp of the run reads it
        self.options = options
        self.transport = transport
        self.sink = sink
        self.cancel = cancel or asyncio.Event()
        env = flow.environment
        self.base_url = env.base_url
        self.env_layer = {"base_url": env.base_url, **env.variables, **env.secrets}
        self.masker = Masker(env.secrets.values())
        self.snapshots = Snapshots(self.masker, options.body_limit, options.value_limit)
        self.steps = [CompiledStep(f"step:{i}", s) for i, s in enumerate(flow.steps)]
        self.setup = [CompiledStep(f"setup:{i}", s) for i, s in enumerate(flow.setup)]
        self.teardown = [CompiledStep(f"teardown:{i}", s) for i, s in enumerate(flow.teardown)]
        self.iterations = Counts()
        self.requests = Counts()
        self.not_passed: list[int] = []
        self._fan_out_slots = asyncio.Semaphore(max(1, options.concurrency))
        # Per-host rate limit: the caller's (shared by processes running chunks of one run), else in-process.
        self._limiter = limiter or local_limiter(options.rate_limit)
        self._carried: dict[str, Any] = {}
        self._stop_reason = "cancelled"  # what a request abandoned in flight is recorded with
        # What setup derived from secrets: every iteration starts from it.
        self._setup_taint = Taint.seeded(flow.seed.secret_names, flow.seed.secret_texts) if flow.seed else Taint()
        # What setup left when it passed (holds secrets in clear: kept off the outcome, which gets recorded).
        self.setup_state: SetupState | None = None
        # The first final failed/error result of each part ("setup", "step", "teardown"): the run's error names it.
        self._first_failure: dict[str, StepResult] = {}
        self._teardown_started = False
        self._deadline = float("inf")  # the run's timeout on the clock (set when the run starts)
        self._expired = asyncio.Event()  # an engine wait reached that deadline

    # ---- the whole run -------------------------------------------------------------------------
    async def run(self) -> FlowOutcome:
        started = self.clock.wall()
        too_short = self._too_short_secrets()
        if too_short is not None:  # nothing is sent: such a secret would show in every record unmasked
            return FlowOutcome(
                status=RunStatus.ERROR,
                iterations=self.iterations,
                requests=self.requests,
                started_at=started,
                finished_at=self.clock.wall(),
                error=too_short,
            )
        timed_out = False
        self._deadline = self.clock.now() + self.options.timeout_ms / 1000
        work = asyncio.ensure_future(self._run_all())
        watcher = asyncio.ensure_future(self.cancel.wait())
        expired = asyncio.ensure_future(self._expired.wait())
        try:
            # The real timer stops requests in flight; `expired` is the engine's own waits reaching the deadline.
            done, _ = await asyncio.wait(
                {work, watcher, expired}, timeout=self.options.timeout_ms / 1000, return_when=asyncio.FIRST_COMPLETED
            )
            timed_out = not done or (expired in done and work not in done)
            if work not in done:
                if timed_out:
                    self._stop_reason = f"run timed out after {self.options.timeout_ms} ms"
                work.cancel()
            # Wait for the work to unwind, so nothing of this run is still sending when we return.
            await asyncio.gather(work, return_exceptions=True)
            if work.cancelled() and not self._teardown_started:
                # Steps never started are recorded (skipped, with the reason), so the records add up.
                await self._record_not_started(self.teardown, -1, 1, None)
        finally:
            watcher.cancel()
            expired.cancel()
            if not work.done():  # we were cancelled ourselves: take the run down with us
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        status: RunStatus
        error: str | None
        if timed_out:
            status, error = RunStatus.ERROR, self._stop_reason
        elif self.cancel.is_set() or work.cancelled():
            # Also when a step saw the signal first and the work ended by itself.
            status, error = RunStatus.CANCELLED, "cancelled"
        else:
            status, error = work.result()  # an unexpected exception propagates to the caller
        return FlowOutcome(
            status=status,
            iterations=self.iterations,
            requests=self.requests,
            started_at=started,
            finished_at=self.clock.wall(),
            error=self.masker.text(error) if error else None,  # its parts are masked already; this is the net
            not_passed_iterations=sorted(self.not_passed),
            first_failure=self._describe_failure("step") if "step" in self._first_failure else None,
        )

    def _too_short_secrets(self) -> str | None:
        """Secrets shorter than MIN_SECRET_LENGTH cannot be masked (environments refuse them when saved)."""
        names = sorted(
            name
            for name, value in self.flow.environment.secrets.items()
            if isinstance(value, str) and 0 < len(value) < MIN_SECRET_LENGTH
        )
        if not names:
            return None
        return (
            f"the environment's secret {', '.join(repr(n) for n in names)} is shorter than {MIN_SECRET_LENGTH} "
            "characters and could not be masked in the records; nothing was sent. Give it a longer value"
        )

    async def _run_all(self) -> tuple[RunStatus, str | None]:
        base: dict[str, Any] = dict(self.flow.seed.values) if self.flow.seed else {}
        setup_status = ResultStatus.PASSED
        error: str | None = None
        if self.setup:
            setup_status = await self._run_sequence(
                self.setup, -1, 1, base, IterationState(self._setup_taint), self._layers({}), buffer=None
            )
        if setup_status in NOT_FAILING:
            self.setup_state = SetupState(dict(base), sorted(self._setup_taint.names), sorted(self._setup_taint.values))
            if self.options.setup_only:
                return RunStatus.PASSED, None
            try:
                await self._run_iterations(base)
            except RowSourceError as exc:
                error = str(exc)  # teardown still runs: clean up what the iterations made
        teardown_status = ResultStatus.PASSED
        self._teardown_started = True
        if self.teardown:
            teardown_status = await self._run_sequence(
                self.teardown,
                -1,
                1,
                dict(base),
                IterationState(Taint(self._setup_taint)),
                self._layers({}),
                buffer=None,
                stop=False,
            )
        if error is not None:
            return RunStatus.ERROR, error
        reasons = []
        if setup_status not in NOT_FAILING:
            reasons.append(f"setup {self._describe_failure('setup')}; no iteration ran")
        if self.iterations.failed or self.iterations.error:
            reasons.append(self._describe_iterations())
        if teardown_status not in NOT_FAILING:
            reasons.append(f"teardown {self._describe_failure('teardown')}")
        if reasons:
            return RunStatus.FAILED, "; ".join(reasons)
        return RunStatus.PASSED, None

    def _describe_failure(self, part: str) -> str:
        """The first final failure of a part, as: step 'login' failed: <why> (already masked)."""
        result = self._first_failure.get(part)
        if result is None:
            return "failed"
        why = result.error
        if why is None:
            failed_checks = [check for check in result.assertions if not check.get("passed")]
            why = str(failed_checks[0].get("message")) if failed_checks else result.status
        where = f"iteration {result.iteration}, " if result.iteration >= 0 else ""
        ended = "failed" if result.status == ResultStatus.FAILED else "ended in error"
        return f"{where}step '{result.name}' {ended}: {why}"[:500]

    def _describe_iterations(self) -> str:
        counted = self.iterations.passed + self.iterations.failed + self.iterations.error
        parts = []
        if self.iterations.failed:
            parts.append(f"{self.iterations.failed} of {counted} iterations failed")
        if self.iterations.error:
            parts.append(f"{self.iterations.error} of {counted} iterations ended in error")
        return f"{', '.join(parts)} (first: {self._describe_failure('step')})"

    def _layers(self, row: Mapping[str, Any]) -> list[Any]:
        """Scope layers below the step's, highest first (DESIGN 4 order, reversed for ChainMap).

        Run-time values (setup's extracted values seed them) sit above all of these, in the iteration's own dict.
        """
        return [row, self.flow.run_variables, self.flow.scenario_variables, self.env_layer]

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
        row_error: list[BaseException] = []
        if self.options.carry_over:
            self._carried = dict(seeded)

        async def produce() -> None:
            try:
                async for row in self._rows():
                    await queue.put(row)
            except Exception as exc:  # the rows' source broke (a database read...): finish what was started
                row_error.append(exc)
            # Not in a `finally`: once cancelled, no worker is left to make room in the queue.
            for _ in range(workers):
                await queue.put(None)

        async def work() -> None:
            while (row := await queue.get()) is not None:
                await self._run_iteration(row, seeded)

        # A task group, so a failure or a cancellation never leaves an orphan task sending requests.
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(produce())
                for _ in range(workers):
                    group.create_task(work())
        except BaseExceptionGroup as failure:
            raise failure.exceptions[0] from None
        if row_error:
            exc = row_error[0]
            raise RowSourceError(f"data rows could not be read: {type(exc).__name__}: {exc}") from exc

    async def _run_iteration(self, row: DataRow, seeded: dict[str, Any]) -> None:
        max_attempts = self.options.retry.max_attempts
        status = ResultStatus.PASSED
        iteration_attempt = 1
        layers = self._layers(row.variables)
        for iteration_attempt in range(1, max_attempts + 1):
            retry_possible = iteration_attempt < max_attempts
            buffer: list[StepResult] | None = [] if retry_possible else None
            # Setup's values seed the run-time layer; each attempt starts from them again.
            runtime: dict[str, Any] = self._carried if self.options.carry_over else dict(seeded)
            try:
                # Cookies and what was derived from secrets are the iteration's own (setup's derivations seed them).
                state = IterationState(self._setup_taint if self.options.carry_over else Taint(self._setup_taint))
                status = await self._run_sequence(
                    self.steps, row.index, iteration_attempt, runtime, state, layers, buffer
                )
            except asyncio.CancelledError:
                for result in buffer or ():  # what this attempt did is kept, and it is the last attempt
                    await self._emit(result)
                raise
            if buffer is not None:
                will_retry = status in FAILING and not self.cancel.is_set()
                for result in buffer:
                    if will_retry:
                        result.is_final = False
                    await self._emit(result)
                if will_retry:
                    await self._backoff(self.options.retry, iteration_attempt)
                    continue
            break
        passed = status in NOT_FAILING
        self.iterations.add(ResultStatus.PASSED if passed else status, flaky=passed and iteration_attempt > 1)
        if not passed:
            self.not_passed.append(row.index)

    async def _run_sequence(
        self,
        steps: list[CompiledStep],
        iteration: int,
        iteration_attempt: int,
        runtime: dict[str, Any],
        state: IterationState,
        layers: list[Any],
        buffer: list[StepResult] | None,
        stop: bool | None = None,
    ) -> ResultStatus:
        CURRENT_TAINT.set(state.taint)  # this task's results mask what this iteration derived from secrets
        stop_on_failure = self.options.stop_on_failure if stop is None else stop
        statuses: list[ResultStatus] = []
        broken = False
        for index, step in enumerate(steps):
            if not step.spec.enabled:
                continue
            if broken and stop_on_failure:
                await self._record_skip(step, iteration, iteration_attempt, "an earlier step failed", buffer)
                statuses.append(ResultStatus.SKIPPED)
                continue
            try:
                if step.fan_out is not None:
                    status = await self._run_fan_out(step, iteration, iteration_attempt, runtime, state, layers, buffer)
                else:
                    scope = ChainMap(runtime, step.spec.variables, *layers)
                    status = await self._run_step(
                        step, iteration, iteration_attempt, scope, runtime, state, None, buffer
                    )
            except asyncio.CancelledError:  # cancelled or timed out: the steps after this one never start
                await self._record_not_started(steps[index + 1 :], iteration, iteration_attempt, buffer)
                raise
            statuses.append(status)
            if status in FAILING:
                broken = True
        return worst(statuses)

    async def _run_fan_out(
        self,
        step: CompiledStep,
        iteration: int,
        iteration_attempt: int,
        runtime: dict[str, Any],
        state: IterationState,
        layers: list[Any],
        buffer: list[StepResult] | None,
    ) -> ResultStatus:
        """Each dataset row in its own copy of the iteration scope; what the rows extract does not flow on."""
        rows = step.fan_out or []
        if not rows:
            await self._record_skip(step, iteration, iteration_attempt, "no enabled datasets to fan out over", buffer)
            return ResultStatus.SKIPPED

        async def one(dataset: DatasetSpec) -> ResultStatus:
            started = False
            try:
                async with self._fan_out_slots:
                    started = True
                    own_runtime, own_state = dict(runtime), state.copy()
                    CURRENT_TAINT.set(own_state.taint)  # this row's task only
                    scope = ChainMap(own_runtime, dataset.variables, step.spec.variables, *layers)
                    return await self._run_step(
                        step, iteration, iteration_attempt, scope, own_runtime, own_state, dataset, buffer
                    )
            except asyncio.CancelledError:
                if not started:  # still waiting for a slot: recorded as never started
                    why = f"not started: {self._stop_reason}"
                    await self._record_skip(step, iteration, iteration_attempt, why, buffer, dataset)
                raise

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(d)) for d in rows]
        except BaseExceptionGroup as failure:
            raise failure.exceptions[0] from None
        return worst([task.result() for task in tasks])  # a row that saw the cancel signal re-raises it here

    # ---- one step ------------------------------------------------------------------------------
    async def _run_step(
        self,
        step: CompiledStep,
        iteration: int,
        iteration_attempt: int,
        scope: MutableMapping[str, Any],
        runtime: dict[str, Any],
        state: IterationState,
        dataset: DatasetSpec | None,
        buffer: list[StepResult] | None,
    ) -> ResultStatus:
        if self.cancel.is_set():
            why = f"not started: {self._stop_reason}"
            await self._record_skip(step, iteration, iteration_attempt, why, buffer, dataset)
            raise asyncio.CancelledError
        if step.skip_if is not None:
            try:
                skip, _ = self._evaluate(step.skip_if, None, scope, state, None)
            except Exception as exc:
                await self._emit_simple(
                    step,
                    iteration,
                    iteration_attempt,
                    dataset,
                    ResultStatus.ERROR,
                    f"{step.name}: skip_if could not be evaluated: {describe(exc)}",
                    buffer,
                )
                return ResultStatus.ERROR
            if skip:
                await self._record_skip(
                    step, iteration, iteration_attempt, f"skip_if held: {step.spec.skip_if}", buffer, dataset
                )
                return ResultStatus.SKIPPED
        retry = step.retry
        max_attempts = retry.max_attempts
        had_failure = False
        for attempt in range(1, max_attempts + 1):
            started_at = self.clock.wall()
            started = self.clock.now()
            outcome = Attempt()
            try:
                if attempt > 1:
                    await self._backoff(retry, attempt - 1)
                    started_at, started = self.clock.wall(), self.clock.now()
                await self._attempt(step, scope, runtime, state, outcome)
            except asyncio.CancelledError:
                # Abandoned in flight (or while waiting to retry): this attempt, with the request it was
                # sending, is the step's last word.
                outcome.status, outcome.error, outcome.response = ResultStatus.ERROR, self._stop_reason, None
                elapsed_ms = (self.clock.now() - started) * 1000
                await self._emit(
                    self._result(
                        step, iteration, iteration_attempt, attempt, dataset, scope, outcome, started_at, elapsed_ms
                    ),
                    buffer,
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
                (self.clock.now() - started) * 1000,
            )
            result.is_final = not retryable
            result.flaky = outcome.status == ResultStatus.PASSED and had_failure
            await self._emit(result, buffer)
            if not retryable:
                return outcome.status
            had_failure = True
        return ResultStatus.ERROR  # unreachable: the last attempt always returns

    @staticmethod
    def _should_retry(outcome: Attempt, retry: RetrySpec) -> bool:
        if outcome.network_error:
            return retry.on_network_error
        if outcome.response is not None and outcome.response.status in retry.on_status:
            return True
        return outcome.status == ResultStatus.FAILED and retry.on_assertion_failure

    async def _backoff(self, retry: RetrySpec, attempt: int) -> None:
        delay = min(retry.backoff_ms * retry.backoff_factor ** (attempt - 1), retry.max_backoff_ms)
        if delay > 0:
            await self._sleep(delay / 1000)

    async def _sleep(self, seconds: float) -> None:
        """The engine's own waits (backoff, poll interval, wait processor), on the clock; none outlasts the run."""
        remaining = self._deadline - self.clock.now()
        if seconds < remaining:
            await self.clock.sleep(seconds)
            return
        await self.clock.sleep(max(remaining, 0.0))
        self._expired.set()
        await asyncio.Future()  # run() times the run out: it cancels the work, and this wait with it

    async def _attempt(
        self,
        step: CompiledStep,
        scope: MutableMapping[str, Any],
        runtime: dict[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> Attempt:
        """Render, send (and poll), extract, check: everything one attempt does, recorded in `outcome`."""
        try:
            for processor in step.pre:
                await self._process(processor, None, scope, runtime, state, outcome)
            prepared = outcome.prepared = step.request.render(scope, self.base_url)
            if self.masker.active:
                state.taint.learn_basic_credentials(prepared.headers, self.masker)
                self._check_secret_origin(step, scope, prepared)
        except (UnknownVariable, RequestBuildError, SecretDerivationError) as exc:
            outcome.status, outcome.error = ResultStatus.ERROR, f"{step.name}: {exc}"
            return outcome
        except Exception as exc:
            outcome.status, outcome.error = ResultStatus.ERROR, f"{step.name}: pre-processor failed: {describe(exc)}"
            return outcome
        response = await self._send(step, prepared, scope, state, outcome)
        if response is None:
            return outcome
        outcome.response = response
        try:
            for extractor in step.extractors:
                self._extract(extractor, response, runtime, state, outcome)
            for assertion in step.assertions:
                outcome.assertions.append(self._check(assertion, response, scope, state, outcome))
        except (SecretDerivationError, ExpressionLimitError, RegexError) as exc:
            # Not a failed check: the check could not run (a size or time limit, a pattern RE2 refuses).
            outcome.status, outcome.error = ResultStatus.ERROR, f"{step.name}: {exc}"
            return outcome
        except Exception as exc:  # whatever one step's checks meet, it ends that step, never the run
            outcome.status, outcome.error = ResultStatus.ERROR, f"{step.name}: checks could not run: {describe(exc)}"
            return outcome
        try:
            for processor in step.post:
                await self._process(processor, response, scope, runtime, state, outcome)
        except SecretDerivationError as exc:
            outcome.status, outcome.error = ResultStatus.ERROR, f"{step.name}: {exc}"
            return outcome
        except Exception as exc:
            outcome.status, outcome.error = ResultStatus.ERROR, f"{step.name}: post-processor failed: {describe(exc)}"
            return outcome
        if outcome.status == ResultStatus.PASSED and any(not check["passed"] for check in outcome.assertions):
            outcome.status = ResultStatus.FAILED
        return outcome

    def _check_secret_origin(
        self, step: CompiledStep, scope: MutableMapping[str, Any], prepared: PreparedRequest
    ) -> None:
        """A request that carries a secret goes where the case, environment and scenario say, not the run variables.

        Run variables are given by whoever starts the run; they may change what is sent but not, for a request
        carrying a secret, its scheme, host and port (RunOptions.run_variables_may_redirect_secrets opts out).
        """
        run_variables = self.flow.run_variables
        if not run_variables or self.options.run_variables_may_redirect_secrets:
            return
        mask = self.masker
        carries = (
            mask.finds(prepared.url)
            or any(mask.finds(value) for _, value in prepared.headers)
            or (prepared.body_text is not None and mask.finds(prepared.body_text))
        )
        if not carries:
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

    def _response_secret(self, response: Response, outcome: Attempt) -> bool:
        """Whether the response shows a secret (computed once per response, only when a check needs it)."""
        if outcome.response_secret is None or outcome.response_secret[0] is not response:
            outcome.response_secret = (response, holds_secret(response, self.masker))
        return outcome.response_secret[1]

    def _evaluate(
        self,
        expression: CompiledExpression,
        response: Response | None,
        scope: Mapping[str, Any],
        state: IterationState,
        outcome: Attempt | None,
    ) -> tuple[Any, str | None]:
        """Evaluate, and say which secret data the value derives from: a variable's name, "the response", or None.

        An evaluation that read secret data and failed raises SecretInError (its message could spell the secret).
        """
        if not self.masker.active:
            return expression.evaluate(expression_names(response, scope)), None
        tracked = TrackedScope(scope, self.masker, state.taint)
        reads_secret_response = (
            response is not None
            and outcome is not None
            and expression.reads_response
            and self._response_secret(response, outcome)
        )
        try:
            value = expression.evaluate(expression_names(response, tracked))
        except Exception as exc:
            if tracked.secret_read is not None or reads_secret_response:
                raise SecretInError(exc) from None
            raise
        if tracked.secret_read is not None:
            return value, tracked.secret_read
        if reads_secret_response:
            assert response is not None
            try:
                without_secrets = expression.evaluate(expression_names(masked_response(response, self.masker), tracked))
            except Exception:
                return value, "the response"
            if without_secrets != value:
                return value, "the response"
        return value, None

    def _extract(
        self,
        extractor: CompiledExtractor,
        response: Response,
        runtime: dict[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> None:
        """Extract into the run-time values; a value that took (part of) a secret from the response is secret."""
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
            return
        recorded = value
        if self.masker.active and self._response_secret(response, outcome):
            try:
                without_secrets = extractor.read(masked_response(response, self.masker))
            except Exception:
                without_secrets = None
            if without_secrets != value:
                state.taint.derive(extractor.name, value, f"extractor '{extractor.name}'")
                recorded = MASK
        runtime[extractor.name] = value
        outcome.extracted[extractor.name] = recorded

    def _check(
        self,
        assertion: CompiledAssertion,
        response: Response,
        scope: Mapping[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> dict[str, Any]:
        """An assertion's result; an expression's actual value that derives from a secret is masked whole."""
        if assertion.source != "expression" or not self.masker.active:
            return assertion.evaluate(response, scope)
        tracked = TrackedScope(scope, self.masker, state.taint)
        result = assertion.evaluate(response, tracked)
        derived = tracked.secret_read is not None
        if not derived and assertion.reads_response and self._response_secret(response, outcome):
            derived = assertion.evaluate(masked_response(response, self.masker), tracked) != result
        if derived:
            if not isinstance(result["actual"], bool):
                result["actual"] = MASK if result["actual"] is not None else None
            if str(result["message"]).startswith("could not evaluate"):
                result["message"] = "could not evaluate (details hidden: the expression read secret data)"
        return result

    async def _send(
        self,
        step: CompiledStep,
        prepared: PreparedRequest,
        scope: Mapping[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> Response | None:
        """Send (following redirects unless the case says not to) once, or until poll.until holds."""
        until, poll = step.poll_until, step.poll
        attempts = poll.max_attempts if poll else 1
        deadline = self.clock.now() + poll.timeout_ms / 1000 if poll else None
        response: Response | None = None
        for poll_attempt in range(1, attempts + 1):
            if self.cancel.is_set():
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
                    self.clock,
                )
            except TransportError as exc:
                outcome.status, outcome.error, outcome.network_error = ResultStatus.ERROR, str(exc), True
                return None
            except RedirectRefused as exc:
                outcome.status, outcome.error = ResultStatus.ERROR, f"{step.name}: {exc}"
                return None
            if until is None:
                return response
            try:
                if self._evaluate(until, response, scope, state, outcome)[0]:
                    return response
            except Exception as exc:
                outcome.status, outcome.error = (
                    ResultStatus.ERROR,
                    f"{step.name}: poll.until could not be evaluated: {describe(exc)}",
                )
                return response
            if poll_attempt == attempts or (deadline is not None and self.clock.now() >= deadline):
                break
            assert poll is not None
            await self._sleep(poll.interval_ms / 1000)
        outcome.assertions.append(
            {
                "source": "poll",
                "expression": poll.until if poll else None,
                "op": None,
                "expected": True,
                "actual": False,
                "passed": False,
                "message": f"poll.until never held ({poll_attempt} attempts)",
            }
        )
        return response

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
        if self._limiter is not None:
            await self._limiter.acquire(urlsplit(url).netloc)

    async def _process(
        self,
        processor: CompiledProcessor,
        response: Response | None,
        scope: MutableMapping[str, Any],
        runtime: dict[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> None:
        if processor.kind == "wait":
            await self._sleep(processor.ms / 1000)
        elif processor.kind == "set":
            derived_from: str | None = None
            if processor.expression is not None:
                value, derived_from = self._evaluate(processor.expression, response, scope, state, outcome)
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
            self._extract(processor.extractor, response, runtime, state, outcome)
        elif processor.kind == "assert_expression":
            assert processor.expression is not None
            holds, _ = self._evaluate(processor.expression, response, scope, state, outcome)
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
        snapshots = self.snapshots
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
            request=snapshots.request(outcome.prepared) if outcome.prepared is not None else None,
            dataset=snapshots.dataset(dataset, scope),
            response=snapshots.response(outcome.response) if outcome.response is not None else None,
            # JSON-safe, masked and bounded here, so no value a step produced can fail the run at the sink.
            error=snapshots.text(outcome.error) if outcome.error else None,
            assertions=snapshots.checks(outcome.assertions),
            extracted=snapshots.values(outcome.extracted),
            name=step.name,
        )

    async def _record_skip(
        self,
        step: CompiledStep,
        iteration: int,
        iteration_attempt: int,
        why: str,
        buffer: list[StepResult] | None,
        dataset: DatasetSpec | None = None,
    ) -> None:
        await self._emit_simple(step, iteration, iteration_attempt, dataset, ResultStatus.SKIPPED, why, buffer)

    async def _record_not_started(
        self, steps: list[CompiledStep], iteration: int, iteration_attempt: int, buffer: list[StepResult] | None
    ) -> None:
        why = f"not started: {self._stop_reason}"
        for step in steps:
            if step.spec.enabled:
                await self._record_skip(step, iteration, iteration_attempt, why, buffer)

    async def _emit_simple(
        self,
        step: CompiledStep,
        iteration: int,
        iteration_attempt: int,
        dataset: DatasetSpec | None,
        status: ResultStatus,
        why: str,
        buffer: list[StepResult] | None,
    ) -> None:
        """A result with no request: skipped, or an error before anything could be sent."""
        result = StepResult(
            step_key=step.key,
            case_id=step.spec.case.id,
            step_id=step.spec.step_id,
            dataset_id=dataset.id if dataset else None,
            iteration=iteration,
            attempt=1,
            iteration_attempt=iteration_attempt,
            is_final=True,
            flaky=False,
            status=status,
            started_at=self.clock.wall(),
            duration_ms=0.0,
            error=self.snapshots.text(why),
            name=step.name,
        )
        await self._emit(result, buffer)

    async def _emit(self, result: StepResult, buffer: list[StepResult] | None = None) -> None:
        if buffer is not None:
            buffer.append(result)
            return
        if result.is_final:
            self.requests.add(result.status, result.flaky)
            if result.status in FAILING:
                self._first_failure.setdefault(result.step_key.split(":", 1)[0], result)
        await self.sink.put(result)


async def run_flow(
    flow: FlowSpec,
    options: RunOptions,
    transport: Transport,
    sink: ResultSink,
    cancel: asyncio.Event | None = None,
    clock: Clock | None = None,
) -> FlowOutcome:
    """Run a flow to the end (or until cancelled or timed out) and return its counts.

    Args:
        flow: steps, setup, teardown, environment, variables and the data rows (read lazily).
        options: concurrency, stop_on_failure, run timeout, iteration retry, rate limit, body limit.
        transport: where requests go (one pooled client for the whole run).
        sink: receives every StepResult as it is produced; the caller persists them in batches.
        cancel: set it to stop at once; requests in flight are recorded as error "cancelled" (on the run
            timeout, as error "run timed out after N ms"), and nothing of the run is left running on return.
        clock: what backoff, poll and wait sleeps, the poll and run deadlines, durations and timestamps read
            (default: the real clock; tests hand a fake one).

    Returns:
        The outcome: status (passed, failed, error: run timeout or unreadable data rows, cancelled), iteration
        and request counts, and the iterations that did not pass (in row order).

    Raises:
        Whatever the sink raises, once every task of the run has stopped.
    """
    return await FlowRunner(flow, options, transport, sink, cancel, clock).run()
