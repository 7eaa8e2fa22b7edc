"""Iteration data files as Newman reads them (`-d DATA.csv|DATA.json`): each row is one iteration.

CSV: the first line is the header, every later line one row of text values. JSON: an array of objects.
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
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None or not any(name.strip() for name in header):
                raise DataFileError(f"data file {path}: line 1: the header row (column names) is missing")
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
                yield dict(zip(names, values, strict=True))
        except csv.Error as exc:
            raise DataFileError(f"data file {path}: line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError as exc:
            raise DataFileError(f"data file {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


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
