"""The one safe evaluator for skip_if, expression assertions, poll.until and processors.

simpleeval was picked over cel-python (about 40x slower per call here) and over Python's eval (unsafe):
it evaluates a Python-like subset, refuses dunder access and imports, and lets us parse once per run.
"""

from __future__ import annotations

import ast
from typing import Any

from simpleeval import EvalWithCompoundTypes

# The names an expression may read; anything else is a mistake we can name when the case is saved.
EXPRESSION_NAMES = ("status_code", "body", "headers", "text", "elapsed_ms", "vars")
EXPRESSION_FUNCTIONS: dict[str, Any] = {
    "len": len,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "any": any,
    "all": all,
    "sorted": sorted,
}
MAX_EXPRESSION_LENGTH = 2000


class ExpressionError(ValueError):
    """An expression that cannot be parsed or uses something the evaluator does not offer."""


def check_expression(source: str) -> ast.AST:
    """Parse an expression once and refuse, with a readable reason, what could never evaluate."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError("expression is empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"expression does not parse: {exc.msg} (column {exc.offset})") from None
    allowed = set(EXPRESSION_NAMES) | set(EXPRESSION_FUNCTIONS) | {"True", "False", "None"}
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            bound |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        if isinstance(node, ast.Lambda):
            raise ExpressionError("lambda is not allowed in expressions")
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in allowed and node.id not in bound:
            raise ExpressionError(f"unknown name '{node.id}'; expressions can use {', '.join(EXPRESSION_NAMES)}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"attribute '{node.attr}' is not allowed")
    return tree


def compile_expression(source: str) -> CompiledExpression:
    check_expression(source)
    return CompiledExpression(source)


class CompiledExpression:
    """An expression parsed once; evaluate it many times against different names."""

    __slots__ = ("_evaluator", "_parsed", "source")

    def __init__(self, source: str) -> None:
        self.source = source.strip()
        self._evaluator = EvalWithCompoundTypes(functions=EXPRESSION_FUNCTIONS)
        self._parsed = self._evaluator.parse(self.source)

    def evaluate(self, names: dict[str, Any]) -> Any:
        self._evaluator.names = names
        return self._evaluator.eval(self.source, previously_parsed=self._parsed)
