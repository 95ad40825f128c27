"""structlog, configured once for the whole process.

* JSON lines when stderr is not a terminal (production, CI, containers), a
  readable console rendering otherwise; ``CLAIMS_LOG_FORMAT`` forces either.
* Standard-library loggers (faust, mode, aiokafka, kafka-python) go through the
  same processors, so every line of a worker has one shape.
* Per-message context (topic, partition, offset, clinic, session/claim id) is
  bound with :func:`message_context` and appears on every line logged while the
  message is processed.
* :func:`redact_phi` removes protected health information: values under PHI
  keys are replaced, and the PHI values of the message being processed (names,
  birth date, member id, address, phone) are masked wherever they appear in any
  string, e.g. inside an exception message.  Tracebacks -- ours and those of
  faust, mode, aiokafka and kafka-python alike -- are rendered without frame
  local variables, and redacted again once rendered.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

import structlog

MASK = "[redacted]"

#: Keys whose values are PHI wherever they appear in a log event.
PHI_KEYS = frozenset(
    {
        "first_name",
        "last_name",
        "middle_name",
        "name",
        "full_name",
        "patient_name",
        "subscriber_name",
        "birth_date",
        "date_of_birth",
        "dob",
        "member_id",
        "subscriber_id",
        "address",
        "address1",
        "address2",
        "street",
        "line1",
        "line2",
        "postal_code",
        "zip",
        "phone",
        "email",
        "ssn",
        "notes",
        "payload",
        "value",
    }
)

_phi_values: ContextVar[tuple[str, ...]] = ContextVar("claims_phi_values", default=())
_configured = False


def _mask_text(text: str, values: Iterable[str]) -> str:
    for v in values:
        if v and v in text:
            text = text.replace(v, MASK)
    return text


def _redact(key: str | None, value: Any, values: tuple[str, ...]) -> Any:
    if key is not None and key.lower() in PHI_KEYS and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return _mask_text(value, values) if values else value
    if isinstance(value, Mapping):
        return {k: _redact(str(k), v, values) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(None, v, values) for v in value]
    return value


def redact_phi(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop PHI keys and mask the current message's PHI values."""
    values = _phi_values.get()
    for key in list(event_dict):
        if key == "event":
            ev = event_dict[key]
            if isinstance(ev, str) and values:
                event_dict[key] = _mask_text(ev, values)
            continue
        event_dict[key] = _redact(key, event_dict[key], values)
    return event_dict


def scrub(text: str) -> str:
    """Mask the PHI values of the message being processed inside ``text``."""
    return _mask_text(text, _phi_values.get())


def add_phi(values: Iterable[str | None]) -> None:
    """Register PHI strings of the message being processed (until its scope ends)."""
    current = _phi_values.get()
    clean = {v for v in values if v and len(v) >= 2} - set(current)
    if clean:
        _phi_values.set(tuple(sorted({*current, *clean}, key=len, reverse=True)))


@contextmanager
def phi_scope() -> Iterator[None]:
    """A fresh set of PHI values for one message; forgotten when the message is done."""
    token = _phi_values.set(())
    try:
        yield
    finally:
        _phi_values.reset(token)


@contextmanager
def message_context(**context: Any) -> Iterator[None]:
    """Bind per-message context (topic, partition, offset, clinic, ids) for every log line."""
    bound = {k: v for k, v in context.items() if v is not None}
    with structlog.contextvars.bound_contextvars(**bound):
        yield


#: Exceptions as dicts, never with each frame's local variables.
_TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)


def _mask_values(value: Any, values: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return _mask_text(value, values)
    if isinstance(value, Mapping):
        return {k: _mask_values(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_values(v, values) for v in value]
    return value


def _mask_exception(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The rendered exception's text with the current message's PHI values masked."""
    values = _phi_values.get()
    if values and "exception" in event_dict:
        event_dict["exception"] = _mask_values(event_dict["exception"], values)
    return event_dict


def _plain_traceback(sio: TextIO, exc_info: Any) -> None:
    """The console's traceback: the standard one (no locals), PHI values masked."""
    import traceback

    text = "".join(traceback.format_exception(*exc_info))
    sio.write("\n" + scrub(text))


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        redact_phi,
        structlog.processors.StackInfoRenderer(),
    ]


def configure_logging(
    level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None, force: bool = False
) -> None:
    """Configure structlog and the standard library once per process."""
    global _configured  # noqa: PLW0603 -- logging is configured once per process
    if _configured and not force:
        return
    out = stream if stream is not None else sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not _isatty(out))
    renderer: Any
    if use_json:
        renderer = structlog.processors.JSONRenderer()
        # tracebacks without frame locals (a local may hold a patient's data), then
        # redaction again: the exception's text is only known once it is rendered
        final = [_TRACEBACKS, _mask_exception, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=_isatty(out), exception_formatter=_plain_traceback
        )
        final = [renderer]
    shared = _shared_processors()
    structlog.configure(
        # below the level, a call stops at the first processor (a per-message debug
        # line costs a level check, not the whole chain)
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # Client libraries log message keys and values at DEBUG: they never go below
    # INFO, whatever the requested level (our own loggers follow it).
    requested = logging.getLevelName(level)
    for name in ("faust", "mode"):
        logging.getLogger(name).setLevel(max(logging.INFO, requested))
    # asyncssh writes ~20 lines per SFTP connection at INFO (each mailbox poll is one);
    # the mailbox worker logs what it did with each file itself
    for name in ("aiokafka", "kafka", "faust.transport", "mode.timers", "asyncssh"):
        logging.getLogger(name).setLevel(max(logging.WARNING, requested))
    _configured = True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def get_logger(name: str | None = None) -> Any:
    return structlog.stdlib.get_logger(name)
