"""Business days as the ACH network counts them: weekdays that are not Federal
Reserve holidays (pure).

The Federal Reserve Banks close on eleven holidays.  A holiday that falls on a
Sunday is observed on the Monday after; one that falls on a Saturday is not moved
(the Reserve Banks are open the Friday before), so that Friday is a business day.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

__all__ = ["business_days_between", "is_business_day", "reserve_holidays"]


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th ``weekday`` (Monday 0) of a month; n = -1: the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    following = date(year + (month == 12), month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


@lru_cache(maxsize=64)
def reserve_holidays(year: int) -> frozenset[date]:
    """The days the Federal Reserve Banks are closed in ``year`` (as observed)."""
    fixed = [date(year, 1, 1), date(year, 7, 4), date(year, 11, 11), date(year, 12, 25)]
    if year >= 2022:
        fixed.append(date(year, 6, 19))  # Juneteenth National Independence Day
    moving = [
        _nth_weekday(year, 1, 0, 3),  # Birthday of Martin Luther King, Jr.
        _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
        _nth_weekday(year, 5, 0, -1),  # Memorial Day
        _nth_weekday(year, 9, 0, 1),  # Labor Day
        _nth_weekday(year, 10, 0, 2),  # Columbus Day
        _nth_weekday(year, 11, 3, 4),  # Thanksgiving Day
    ]
    observed = {d + timedelta(days=1) if d.weekday() == 6 else d for d in fixed}
    return frozenset(observed | set(moving))


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in reserve_holidays(day.year)


def business_days_between(start: date, end: date) -> int:
    """Business days after ``start`` up to and including ``end`` (negative when ``end``
    is before ``start``): Friday to the next Monday is 1."""
    if end < start:
        return -business_days_between(end, start)
    span = (end - start).days
    if span > 3660:  # ten years: only the sign and the size matter then
        return span * 5 // 7
    count = 0
    day = start
    for _ in range(span):
        day += timedelta(days=1)
        if is_business_day(day):
            count += 1
    return count
