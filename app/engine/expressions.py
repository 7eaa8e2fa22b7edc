"""The one safe evaluator for skip_if, expression assertions, poll.until and processors.

simpleeval was picked over cel-python (about 40x slower per call here) and over Python's eval (unsafe):
it evaluates a Python-like subset, refuses dunder access and imports, and lets us parse once per run.

Bounded size and time (DESIGN 4): an expression runs on the event loop, so nothing it builds may grow without
bound (`"a" * 10**9`, `10**10**10`, `sorted(text)`, `"%09999999d" % 1`, `text.replace("", text)`) and it stops
after MAX_EXPRESSION_SECONDS; hitting a limit raises ExpressionLimitError, which ends the step in error.
Only read-only methods of strings, mappings, lists and numbers are offered: an expression cannot change `vars`.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Iterable, Mapping
from typing import Any

from simpleeval import DEFAULT_OPERATORS, EvalWithCompoundTypes

# The names an expression may read; anything else is a mistake we can name when the case is saved.
EXPRESSION_NAMES = ("status_code", "body", "headers", "text", "elapsed_ms", "vars")
RESPONSE_NAMES = frozenset({"body", "headers", "text"})
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
    "sorted": sorted,  # replaced by a bounded one below
}
MAX_EXPRESSION_LENGTH = 2000
MAX_EXPRESSION_DEPTH = 100  # nesting of the parsed expression (deeper would exhaust the evaluator's stack)
MAX_EXPRESSION_SECONDS = 0.1
MAX_BUILT_LENGTH = 100_000  # characters of a string, or items of a list, an expression may build
MAX_INT_BITS = 4096  # integers an expression may build (a 10**10**10 would take minutes and gigabytes)

# Read-only methods an expression may call, by the kind of value; anything else is refused when saved.
STR_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "find", "rfind", "index", "rindex",
    "count", "split", "rsplit", "splitlines", "partition", "rpartition", "isdigit", "isalpha", "isalnum",
    "isnumeric", "isdecimal", "isspace", "islower", "isupper", "isascii", "istitle", "title", "capitalize",
    "casefold", "swapcase", "removeprefix", "removesuffix", "replace", "join",
})  # fmt: skip
MAPPING_METHODS = frozenset({"get", "keys", "values", "items"})
SEQUENCE_METHODS = frozenset({"count", "index"})
NUMBER_ATTRIBUTES = frozenset({"bit_length", "is_integer", "real", "imag"})
ALLOWED_ATTRIBUTES = STR_METHODS | MAPPING_METHODS | SEQUENCE_METHODS | NUMBER_ATTRIBUTES


class ExpressionError(ValueError):
    """An expression that cannot be parsed or uses something the evaluator does not offer."""


class ExpressionLimitError(Exception):
    """An expression reached a size or time limit while it ran; the message names the limit."""


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
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"expression is nested too deeply (at most {MAX_EXPRESSION_DEPTH} levels)") from None
    if _depth(tree) > MAX_EXPRESSION_DEPTH:
        raise ExpressionError(f"expression is nested too deeply (at most {MAX_EXPRESSION_DEPTH} levels)")
    allowed = set(EXPRESSION_NAMES) | set(EXPRESSION_FUNCTIONS) | {"True", "False", "None"}
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            bound |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        if isinstance(node, ast.Lambda):
            raise ExpressionError("lambda is not allowed in expressions")
    for node in ast.walk(tree):  # names first: `response.status` is a wrong name before it is a wrong method
        if isinstance(node, ast.Name) and node.id not in allowed and node.id not in bound:
            raise ExpressionError(f"unknown name '{node.id}'; expressions can use {', '.join(EXPRESSION_NAMES)}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"attribute '{node.attr}' is not allowed")
        if isinstance(node, ast.Attribute) and node.attr not in ALLOWED_ATTRIBUTES:
            raise ExpressionError(
                f"method '{node.attr}' is not available in expressions (read-only methods only: "
                f"{', '.join(sorted(ALLOWED_ATTRIBUTES))})"
            )
    return tree


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


# ---- bounded operators and functions --------------------------------------------------------------
def _too_long(what: str) -> ExpressionLimitError:
    return ExpressionLimitError(f"expression would build {what} (the limit is {MAX_BUILT_LENGTH})")


def _too_big() -> ExpressionLimitError:
    return ExpressionLimitError(f"expression would build an integer over {MAX_INT_BITS} bits")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _add(a: Any, b: Any) -> Any:
    if hasattr(a, "__len__") and hasattr(b, "__len__") and len(a) + len(b) > MAX_BUILT_LENGTH:
        raise _too_long(f"a value of {len(a) + len(b)} items")
    return a + b


def _mult(a: Any, b: Any) -> Any:
    for sequence, times in ((a, b), (b, a)):
        if hasattr(sequence, "__len__") and _is_int(times) and len(sequence) * times > MAX_BUILT_LENGTH:
            raise _too_long(f"a value of {len(sequence) * times} items")
    if _is_int(a) and _is_int(b) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise _too_big()
    return a * b


def _pow(a: Any, b: Any) -> Any:
    if _is_int(a) and _is_int(b) and b > 0 and abs(a) > 1 and (abs(a).bit_length() - 1) * b > MAX_INT_BITS:
        raise _too_big()
    return a**b


def _lshift(a: Any, b: Any) -> Any:
    if _is_int(a) and _is_int(b) and a.bit_length() + b > MAX_INT_BITS:
        raise _too_big()
    return a << b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes):  # printf-style padding ("%09999999d") builds any size from a short format
        raise ExpressionError("string formatting with % is not available in expressions; use str() and +")
    return a % b


def _sorted(items: Iterable[Any], *, reverse: bool = False) -> list[Any]:
    if hasattr(items, "__len__") and len(items) > MAX_BUILT_LENGTH:  # type: ignore[arg-type]
        raise _too_long(f"a sorted list of {len(items)} items")  # type: ignore[arg-type]
    return sorted(items, reverse=reverse)


OPERATORS: dict[Any, Any] = {
    **DEFAULT_OPERATORS,
    ast.Add: _add,
    ast.Mult: _mult,
    ast.Pow: _pow,
    ast.LShift: _lshift,
    ast.Mod: _mod,
}
EXPRESSION_FUNCTIONS["sorted"] = _sorted


# ---- bounded methods ------------------------------------------------------------------------------
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


def _bounded_method(owner: Any, name: str, method: Any) -> Any:
    """The string methods whose result can outgrow their input are checked before they run."""
    if not isinstance(owner, str) or name not in ("replace", "join", "split", "rsplit", "splitlines"):
        return method

    def replace(old: str, new: str, count: int = -1) -> str:
        found = owner.count(old) if old else len(owner) + 1
        if count >= 0:
            found = min(found, count)
        if len(owner) + found * (len(new) - len(old)) > MAX_BUILT_LENGTH and len(new) > len(old):
            raise _too_long("a longer string")
        return owner.replace(old, new, count)

    def join(parts: Iterable[Any]) -> str:
        pieces = list(_take(parts))
        total = sum(len(piece) if isinstance(piece, str) else 0 for piece in pieces)
        if total + len(owner) * max(len(pieces) - 1, 0) > MAX_BUILT_LENGTH:
            raise _too_long("a longer string")
        return owner.join(pieces)

    def split(sep: str | None = None, maxsplit: int = -1) -> list[str]:
        bound = MAX_BUILT_LENGTH if maxsplit < 0 else min(maxsplit, MAX_BUILT_LENGTH)
        parts = getattr(owner, name)(sep, bound)
        if len(parts) > MAX_BUILT_LENGTH:
            raise _too_long("a list of more items")
        return parts

    def splitlines(keepends: bool = False) -> list[str]:
        if sum(owner.count(mark) for mark in _LINE_BREAKS) >= MAX_BUILT_LENGTH:
            raise _too_long("a list of more lines")
        return owner.splitlines(keepends)

    return {"replace": replace, "join": join, "split": split, "rsplit": split, "splitlines": splitlines}[name]


def _take(items: Iterable[Any]) -> Iterable[Any]:
    for count, item in enumerate(items):
        if count >= MAX_BUILT_LENGTH:
            raise _too_long("a list of more items")
        yield item


def _allowed(owner: Any, name: str) -> bool:
    if isinstance(owner, str):
        return name in STR_METHODS
    if isinstance(owner, Mapping):
        return name in MAPPING_METHODS
    if isinstance(owner, list | tuple):
        return name in SEQUENCE_METHODS
    if isinstance(owner, int | float):
        return name in NUMBER_ATTRIBUTES
    return False


class _BoundedEval(EvalWithCompoundTypes):
    """simpleeval with a deadline on every node, bounded operators, and read-only methods only."""

    _deadline = 0.0

    def eval(self, expr: str, previously_parsed: Any = None) -> Any:
        self._deadline = time.perf_counter() + MAX_EXPRESSION_SECONDS
        return super().eval(expr, previously_parsed)

    def _eval(self, node: ast.AST) -> Any:
        if time.perf_counter() > self._deadline:
            raise ExpressionLimitError(f"expression ran longer than {MAX_EXPRESSION_SECONDS * 1000:.0f} ms")
        return super()._eval(node)

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        owner = self._eval(node.value)
        if not _allowed(owner, node.attr):
            raise ExpressionError(f"'{node.attr}' is not available on a {type(owner).__name__} value")
        return _bounded_method(owner, node.attr, getattr(owner, node.attr))


def compile_expression(source: str) -> CompiledExpression:
    check_expression(source)
    return CompiledExpression(source)


class CompiledExpression:
    """An expression parsed once; evaluate it many times against different names."""

    __slots__ = ("_evaluator", "_parsed", "reads_response", "source")

    def __init__(self, source: str) -> None:
        self.source = source.strip()
        self._evaluator = _BoundedEval(operators=dict(OPERATORS), functions=dict(EXPRESSION_FUNCTIONS))
        self._parsed = self._evaluator.parse(self.source)
        # Whether it reads what the response says (the secret-derivation check re-reads it with secrets masked).
        self.reads_response = any(
            isinstance(node, ast.Name) and node.id in RESPONSE_NAMES for node in ast.walk(self._parsed)
        )

    def evaluate(self, names: dict[str, Any]) -> Any:
        self._evaluator.names = names
        return self._evaluator.eval(self.source, previously_parsed=self._parsed)
