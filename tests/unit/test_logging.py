"""structlog configuration: JSON lines, bound context, PHI redaction."""

from __future__ import annotations

import io
import json
import logging

import structlog

from workers.runtime import logging as claims_logging


def capture(level: str = "INFO", fmt: str = "json") -> io.StringIO:
    out = io.StringIO()
    claims_logging.configure_logging(level, fmt, stream=out, force=True)
    return out


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_bound_message_context() -> None:
    out = capture()
    log = structlog.stdlib.get_logger("claims.test")
    with claims_logging.message_context(
        topic="sessions.completed", partition=2, offset=7, clinic_id="c1"
    ):
        log.info("processed", session_key="c1:s1")
    log.info("after")
    first, second = lines(out)
    assert first["event"] == "processed"
    assert first["topic"] == "sessions.completed" and first["partition"] == 2
    assert first["offset"] == 7 and first["clinic_id"] == "c1"
    assert first["level"] == "info" and first["timestamp"].endswith("Z")
    assert "topic" not in second


def test_phi_keys_are_masked_at_any_depth() -> None:
    out = capture()
    structlog.stdlib.get_logger("t").info(
        "patient",
        first_name="Zephyrine",
        member_id="MBR-1",
        detail={"address": {"line1": "42 Larkspur Lane"}, "ok": "c1"},
        items=[{"birth_date": "1980-04-02"}],
    )
    [ev] = lines(out)
    text = json.dumps(ev)
    for secret in ("Zephyrine", "MBR-1", "42 Larkspur Lane", "1980-04-02"):
        assert secret not in text
    assert ev["detail"]["ok"] == "c1"


def test_registered_phi_values_are_masked_inside_any_text() -> None:
    out = capture()
    log = structlog.stdlib.get_logger("t")
    with claims_logging.phi_scope():
        claims_logging.add_phi(["Quillfeather"])
        log.warning("lookup failed for Quillfeather", error="KeyError('Quillfeather')")
    log.warning("outside the scope Quillfeather")  # the scope ended: not masked any more
    first, second = lines(out)
    assert "Quillfeather" not in json.dumps(first)
    assert first["event"] == "lookup failed for [redacted]"
    assert "Quillfeather" in second["event"]


def test_foreign_library_loggers_share_the_format_and_stay_above_debug() -> None:
    out = capture(level="DEBUG")
    logging.getLogger("faust.topics").debug("send: v=b'{secret}'")
    logging.getLogger("faust.worker").info("starting")
    logging.getLogger("claims.own").debug("own debug line")
    events = lines(out)
    assert [e["event"] for e in events] == ["starting", "own debug line"]
    assert events[0]["logger"] == "faust.worker"


def test_console_format_is_readable_text() -> None:
    out = capture(fmt="console")
    structlog.stdlib.get_logger("t").info("hello", clinic_id="c1")
    text = out.getvalue()
    assert "hello" in text and "clinic_id" in text and not text.startswith("{")


def test_lines_below_the_level_stop_before_the_processors() -> None:
    """A debug line at INFO is dropped by the first processor: its values are never
    rendered or redacted (per-message debug lines must cost a level check only)."""
    out = capture(level="INFO")
    rendered: list[str] = []

    class Spy:
        def __str__(self) -> str:
            rendered.append("str")
            return "spy"

        def __repr__(self) -> str:
            rendered.append("repr")
            return "spy"

    log = structlog.stdlib.get_logger("claims.test")
    log.debug("session priced for %s", Spy())  # formatting would call str()
    assert rendered == []
    log.info("kept for %s", Spy())
    assert [e["event"] for e in lines(out)] == ["kept for spy"]
    assert rendered == ["str"]


def _fail_with(member_id: str, last_name: str) -> None:
    birth_date = "1980-04-02"  # a local of the failing frame: never rendered
    raise ValueError(f"no coverage for {last_name} ({member_id}, {birth_date[:4]})")


def test_a_third_party_loggers_traceback_shows_no_locals_and_no_registered_phi() -> None:
    """faust, mode and aiokafka log errors with exc_info; the traceback must not carry
    the frames' local variables (a member id, a name, a birth date), and the exception's
    text is masked like any other text."""
    for fmt in ("json", "console"):
        out = capture(fmt=fmt)
        with claims_logging.phi_scope():
            claims_logging.add_phi(["MBR-ZQX-4471", "Quillfeather"])
            try:
                _fail_with("MBR-ZQX-4471", "Quillfeather")
            except ValueError:
                logging.getLogger("aiokafka.consumer").exception("fetch failed")
                structlog.stdlib.get_logger("claims.own").exception("handler failed")
        text = out.getvalue()
        assert "fetch failed" in text and "handler failed" in text
        assert "_fail_with" in text, "the traceback itself is kept"
        for secret in ("MBR-ZQX-4471", "Quillfeather", "1980-04-02"):
            assert secret not in text, (fmt, secret)
