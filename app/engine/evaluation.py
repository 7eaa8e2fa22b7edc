"""Expressions, extractors and assertions run against a response, minding secrets.

Whatever reads secret data (an environment secret, a value derived from one, a response that shows one) is
tracked: a value derived from it is masked in the records and tainted for the rest of the iteration, and an
evaluation that failed on it does not say why in words that could spell it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.engine.attempt import Attempt
from app.engine.checks import CompiledAssertion, CompiledExtractor, ExtractionError, check_result, expression_names
from app.engine.exchange import IterationState
from app.engine.expressions import CompiledExpression
from app.engine.masking import MASK, Masker
from app.engine.taint import SecretInError, TrackedScope, holds_secret, masked_response
from app.engine.transport import Response


class Evaluator:
    """Runs the compiled checks of a step; `masker` knows the environment's secrets."""

    __slots__ = ("masker",)

    def __init__(self, masker: Masker) -> None:
        self.masker = masker

    def response_secret(self, response: Response, outcome: Attempt) -> bool:
        """Whether the response shows a secret (computed once per response, only when a check needs it)."""
        if outcome.response_secret is None or outcome.response_secret[0] is not response:
            outcome.response_secret = (response, holds_secret(response, self.masker))
        return outcome.response_secret[1]

    def evaluate(
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
            and self.response_secret(response, outcome)
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

    def extract(
        self,
        extractor: CompiledExtractor,
        response: Response,
        runtime: dict[str, Any],
        state: IterationState,
        outcome: Attempt,
    ) -> None:
        """The one extractor path (a case's extractors and `extract` post-processors): into the run-time values.

        Finding nothing is a failed check; a value that took (part of) a secret from the response is secret.
        """
        try:
            value = extractor.extract(response)
        except ExtractionError as exc:
            outcome.assertions.append(
                check_result("extractor", extractor.expression, None, extractor.name, None, False, str(exc))
            )
            return
        recorded = value
        if self.masker.active and self.response_secret(response, outcome):
            try:
                without_secrets = extractor.read(masked_response(response, self.masker))
            except Exception:
                without_secrets = None
            if without_secrets != value:
                state.taint.derive(extractor.name, value, f"extractor '{extractor.name}'")
                recorded = MASK
        runtime[extractor.name] = value
        outcome.extracted[extractor.name] = recorded

    def check(
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
        if not derived and assertion.reads_response and self.response_secret(response, outcome):
            derived = assertion.evaluate(masked_response(response, self.masker), tracked) != result
        if derived:
            if not isinstance(result["actual"], bool):
                result["actual"] = MASK if result["actual"] is not None else None
            if str(result["message"]).startswith("could not evaluate"):
                result["message"] = "could not evaluate (details hidden: the expression read secret data)"
        return result
