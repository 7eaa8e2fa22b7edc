"""Runs a flow: setup once, iterations concurrently (steps in order inside each), teardown once.

Everything is compiled once per run (templates, JSONPath, regexes, schemas, expressions); the hot path
renders, sends, checks and hands a plain StepResult to the caller's sink. The parts, each in its module:
- app.engine.iterations: data rows to workers, an iteration's steps in order (retried whole), fan-out rows;
- app.engine.step: one step with its retries, each attempt rendered, sent (and polled) and checked;
- app.engine.evaluation: expressions, extractors and assertions, minding secrets;
- app.engine.recorder: StepResults built, counted and handed to the sink;
- app.engine.control: the clock, the cancel signal and the run's deadline every wait reads.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.engine.attempt import IterationContext
from app.engine.clock import SYSTEM_CLOCK, Clock
from app.engine.compiled import CompiledStep
from app.engine.control import RunControl
from app.engine.evaluation import Evaluator
from app.engine.exchange import IterationState
from app.engine.iterations import Iterations, RowSourceError
from app.engine.masking import MIN_SECRET_LENGTH, Masker
from app.engine.ratelimit import RateLimiter, local_limiter
from app.engine.recorder import Recorder
from app.engine.results import Counts, FlowOutcome, ResultSink, describe_iterations
from app.engine.snapshots import Snapshots
from app.engine.specs import FlowSpec, RunOptions, SetupState
from app.engine.statuses import NOT_FAILING, ResultStatus, RunStatus
from app.engine.step import StepRunner
from app.engine.taint import Taint
from app.engine.transport import Transport

__all__ = ["FlowRunner", "RowSourceError", "run_flow"]


class FlowRunner:
    """One run of a flow: `.run()` once; `.iterations` counts as it goes, `.setup_state` is what setup left."""

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
        self.options = options
        self.control = RunControl(clock or SYSTEM_CLOCK, cancel or asyncio.Event())
        self.clock = self.control.clock
        self.cancel = self.control.cancel
        self.masker = Masker(flow.environment.secrets.values())
        self.recorder = Recorder(sink, Snapshots(self.masker, options.body_limit, options.value_limit), self.clock)
        self.steps = [CompiledStep(f"step:{i}", s) for i, s in enumerate(flow.steps)]
        self.setup = [CompiledStep(f"setup:{i}", s) for i, s in enumerate(flow.setup)]
        self.teardown = [CompiledStep(f"teardown:{i}", s) for i, s in enumerate(flow.teardown)]
        # Per-host rate limit: the caller's (shared by processes running chunks of one run), else in-process.
        step_runner = StepRunner(
            flow,
            options,
            transport,
            self.control,
            self.recorder,
            Evaluator(self.masker),
            limiter or local_limiter(options.rate_limit),
        )
        self.iterations = Counts()  # read live by the caller (the executor's heartbeat)
        self.requests = self.recorder.requests
        self._iterations = Iterations(flow, options, self.control, self.recorder, step_runner, self.iterations)
        # What setup derived from secrets: every iteration starts from it.
        self._setup_taint = Taint.seeded(flow.seed.secret_names, flow.seed.secret_texts) if flow.seed else Taint()
        # What setup left when it passed (holds secrets in clear: kept off the outcome, which gets recorded).
        self.setup_state: SetupState | None = None
        self._teardown_started = False

    # ---- the whole run -------------------------------------------------------------------------
    async def run(self) -> FlowOutcome:
        control, clock = self.control, self.clock
        started = clock.wall()
        too_short = self._too_short_secrets()
        if too_short is not None:  # nothing is sent: such a secret would show in every record unmasked
            return self._outcome(started, RunStatus.ERROR, too_short)
        timed_out = False
        control.deadline = clock.now() + self.options.timeout_ms / 1000
        work = asyncio.ensure_future(self._run_all())
        watcher = asyncio.ensure_future(self.cancel.wait())
        expired = asyncio.ensure_future(control.expired.wait())
        try:
            # The real timer stops requests in flight; `expired` is the engine's own waits reaching the deadline.
            done, _ = await asyncio.wait(
                {work, watcher, expired}, timeout=self.options.timeout_ms / 1000, return_when=asyncio.FIRST_COMPLETED
            )
            timed_out = not done or (expired in done and work not in done)
            if work not in done:
                if timed_out:
                    control.stop_reason = f"run timed out after {self.options.timeout_ms} ms"
                work.cancel()
            # Wait for the work to unwind, so nothing of this run is still sending when we return.
            await asyncio.gather(work, return_exceptions=True)
            if work.cancelled() and not self._teardown_started:
                # Steps never started are recorded (skipped, with the reason), so the records add up.
                await self.recorder.not_started(self.teardown, -1, 1, None, control.stop_reason)
        finally:
            watcher.cancel()
            expired.cancel()
            if not work.done():  # we were cancelled ourselves: take the run down with us
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        status: RunStatus
        error: str | None
        if timed_out:
            status, error = RunStatus.ERROR, control.stop_reason
        elif self.cancel.is_set() or work.cancelled():
            # Also when a step saw the signal first and the work ended by itself.
            status, error = RunStatus.CANCELLED, "cancelled"
        else:
            status, error = work.result()  # an unexpected exception propagates to the caller
        return self._outcome(started, status, error)

    def _outcome(self, started: Any, status: RunStatus, error: str | None) -> FlowOutcome:
        return FlowOutcome(
            status=status,
            iterations=self.iterations,
            requests=self.requests,
            started_at=started,
            finished_at=self.clock.wall(),
            error=self.masker.text(error) if error else None,  # its parts are masked already; this is the net
            not_passed_iterations=sorted(self._iterations.not_passed),
            first_failure=self._describe_failure("step") if "step" in self.recorder.first_failure else None,
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
            setup = self._once(base, IterationState(self._setup_taint))
            setup_status = await self._iterations.run_sequence(self.setup, setup, self.options.stop_on_failure)
        if setup_status in NOT_FAILING:
            self.setup_state = SetupState(dict(base), sorted(self._setup_taint.names), sorted(self._setup_taint.values))
            if self.options.setup_only:
                return RunStatus.PASSED, None
            try:
                await self._iterations.run_rows(self.steps, base, self._setup_taint)
            except RowSourceError as exc:
                error = str(exc)  # teardown still runs: clean up what the iterations made
        teardown_status = ResultStatus.PASSED
        self._teardown_started = True
        if self.teardown:
            teardown = self._once(dict(base), IterationState(Taint(self._setup_taint)))
            teardown_status = await self._iterations.run_sequence(self.teardown, teardown, stop_on_failure=False)
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

    def _once(self, runtime: dict[str, Any], state: IterationState) -> IterationContext:
        """Setup or teardown: iteration -1, run once, recorded straight away, with no data row."""
        return IterationContext(-1, 1, None, runtime, state, self._iterations.layers({}))

    def _describe_failure(self, part: str) -> str:
        """The first final failure of a part, as: step 'login' failed: <why> (already masked)."""
        result = self.recorder.first_failure.get(part)
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
        return describe_iterations(self.iterations, self._describe_failure("step"))


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
