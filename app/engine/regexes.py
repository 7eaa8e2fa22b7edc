"""User regexes (regex assertions and extractors) compiled by RE2, which matches in time linear in the input.

Python's `re` backtracks: `^(a+)+$` against 28 `a`s and a `!` blocks the event loop for seconds and doubles
with each `a`. RE2 has no such case; in exchange it has no backreferences or lookaround, so patterns that
use them are refused when a case is saved (and fail their check, saying why, if one still reaches a run).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error goes back to the user, not to stderr


class RegexError(ValueError):
    """A pattern RE2 cannot compile; the message names the pattern and why."""


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> Any:
    """The compiled pattern (cached: a templated `expected` renders the same pattern on every request)."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise RegexError(
            f"regex '{pattern[:200]}' does not compile: {reason} (regexes use RE2 syntax, which matches in linear "
            "time: no backreferences or lookaround; https://github.com/google/re2/wiki/Syntax)"
        ) from None
