"""Cron expressions in a time zone: validation, and fire times that stay right across daylight-saving changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from app.schedules import cron

NEW_YORK = "America/New_York"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("expression", "zone", "says"),
    [
        ("61 * * * *", "UTC", "minute 61 is out of range (0-59)"),
        ("0 24 * * *", "UTC", "hour 24 is out of range (0-23)"),
        ("0 0 0 * *", "UTC", "day of month 0 is out of range (1-31)"),
        ("* * * 13 *", "UTC", "month 13 is out of range (1-12)"),
        ("60 * * * * *", "UTC", "second 60 is out of range (0-59)"),
        ("* * * *", "UTC", "has 4 fields"),
        ("* * * * * * *", "UTC", "has 7 fields"),
        ("*/0 * * * *", "UTC", "not a valid cron expression"),
        ("0 0 31 2 *", "UTC", "never fires"),
        ("@reboot", "UTC", "is not one of"),
        ("", "UTC", "is empty"),
        ("* * * * *", "Mars/Olympus_Mons", "not an IANA time zone"),
        ("* * * * *", "localtime", "not an IANA time zone"),
    ],
)
def test_invalid_expressions_and_zones_say_what_is_wrong(expression: str, zone: str, says: str) -> None:
    with pytest.raises(cron.CronError, match=says.replace("(", r"\(").replace(")", r"\)")):
        cron.parse(expression, zone)


def test_a_daily_time_in_the_repeated_hour_fires_once_on_the_day_clocks_go_back() -> None:
    spec = cron.parse("30 1 * * *", NEW_YORK)  # 1 November 2026: 01:00-01:59 happens twice
    times = cron.next_times(spec, utc(2026, 10, 30, 12), 5)
    assert times == [
        utc(2026, 10, 31, 5, 30),  # 01:30 EDT
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT, the first pass; not again at 01:30 EST
        utc(2026, 11, 2, 6, 30),  # 01:30 EST
        utc(2026, 11, 3, 6, 30),
        utc(2026, 11, 4, 6, 30),
    ]


def test_a_daily_time_in_the_skipped_hour_fires_once_right_after_the_gap() -> None:
    spec = cron.parse("30 2 * * *", NEW_YORK)  # 8 March 2026: 02:00 jumps to 03:00
    times = cron.next_times(spec, utc(2026, 3, 6, 12), 4)
    assert times == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 30), utc(2026, 3, 10, 6, 30)]
    assert [t.astimezone(spec.zone).strftime("%d %H:%M %Z") for t in times] == [
        "07 02:30 EST",
        "08 03:00 EDT",
        "09 02:30 EDT",
        "10 02:30 EDT",
    ]


def test_an_every_hour_schedule_follows_real_time_through_the_repeated_hour() -> None:
    spec = cron.parse("*/20 * * * *", NEW_YORK)
    times = cron.next_times(spec, utc(2026, 11, 1, 4, 30), 8)
    gaps = {(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)}
    assert gaps == {1200.0}  # every 20 minutes of real time, the repeated hour included
    assert times[0] == utc(2026, 11, 1, 4, 40)


def test_a_seconds_field_comes_first() -> None:
    spec = cron.parse("*/10 * * * * *", "UTC")
    assert spec.with_seconds
    assert cron.next_times(spec, utc(2026, 1, 1, 12, 0, 5), 3) == [
        utc(2026, 1, 1, 12, 0, 10),
        utc(2026, 1, 1, 12, 0, 20),
        utc(2026, 1, 1, 12, 0, 30),
    ]
    assert cron.shortest_gap(spec, utc(2026, 1, 1)) == 10


def test_the_latest_tick_at_or_before_a_moment_includes_the_moment_itself() -> None:
    spec = cron.parse("0 * * * *", "Europe/Berlin")
    assert cron.latest_at_or_before(spec, utc(2026, 6, 1, 10, 0)) == utc(2026, 6, 1, 10, 0)
    assert cron.latest_at_or_before(spec, utc(2026, 6, 1, 10, 59, 59)) == utc(2026, 6, 1, 10, 0)


def test_ticks_from_a_tick_stop_at_the_limit_and_say_more_remain() -> None:
    spec = cron.parse("*/10 * * * * *", "UTC")
    ticks, more = cron.ticks_from(spec, utc(2026, 1, 1), utc(2026, 1, 1, 0, 1), 3)
    assert ticks == [utc(2026, 1, 1), utc(2026, 1, 1, 0, 0, 10), utc(2026, 1, 1, 0, 0, 20)]
    assert more
    ticks, more = cron.ticks_from(spec, utc(2026, 1, 1), utc(2026, 1, 1, 0, 0, 25), 10)
    assert len(ticks) == 3 and not more


def test_aliases_and_spacing_are_normalised() -> None:
    assert cron.parse("  0   2 * *   * ", "UTC").expression == "0 2 * * *"
    assert cron.parse("@Daily", "Asia/Tokyo").expression == "@daily"
