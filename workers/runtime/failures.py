"""How a failure is classified, and therefore what happens to the message.

* ``invalid-input``: the message itself is wrong (not UTF-8, not JSON, violates
  the contract or a business rule that makes it unprocessable).  Retrying
  cannot help: it goes to the dead-letter topic at once.
* ``transient``: the world is briefly wrong (timeouts, a broker or file system
  hiccup).  Retried with bounded exponential back-off, then dead-lettered.
* ``unexpected``: a defect in the engine.  Retrying the same input would fail
  the same way, so it is dead-lettered at once with its stack trace, and the
  processor moves on.

Messages of these exceptions are safe to log and to copy into dead-letter
headers: they name fields and rules, never values.
"""

from __future__ import annotations

import asyncio
from typing import Literal

FailureKind = Literal["invalid-input", "transient", "unexpected"]


class ProcessingError(Exception):
    """Base of the engine's own failures; ``str()`` is free of PHI by contract."""

    kind: FailureKind = "unexpected"

    def __init__(self, reason: str, message: str, *, clinic_id: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.clinic_id = clinic_id


class InvalidInput(ProcessingError):
    """The message cannot be processed as sent."""

    kind: FailureKind = "invalid-input"


class TransientFailure(ProcessingError):
    """A temporary condition; the same message may succeed later."""

    kind: FailureKind = "transient"


def classify(exc: BaseException) -> FailureKind:
    if isinstance(exc, ProcessingError):
        return exc.kind
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | ConnectionError):
        return "transient"
    retriable = getattr(exc, "retriable", None)
    module = type(exc).__module__
    if retriable is True and (module.startswith(("kafka", "aiokafka"))):
        return "transient"
    return "unexpected"


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, ProcessingError):
        return exc.reason
    return {"transient": "transient-error", "unexpected": "processing-error"}.get(
        classify(exc), "processing-error"
    )


def safe_message(exc: BaseException) -> str:
    """A message for logs and headers: ours verbatim, foreign ones by class only
    unless they are known not to carry input values."""
    if isinstance(exc, ProcessingError):
        return exc.message
    text = str(exc)
    # Foreign exception text may echo input values (KeyError('<a name>')...); the
    # caller masks the current message's PHI values in it (logging.scrub) and
    # we bound its length.
    return f"{type(exc).__name__}: {text}"[:500]
