"""Iteration data files as Newman reads them (`-d DATA.csv|DATA.json`): each row is one iteration.

CSV: the first line is the header, every later line one row. An unquoted cell that reads as a number becomes that
number, as Newman's csvAutoParse makes it (`3` -> 3, `1.5` -> 1.5, `007` -> 7); a quoted one stays text. JSON: an
array of objects.
Both are read lazily, a row at a time, so a 100,000-row file never sits in memory; `count_rows` reads the
whole file once before a run, so a broken line is reported (exit 2) before anything is sent.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_CHUNK = 64 * 1024


class DataFileError(ValueError):
    """The data file cannot be used; the message names the file and the line."""


def rows(path: Path) -> Iterator[dict[str, Any]]:
    """The file's rows in order; DataFileError names the first bad line."""
    if path.suffix.lower() == ".json":
        return _json_rows(path)
    return _csv_rows(path)


def count_rows(path: Path) -> int:
    """Reads the file to the end once (checking every row) and says how many rows it holds."""
    return sum(1 for _ in rows(path))


def _open_text(path: Path) -> Any:
    try:
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise DataFileError(f"data file {path}: cannot be read ({exc.strerror or exc})") from None


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    with _open_text(path) as f:
        lines = _Lines(f)
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
            if header is None or not any(name.strip() for name in header):
                raise DataFileError(f"data file {path}: line 1: the header row (column names) is missing")
            lines.take()
            names = [name.strip() for name in header]
            for position, name in enumerate(names, start=1):
                if not name:
                    raise DataFileError(f"data file {path}: line 1: column {position} has no name")
                if names.index(name) != position - 1:
                    raise DataFileError(f"data file {path}: line 1: column '{name}' appears twice")
            for values in reader:
                if not values:
                    continue  # a blank line, as Newman skips it
                if len(values) != len(names):
                    raise DataFileError(
                        f"data file {path}: line {reader.line_num}: {len(values)} values, "
                        f"the header has {len(names)} columns"
                    )
                quoted = _quoted_fields(lines.take())
                yield {
                    name: value if index in quoted else newman_cast(value)
                    for index, (name, value) in enumerate(zip(names, values, strict=True))
                }
        except csv.Error as exc:
            raise DataFileError(f"data file {path}: line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise DataFileError(f"data file {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


class _Lines:
    """The file's lines as csv.reader takes them, kept until `take` so a row's raw text can be looked at."""

    def __init__(self, f: Any) -> None:
        self._f = f
        self._taken: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line: str = next(self._f)
        self._taken.append(line)
        return line

    def take(self) -> str:
        text, self._taken = "".join(self._taken), []
        return text


def _quoted_fields(raw: str) -> set[int]:
    """The positions of the row's fields that were written in quotes (Newman leaves those as text)."""
    quoted: set[int] = set()
    index, at_start, inside, i = 0, True, False, 0
    while i < len(raw):
        char = raw[i]
        if inside:
            if char == '"':
                if raw[i + 1 : i + 2] == '"':
                    i += 1
                else:
                    inside = False
        elif char == '"' and at_start:
            inside = True
            quoted.add(index)
        elif char == ",":
            index, at_start = index + 1, True
            i += 1
            continue
        elif char not in " \t":
            at_start = False
        i += 1
    return quoted


_INT = re.compile(r"^[-+]?[1-9][0-9]*$")
_FLOAT_PREFIX = re.compile(r"^[-+]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_JS_NUMBER = re.compile(r"^[-+]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$")


def newman_cast(value: str) -> Any:
    """A CSV cell as Newman's csvAutoParse gives it: parseInt for `^[-+]?[1-9][0-9]*$`, parseFloat when
    `value - parseFloat(value) + 1 >= 0` holds in JavaScript, else the text."""
    text = value.strip()
    if _INT.match(text):
        return int(text)
    prefix = _FLOAT_PREFIX.match(text)
    if prefix is None:
        return value
    whole = _js_number(text)
    parsed = float(prefix.group(0).replace("Infinity", "inf"))
    if whole is None or not (whole - parsed + 1 >= 0):  # NaN compares false, as in JavaScript
        return value
    if parsed != parsed or parsed in (float("inf"), float("-inf")):
        return value
    return int(parsed) if parsed.is_integer() and abs(parsed) < 2**53 else parsed


def _js_number(text: str) -> float | None:
    """JavaScript's Number(text): None where it is NaN."""
    if not text:
        return 0.0
    if _JS_NUMBER.match(text):
        return float(text.replace("Infinity", "inf"))
    if re.match(r"^0(?:[xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)$", text):
        return float(int(text, 0))  # Newman then gives parseFloat's 0 for `0x10`: kept, as Newman does
    return None


def _json_rows(path: Path) -> Iterator[dict[str, Any]]:
    """`[{...}, {...}]` decoded one object at a time from a sliding buffer (no whole-document parse)."""
    decoder = json.JSONDecoder()
    with _open_text(path) as f:
        state = _Buffer(f, path)
        if state.next_char() != "[":
            raise state.fail("a JSON array of objects ('[')")
        state.pos += 1
        index = 0
        if state.next_char() == "]":
            return
        while True:
            if state.next_char() != "{":
                raise state.fail(f"an object for row {index + 1}")
            while True:
                try:
                    value, end = decoder.raw_decode(state.text, state.pos)
                    break
                except json.JSONDecodeError as exc:
                    if not state.more():
                        where = state.line + state.text.count("\n", state.pos, exc.pos)
                        raise DataFileError(f"data file {path}: line {where}: row {index + 1}: {exc.msg}") from None
            state.advance(end)
            if not isinstance(value, dict):  # pragma: no cover - starts with '{'
                raise state.fail(f"an object for row {index + 1}")
            yield value
            index += 1
            following = state.next_char()
            if following == ",":
                state.pos += 1
                continue
            if following == "]":
                state.pos += 1
                if state.next_char():
                    raise state.fail("nothing after the array")
                return
            raise state.fail("',' or ']' after a row")


class _Buffer:
    """Text read from a file in chunks, a position in it and the line that position is on."""

    _SPACE = re.compile(r"\s*")

    def __init__(self, f: Any, path: Path) -> None:
        self.f, self.path = f, path
        self.text = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def more(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.f.read(_CHUNK)
        except UnicodeDecodeError as exc:
            raise DataFileError(f"data file {self.path}: not UTF-8 text ({exc.reason})") from None
        if not chunk:
            self.eof = True
            return False
        self.text = self.text[self.pos :] + chunk  # what was read goes; the buffer stays about one chunk
        self.pos = 0
        return True

    def advance(self, end: int) -> None:
        self.line += self.text.count("\n", self.pos, end)
        self.pos = end

    def next_char(self) -> str:
        """The next non-blank character ('' at the end of the file), at `pos`."""
        while True:
            match = self._SPACE.match(self.text, self.pos)
            assert match is not None
            self.advance(match.end())
            if self.pos < len(self.text) or not self.more():
                return self.text[self.pos : self.pos + 1]

    def fail(self, expected: str) -> DataFileError:
        found = self.text[self.pos : self.pos + 20].split("\n")[0] or "the end of the file"
        return DataFileError(f"data file {self.path}: line {self.line}: expected {expected}, found {found!r}")
