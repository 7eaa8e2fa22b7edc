"""Month-long reports read whole weeks from week rows and only the edges from day rows: the pieces must tile
the range exactly, and the sums read that way must equal the sums of the day rows."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from app.reports.rollups import covering

DAY = timedelta(days=1)


@pytest.mark.parametrize("first", [datetime(2026, 11, d, tzinfo=UTC) for d in range(1, 9)])
@pytest.mark.parametrize("days", [1, 3, 6, 7, 8, 13, 14, 30, 31, 400])
def test_the_pieces_tile_the_range_with_whole_weeks_only(first: datetime, days: int) -> None:
    end = first + days * DAY
    pieces = covering(first, end)
    assert pieces[0][1] == first and pieces[-1][2] == end
    for (_, _, hi), (_, lo, _) in itertools.pairwise(pieces):
        assert hi == lo  # no gap, no overlap
    for granularity, lo, hi in pieces:
        assert granularity in ("day", "week") and lo < hi
        if granularity == "week":
            assert lo.weekday() == 0 and hi.weekday() == 0
    assert sum(1 for g, *_ in pieces if g == "day") <= 2
    day_rows = sum((hi - lo).days for g, lo, hi in pieces if g == "day")
    assert day_rows <= 12  # at most six days at each edge


def test_a_range_shorter_than_a_week_is_days_and_a_partial_last_day_is_kept() -> None:
    start = datetime(2026, 12, 2, tzinfo=UTC)  # a Wednesday
    assert covering(start, start + 3 * DAY) == [("day", start, start + 3 * DAY)]
    now = datetime(2026, 12, 30, 15, 30, tzinfo=UTC)
    pieces = covering(start, now)
    assert pieces[-1] == ("day", datetime(2026, 12, 28, tzinfo=UTC), now)
