"""Days of service in the clinic's own time zone, and when a day closes.

A day of service is the clinic's calendar day: it ends at the clinic's
midnight.  A day's claim is released a grace period after that (72 hours by
default, ``CLAIMS_CLAIMS_DAY_GRACE_H``), so visits reported late still join it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=1)
def _state_zones() -> dict[str, str]:
    raw = resources.files("schemas").joinpath("data", "state_time_zones.json").read_text()
    zones: dict[str, str] = json.loads(raw)["zones"]
    return zones


def state_zone(state: str) -> str | None:
    """The usual IANA time zone of a US state or territory (two-letter code)."""
    return _state_zones().get(state)


@lru_cache(maxsize=256)
def zone_named(name: str) -> ZoneInfo | None:
    """The time zone of an IANA name, or None when there is none of that name."""
    if not name or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def day_ends(day: date, zone: ZoneInfo) -> datetime:
    """The clinic's midnight after ``day`` (UTC)."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def day_closes(day: date, zone: ZoneInfo, grace: timedelta) -> datetime:
    """When a day's claim may leave: the end of the day plus the grace period."""
    return day_ends(day, zone) + grace
