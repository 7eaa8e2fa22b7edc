"""A file's ProjectContent as the engine's FlowSpec, with no database: what `exile run FILE` runs.

The same translation the server's loader makes from stored rows (app.runs.loader), made from the content a
reader proposes: each case validated into a RequestSpec, the scenario's steps in order (setup and teardown
too), its variables, an environment (the file's, a Postman environment, `--env-var`s) and the data rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.engine.masking import MIN_SECRET_LENGTH
from app.engine.specs import (
    CaseSpec,
    DataRow,
    DatasetSpec,
    EnvironmentSpec,
    FlowSpec,
    RequestSpec,
    StepSpec,
)
from app.interop.content import CaseContent, ProjectContent, ScenarioContent, StepContent
from app.runs.loader import REQUEST_FIELDS

_NAME = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")


class ContentNotRunnable(ValueError):
    """The content holds nothing to run, or a part the engine refuses (named)."""


@dataclass
class RunEnvironment:
    """What the run's environment layer holds: file environment, Postman environment and `--env-var`s merged."""

    base_url: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    verify_tls: bool = True
    proxy: str | None = None
    secret_names: set[str] = field(default_factory=set)

    def set_values(self, values: dict[str, str]) -> None:
        """`--env-var`s: a value for a name the files call secret stays secret (masked in every record)."""
        for name, value in values.items():
            if name in self.secret_names and len(value) >= MIN_SECRET_LENGTH:
                self.secrets[name] = value
                self.variables.pop(name, None)
            else:
                self.secrets.pop(name, None)
                self.variables[name] = value

    def merge(self, content: ProjectContent) -> None:
        """A later environment file's values win over earlier ones, as Newman's `-e` over the collection."""
        for environment in content.environments:
            self.base_url = environment.base_url or self.base_url
            self.variables.update(environment.variables)
            for name, value in environment.secret_variables.items():
                self.secret_names.add(name)
                if value:  # an Exile file names its secrets with empty values: given by -e or --env-var
                    self.secrets[name] = value
            self.verify_tls = self.verify_tls and environment.verify_tls
            self.proxy = environment.proxy or self.proxy

    def spec(self) -> EnvironmentSpec:
        return EnvironmentSpec(
            base_url=self.base_url,
            variables=dict(self.variables),
            secrets=dict(self.secrets),
            verify_tls=self.verify_tls,
            proxy=self.proxy,
        )


def pick_scenario(content: ProjectContent, folder: str | None) -> ScenarioContent:
    """The whole collection (the first scenario), or the one named `folder` (Newman's `--folder`)."""
    if not content.scenarios:
        raise ContentNotRunnable("the file holds no scenario to run (no requests)")
    if folder is None:
        return content.scenarios[0]
    for scenario in content.scenarios[1:] or content.scenarios:
        if scenario.name == folder:
            return scenario
    names = ", ".join(repr(s.name) for s in content.scenarios[1:]) or "none"
    raise ContentNotRunnable(f"--folder {folder!r}: no such folder (folders: {names})")


def _case_spec(case: CaseContent, number: int, timeout_ms: int | None, first_dataset: int) -> CaseSpec:
    fields = case.model_dump(include=set(REQUEST_FIELDS), by_alias=True)
    if timeout_ms is not None:
        fields["timeout_ms"] = timeout_ms
    try:
        request = RequestSpec.model_validate(fields)
    except ValueError as exc:
        raise ContentNotRunnable(f"case '{case.name}': {exc}") from None
    datasets = [
        DatasetSpec(index, dataset.name, dict(dataset.variables), dataset.enabled)
        for index, dataset in enumerate(case.datasets, start=first_dataset)
    ]
    return CaseSpec(id=number, name=case.name, request=request, datasets=datasets)


def build_flow(
    content: ProjectContent,
    scenario: ScenarioContent,
    environment: RunEnvironment,
    rows: Iterable[DataRow] | None,
    timeout_request_ms: int | None = None,
) -> FlowSpec:
    """The scenario as a FlowSpec; cases are numbered in file order (a record's case_id), steps in flow order."""
    numbers = {case.key: number for number, case in enumerate(content.cases, start=1)}
    specs: dict[str, CaseSpec] = {}

    def step(item: StepContent) -> StepSpec:
        if item.case not in numbers:
            raise ContentNotRunnable(
                f"scenario '{scenario.name}': a step refers to case '{item.case}', not in the file"
            )
        if item.case not in specs:
            first_dataset = 1 + sum(len(spec.datasets) for spec in specs.values())  # ids unique in the run
            specs[item.case] = _case_spec(
                content.case(item.case), numbers[item.case], timeout_request_ms, first_dataset
            )
        case = specs[item.case]
        ids = {d.name: d.id for d in reversed(case.datasets) if d.id is not None}  # the first of a name
        missing = [name for name in item.datasets if name not in ids]
        if missing:
            raise ContentNotRunnable(f"scenario '{scenario.name}': case '{item.case}' has no dataset {missing[0]!r}")
        return StepSpec(
            case=case,
            alias=item.alias,
            enabled=item.enabled,
            skip_if=item.skip_if,
            variables=dict(item.variables),
            dataset_mode=item.dataset_mode,
            dataset_ids=[ids[name] for name in item.datasets],
        )

    steps = [step(item) for item in scenario.steps]
    if not steps:
        raise ContentNotRunnable(f"scenario '{scenario.name}' has no steps")
    return FlowSpec(
        steps=steps,
        setup=[step(item) for item in scenario.setup],
        teardown=[step(item) for item in scenario.teardown],
        environment=environment.spec(),
        scenario_variables=dict(scenario.variables),
        rows=rows,
    )


def numbered(rows: Iterable[dict[str, Any]], iterations: int | None) -> Iterator[DataRow]:
    """Newman's iteration count over data rows: the first N rows; past the last row, the last one again."""
    last: dict[str, Any] | None = None
    index = -1
    for index, variables in enumerate(rows):
        if iterations is not None and index >= iterations:
            return
        last = variables
        yield DataRow(index=index, variables=variables)
    if iterations is not None:
        for more in range(index + 1, iterations):
            yield DataRow(index=more, variables=dict(last or {}))


def _names(value: Any) -> set[str]:
    return set(_NAME.findall(orjson.dumps(value, default=str).decode()))


def carried_reads(flow: FlowSpec, initial: set[str]) -> list[str]:
    """Names a request reads that no initial value holds and only its own step or a later one sets.

    At concurrency 1 Newman (and `exile run`) carry them over from the previous iteration; with iterations
    side by side each starts from the initial values, so such a read finds nothing in the first place.
    """
    steps = [*flow.setup, *flow.steps]
    before: list[set[str]] = []  # what a step sets before its request is sent (its `set` pre-processors)
    after: list[set[str]] = []  # what it sets once it has a response (extractors, post-processors)
    for item in steps:
        request = item.case.request
        before.append({p.name for p in request.pre_processors if p.type == "set"})
        after.append(
            {e.name for e in request.extractors}
            | {p.name for p in request.post_processors if p.type in ("set", "extract")}
        )
    carried: list[str] = []
    for index, item in enumerate(steps):
        read = _names(item.case.request.model_dump(include={"url", "headers", "query", "body", "auth"}))
        known = set(initial) | {"base_url"} | set(item.variables) | before[index]
        known |= {name for dataset in item.case.datasets for name in dataset.variables}
        known = known.union(*before[:index], *after[:index])
        later = after[index].union(*before[index + 1 :], *after[index + 1 :])
        carried += sorted(name for name in read - known if name in later and name not in carried)
    return carried
