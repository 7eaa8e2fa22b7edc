"""Iterations: workers take data rows from one shared source; each row runs the steps in order (retried whole
when the run says so); a fan-out step runs each of its dataset rows in a copy of the iteration's scope.
"""

from __future__ import annotations

import asyncio
from collections import ChainMap
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

from app.engine.attempt import IterationContext
from app.engine.compiled import CompiledStep
from app.engine.control import RunControl
from app.engine.exchange import NEXT_IN_ORDER, IterationState
from app.engine.masking import CURRENT_TAINT
from app.engine.recorder import Recorder
from app.engine.results import Counts, StepResult
from app.engine.specs import DataRow, DatasetSpec, FlowSpec, RunOptions
from app.engine.statuses import FAILING, NOT_FAILING, ResultStatus
from app.engine.step import StepRunner
from app.engine.taint import Taint


class RowSourceError(Exception):
    """The data rows could not be read to the end (the run stops with an error once started rows finish)."""


MAX_JUMPS = 1000  # postman.setNextRequest per iteration: more is a loop that would never end on its own
SEVERITY = {ResultStatus.PASSED: 0, ResultStatus.SKIPPED: 0, ResultStatus.FAILED: 1, ResultStatus.ERROR: 2}


def worst(statuses: list[ResultStatus]) -> ResultStatus:
    return max(statuses, key=lambda s: SEVERITY[s], default=ResultStatus.PASSED)


class RowFeed:
    """The run's data rows, handed one at a time to whichever worker is free (read lazily, never queued).

    A source that breaks (a database read...) ends the feed: the rows already taken finish, `error` says why.
    """

    __slots__ = ("_async_rows", "_done", "_lock", "_rows", "error")

    def __init__(self, rows: Iterable[DataRow] | AsyncIterable[DataRow] | None) -> None:
        self._rows: Iterator[DataRow] | None = None
        self._async_rows: AsyncIterator[DataRow] | None = None
        if rows is None:
            self._rows = iter([DataRow(index=0, variables={})])  # no rows: one iteration
        elif hasattr(rows, "__aiter__"):
            self._async_rows = rows.__aiter__()
        else:
            self._rows = iter(rows)
        self._lock = asyncio.Lock()  # an async source serves one worker at a time
        self._done = False
        self.error: BaseException | None = None

    async def next(self) -> DataRow | None:
        """The next row, or None once the rows are over (or their source broke)."""
        if self._done:
            return None
        try:
            if self._rows is not None:
                return next(self._rows)
            assert self._async_rows is not None
            async with self._lock:
                if self._done:
                    return None
                return await self._async_rows.__anext__()
        except (StopIteration, StopAsyncIteration):
            self._done = True
        except Exception as exc:
            self._done, self.error = True, exc
        return None

    async def close(self) -> None:
        """Let an async source release what it holds (a database session) now, not when collected."""
        self._done = True
        closing = getattr(self._async_rows, "aclose", None)
        if closing is not None:
            await closing()


class Iterations:
    """Runs the iterations of a flow (and, as sequences, its setup and teardown)."""

    def __init__(
        self,
        flow: FlowSpec,
        options: RunOptions,
        control: RunControl,
        recorder: Recorder,
        steps: StepRunner,
        counts: Counts,
    ) -> None:
        self.flow = flow
        self.options = options
        self.control = control
        self.recorder = recorder
        self.step_runner = steps
        self.counts = counts  # read live by the caller (a heartbeat's progress)
        self.not_passed: list[int] = []
        self._fan_out_slots = asyncio.Semaphore(max(1, options.concurrency))
        self._carried: dict[str, Any] = {}
        environment = flow.environment
        self._env_layer = {"base_url": environment.base_url, **environment.variables, **environment.secrets}

    def layers(self, row: Mapping[str, Any]) -> list[Any]:
        """Scope layers below the step's, highest first (DESIGN 4 order, reversed for ChainMap).

        Run-time values (setup's extracted values seed them) sit above all of these, in the iteration's own dict.
        """
        return [row, self.flow.run_variables, self.flow.scenario_variables, self._env_layer]

    async def run_rows(self, steps: list[CompiledStep], seeded: dict[str, Any], setup_taint: Taint) -> None:
        """Every data row through the steps, `concurrency` at a time; RowSourceError if the rows broke off."""
        workers = 1 if self.options.carry_over else max(1, self.options.concurrency)
        if self.options.carry_over:
            self._carried = dict(seeded)
        feed = RowFeed(self.flow.rows)

        async def work() -> None:
            while (row := await feed.next()) is not None:
                await self._run_iteration(steps, row, seeded, setup_taint)

        # A task group, so a failure or a cancellation never leaves an orphan task sending requests.
        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(work())
        except BaseExceptionGroup as failure:
            raise failure.exceptions[0] from None
        finally:
            await feed.close()
        if feed.error is not None:
            exc = feed.error
            raise RowSourceError(f"data rows could not be read: {type(exc).__name__}: {exc}") from exc

    async def _run_iteration(
        self, steps: list[CompiledStep], row: DataRow, seeded: dict[str, Any], setup_taint: Taint
    ) -> None:
        max_attempts = self.options.retry.max_attempts
        carry_over = self.options.carry_over
        status = ResultStatus.PASSED
        iteration_attempt = 1
        layers = self.layers(row.variables)
        for iteration_attempt in range(1, max_attempts + 1):
            retry_possible = iteration_attempt < max_attempts
            buffer: list[StepResult] | None = [] if retry_possible else None
            # Setup's values seed the run-time layer; each attempt starts from them again. Cookies and what was
            # derived from secrets are the iteration's own (setup's derivations seed them).
            iteration = IterationContext(
                iteration=row.index,
                iteration_attempt=iteration_attempt,
                buffer=buffer,
                runtime=self._carried if carry_over else dict(seeded),
                state=IterationState(setup_taint if carry_over else Taint(setup_taint)),
                layers=layers,
            )
            try:
                status = await self.run_sequence(steps, iteration, self.options.stop_on_failure)
            except asyncio.CancelledError:
                for result in buffer or ():  # what this attempt did is kept, and it is the last attempt
                    await self.recorder.emit(result)
                raise
            if buffer is not None:
                will_retry = status in FAILING and not self.control.cancelled
                for result in buffer:
                    if will_retry:
                        result.is_final = False
                    await self.recorder.emit(result)
                if will_retry:
                    await self.control.backoff(self.options.retry, iteration_attempt)
                    continue
            break
        passed = status in NOT_FAILING
        self.counts.add(ResultStatus.PASSED if passed else status, flaky=passed and iteration_attempt > 1)
        if not passed:
            self.not_passed.append(row.index)

    async def run_sequence(
        self, steps: list[CompiledStep], iteration: IterationContext, stop_on_failure: bool
    ) -> ResultStatus:
        """The steps in order; after a failure the rest are recorded as skipped when `stop_on_failure`."""
        CURRENT_TAINT.set(iteration.state.taint)  # this task's results mask what this iteration derived from secrets
        statuses: list[ResultStatus] = []
        broken = False
        jumps, index = 0, -1
        while (index := index + 1) < len(steps):
            step = steps[index]
            if not step.spec.enabled:
                continue
            if broken and stop_on_failure:
                await self.recorder.skipped(iteration.at(step), "an earlier step failed")
                statuses.append(ResultStatus.SKIPPED)
                continue
            try:
                if step.fan_out is not None:
                    status = await self._run_fan_out(step, step.fan_out, iteration)
                else:
                    scope = ChainMap(iteration.runtime, step.spec.variables, *iteration.layers)
                    status = await self.step_runner.run(iteration.at(step), scope, iteration.runtime, iteration.state)
            except asyncio.CancelledError:  # cancelled or timed out: the steps after this one never start
                await self.recorder.not_started(
                    steps[index + 1 :],
                    iteration.iteration,
                    iteration.iteration_attempt,
                    iteration.buffer,
                    self.control.stop_reason,
                )
                raise
            statuses.append(status)
            if status in FAILING:
                broken = True
            if iteration.state.next_request is not NEXT_IN_ORDER:
                jumps += 1
                target, why = self._next_step(steps, iteration.state, jumps)
                if why is not None:
                    if jumps > MAX_JUMPS:  # the step it would run again is where the loop is said
                        await self.recorder.without_request(iteration.at(step), ResultStatus.ERROR, why)
                        statuses.append(ResultStatus.ERROR)
                    passed_over = [s for s in steps[index + 1 :] if s.spec.enabled]
                    for skipped in passed_over:
                        await self.recorder.skipped(iteration.at(skipped), why)
                    break
                for between in steps[index + 1 : target]:  # a jump forward: the steps between never ran
                    if between.spec.enabled:
                        reason = f"postman.setNextRequest({steps[target].name!r}) passed over it"
                        await self.recorder.skipped(iteration.at(between), reason)
                index = target - 1
        return worst(statuses)

    @staticmethod
    def _next_step(steps: list[CompiledStep], state: IterationState, jumps: int) -> tuple[int, str | None]:
        """Where postman.setNextRequest sends the iteration: a step's index, or why the iteration ends here."""
        name, state.next_request = state.next_request, NEXT_IN_ORDER
        if name is None:
            return -1, "postman.setNextRequest(null) ended the iteration"
        if jumps > MAX_JUMPS:
            return -1, f"postman.setNextRequest jumped more than {MAX_JUMPS} times in one iteration: stopped as a loop"
        for position, step in enumerate(steps):
            if step.spec.enabled and name in (step.spec.alias, step.spec.case.name):
                return position, None
        return -1, f"postman.setNextRequest({name!r}): no step of this scenario has that name"

    async def _run_fan_out(
        self, step: CompiledStep, datasets: list[DatasetSpec], iteration: IterationContext
    ) -> ResultStatus:
        """Each dataset row in its own copy of the iteration scope; what the rows extract does not flow on."""
        if not datasets:
            await self.recorder.skipped(iteration.at(step), "no enabled datasets to fan out over")
            return ResultStatus.SKIPPED

        async def one(dataset: DatasetSpec) -> ResultStatus:
            at = iteration.at(step, dataset)
            started = False
            try:
                async with self._fan_out_slots:
                    started = True
                    own_runtime, own_state = dict(iteration.runtime), iteration.state.copy()
                    CURRENT_TAINT.set(own_state.taint)  # this row's task only
                    scope = ChainMap(own_runtime, dataset.variables, step.spec.variables, *iteration.layers)
                    return await self.step_runner.run(at, scope, own_runtime, own_state)
            except asyncio.CancelledError:
                if not started:  # still waiting for a slot: recorded as never started
                    await self.recorder.skipped(at, f"not started: {self.control.stop_reason}")
                raise

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(dataset)) for dataset in datasets]
        except BaseExceptionGroup as failure:
            raise failure.exceptions[0] from None
        return worst([task.result() for task in tasks])  # a row that saw the cancel signal re-raises it here
