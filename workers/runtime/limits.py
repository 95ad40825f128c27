"""Input size limits: the largest event a processor or ``claims ingest`` accepts, and
the largest EDI file the inbox and the ``claims edi`` tools read.

Oversized input is refused with a message that gives the size, the limit and the
setting that changes it; never its content.
"""

from __future__ import annotations

from pathlib import Path

from workers.runtime.failures import InvalidInput

EVENT_SETTING = "CLAIMS_MAX_EVENT_BYTES"
EDI_FILE_SETTING = "CLAIMS_MAX_EDI_FILE_BYTES"


class FileTooLarge(ValueError):
    """An input file is over the configured limit (a ``ValueError``: bad input)."""


def event_too_large(size: int, limit: int, what: str = "value") -> str | None:
    """The refusal for an event of ``size`` bytes, or None when it fits."""
    if size <= limit:
        return None
    return f"{what} is {size:,} bytes; the limit for one event is {limit:,} bytes ({EVENT_SETTING})"


def check_event_size(raw: bytes | None, limit: int | None, what: str = "value") -> None:
    """Raise :class:`InvalidInput` (reason ``too-large``) for an oversized message."""
    if raw is None or limit is None:
        return
    problem = event_too_large(len(raw), limit, what)
    if problem:
        raise InvalidInput("too-large", problem)


def check_file_size(path: str | Path, limit: int | None) -> None:
    """Raise :class:`FileTooLarge` when the file at ``path`` is over ``limit`` bytes.

    A file that cannot be examined is left to the caller's own read, which reports
    it in its usual words."""
    if limit is None:
        return
    try:
        size = Path(path).stat().st_size
    except OSError:
        return
    if size > limit:
        raise FileTooLarge(
            f"{Path(path).name} is {size:,} bytes; the limit for an EDI file is "
            f"{limit:,} bytes ({EDI_FILE_SETTING})"
        )
