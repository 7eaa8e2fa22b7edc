"""Cron expressions in a time zone: validation and fire times, correct across daylight-saving changes.

Pure functions over plain values (no database). An expression has 5 fields (minute hour day month weekday),
or 6 with a leading seconds field (`*/10 * * * * *`: every 10 s, as Quartz, Spring and node-cron write it),
or is one of @hourly, @daily, @midnight, @weekly, @monthly, @yearly, @annually. Times are computed in the
schedule's IANA zone and returned in UTC.

Daylight saving, as cron itself does it:
- a wall-clock time the change skips (02:30 when clocks go from 02:00 to 03:00) fires once, at the first
  instant after the gap (03:00 local);
- a wall-clock time that happens twice (01:30 when clocks go back from 02:00 to 01:00) fires once, at its
  first occurrence, unless the expression fires every hour (its hour field is `*`): such a schedule follows
  real time, so `*/20 * * * *` keeps firing every 20 minutes through the repeated hour.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from croniter import croniter
from croniter.croniter import CroniterError

MAX_EXPRESSION = 200
MAX_ZONE = 64
ALIASES = frozenset({"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"})
# Names tzdata ships that mean "whatever this machine is set to": a schedule must not depend on the host.
_HOST_ZONES = frozenset({"localtime", "posixrules", "Factory"})
# A schedule whose next tick is further than this many candidate steps away never fires (`0 0 31 2 *`).
_MAX_SKIPS = 10_000


class CronError(ValueError):
    """An expression or zone that cannot be used; the message says why in words a person can act on."""


@dataclass(frozen=True)
class CronSpec:
    """A validated expression in its zone."""

    expression: str
    zone: ZoneInfo
    with_seconds: bool
    every_hour: bool  # the hour field is `*`: follows real time through a repeated hour

    @property
    def zone_name(self) -> str:
        return self.zone.key


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - _HOST_ZONES


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone called `name` (`Europe/Berlin`, `UTC`); CronError when there is none."""
    if not name or len(name) > MAX_ZONE or name not in _zone_names():
        raise CronError(f"'{name[:MAX_ZONE]}' is not an IANA time zone name (such as 'UTC' or 'Europe/Berlin')")
    return ZoneInfo(name)


def normalise(expression: str) -> str:
    """The expression with its fields separated by single spaces."""
    return re.sub(r"\s+", " ", expression.strip())


def parse(expression: str, zone_name: str) -> CronSpec:
    """Validate an expression and zone; CronError names what is wrong (`61 * * * *`: minute out of range)."""
    zone = zone_of(zone_name)
    text = normalise(expression)
    if not text:
        raise CronError("is empty: give 5 fields (minute hour day month weekday), or 6 with seconds first")
    if len(text) > MAX_EXPRESSION:
        raise CronError(f"is longer than {MAX_EXPRESSION} characters")
    if text.startswith("@"):
        if text.lower() not in ALIASES:
            raise CronError(f"'{text}' is not one of {', '.join(sorted(ALIASES))}")
        text = text.lower()
        fields = 5
    else:
        fields = len(text.split(" "))
        if fields not in (5, 6):
            raise CronError(
                f"has {fields} fields; give 5 (minute hour day month weekday) or 6 (second minute hour day month "
                "weekday)"
            )
    with_seconds = fields == 6
    if not text.startswith("@"):
        _check_ranges(text.split(" "), with_seconds)
    try:
        parsed = croniter(text, datetime(2000, 1, 1, tzinfo=UTC), second_at_beginning=with_seconds)
    except (CroniterError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise CronError(f"'{text}' is not a valid cron expression: {_reason(exc, text)}") from None
    hours = parsed.expanded[1]
    spec = CronSpec(text, zone, with_seconds, hours == ["*"] or len(hours) == 24)
    try:
        next_after(spec, datetime.now(UTC))
    except CronError:
        raise CronError(f"'{text}' never fires (no date matches it)") from None
    return spec


_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
# A number that is a value (not a step after `/`, not an nth weekday after `#`).
_VALUE = re.compile(r"(?<![/#\d])\d+")


def _check_ranges(parts: list[str], with_seconds: bool) -> None:
    """Name the field whose value is out of range (croniter only says the expression is)."""
    fields = (("second", 0, 59), *_FIELDS) if with_seconds else _FIELDS
    for part, (name, low, high) in zip(parts, fields, strict=True):
        for number in _VALUE.findall(part):
            if not low <= int(number) <= high:
                raise CronError(f"{name} {int(number)} is out of range ({low}-{high}) in '{' '.join(parts)}'")


def _reason(exc: Exception, text: str) -> str:
    message = str(exc).replace(f"[{text}] ", "").replace(f"{text} ", "").strip()
    return message[:200] or type(exc).__name__


def _croniter(spec: CronSpec, start: datetime) -> croniter:
    return croniter(spec.expression, start.astimezone(spec.zone), second_at_beginning=spec.with_seconds)


def _is_second_occurrence(moment: datetime, zone: ZoneInfo) -> bool:
    """True when `moment` is the second pass of a wall-clock time that a DST change repeats."""
    naive = moment.replace(tzinfo=None)
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return False
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return False  # a skipped time (a gap), not a repeated one
    return moment.utcoffset() == second.utcoffset()


def _keeps(spec: CronSpec, moment: datetime) -> bool:
    return spec.every_hour or not _is_second_occurrence(moment, spec.zone)


def next_after(spec: CronSpec, after: datetime) -> datetime:
    """The first fire time strictly after `after` (aware), in UTC."""
    iterator = _croniter(spec, after)
    try:
        for _ in range(_MAX_SKIPS):
            candidate: datetime = iterator.get_next(datetime)
            moment = candidate.astimezone(UTC)
            if moment > after and _keeps(spec, candidate):
                return moment
    except CroniterError as exc:
        raise CronError(str(exc)) from None
    raise CronError(f"'{spec.expression}' does not fire within {_MAX_SKIPS} steps")


def next_times(spec: CronSpec, after: datetime, count: int) -> list[datetime]:
    """The next `count` fire times after `after`, in UTC, strictly increasing."""
    times: list[datetime] = []
    moment = after
    for _ in range(count):
        moment = next_after(spec, moment)
        times.append(moment)
    return times


def latest_at_or_before(spec: CronSpec, moment: datetime) -> datetime:
    """The last fire time at or before `moment`, in UTC."""
    iterator = _croniter(spec, moment + timedelta(microseconds=1))
    try:
        for _ in range(_MAX_SKIPS):
            candidate: datetime = iterator.get_prev(datetime)
            found = candidate.astimezone(UTC)
            if found <= moment and _keeps(spec, candidate):
                return found
    except CroniterError as exc:
        raise CronError(str(exc)) from None
    raise CronError(f"'{spec.expression}' did not fire within {_MAX_SKIPS} steps")


def shortest_gap(spec: CronSpec, after: datetime, samples: int = 30) -> float:
    """The shortest time in seconds between two of the next `samples` fire times (how often it fires)."""
    times = next_times(spec, after, samples)
    return min((later - earlier).total_seconds() for earlier, later in itertools.pairwise(times))


def ticks_from(spec: CronSpec, first: datetime, until: datetime, limit: int) -> tuple[list[datetime], bool]:
    """Fire times from `first` (itself a fire time) up to `until`, at most `limit`; True when more remain."""
    found: list[datetime] = []
    moment = first
    while moment <= until:
        if len(found) == limit:
            return found, True
        found.append(moment)
        moment = next_after(spec, moment)
    return found, False
