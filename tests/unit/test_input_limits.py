"""Configurable input limits: oversized events and EDI files are refused with the size,
the limit and the setting, never with their content."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests import factories as f
from tests.fakes import FakeClock, FakeSink
from workers.commands.edi835 import parse_835_main
from workers.commands.edi837 import validate_main
from workers.commands.simulate_payer import simulate_payer_main
from workers.inbound.clinic_files import ingest_file
from workers.inbound.inbox import process_file
from workers.inbound.remittances import messages
from workers.runtime.dead_letters import dead_letter_info
from workers.runtime.limits import FileTooLarge
from workers.runtime.processing import MessageRunner, Scope
from workers.runtime.records import Incoming, Outgoing
from workers.runtime.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data"
REMIT = DATA / "835" / "LinuxForHealth_x12__src_tests_resources_835_005010X221A1_managed-care.835"
BIG_REMIT = DATA / "835" / "moov-io_x12__examples_example_5010_835_sample1.txt"  # 1,990 bytes
CLAIM_FILE = DATA / "837" / "samples" / "moov-io_x12__examples_example_5010_837p_sample.txt"


def _incoming(value: bytes) -> Incoming:
    return Incoming("sessions.completed", 0, 7, 1_700_000_000_000, b"c1:p1", value, ())


def test_an_oversized_event_is_dead_lettered_without_reaching_the_handler() -> None:
    sink, clock = FakeSink(), FakeClock()
    runner = MessageRunner("enrich", "claims-enrich", sink, sleep=clock.sleep, max_value_bytes=2048)
    calls = 0

    async def handler(msg: Incoming, scope: Scope) -> list[Outgoing]:
        nonlocal calls
        calls += 1
        return []

    big = b'{"patient_name": "' + b"x" * 3000 + b'"}'
    result = asyncio.run(runner.process(_incoming(big), handler))
    assert calls == 0
    assert result.status == "dead-lettered" and result.reason == "too-large"
    [dl] = sink.delivered
    assert dl.value == big  # kept whole for replay
    info = dead_letter_info(dl.headers)
    assert info["error.kind"] == "invalid-input"
    assert "3,020 bytes" in info["error.message"]
    assert "2,048" in info["error.message"] and "CLAIMS_MAX_EVENT_BYTES" in info["error.message"]
    assert "xxx" not in info["error.message"]


def test_an_event_at_the_limit_is_processed() -> None:
    sink, clock = FakeSink(), FakeClock()
    runner = MessageRunner("enrich", "claims-enrich", sink, sleep=clock.sleep, max_value_bytes=2048)

    async def handler(msg: Incoming, scope: Scope) -> list[Outgoing]:
        return [Outgoing("sessions.enriched", msg.key, b"{}")]

    result = asyncio.run(runner.process(_incoming(b"{" + b" " * 2046 + b"}"), handler))
    assert result.status == "ok" and sink.delivered == []


def test_ingest_reports_an_oversized_line_by_number_and_sends_the_rest(tmp_path: Path) -> None:
    good = json.dumps(f.session())
    huge = json.dumps(f.session(session_id="s-huge", notes="y" * 5000))
    path = tmp_path / "sessions.jsonl"
    path.write_text("\n".join([good, huge, good]) + "\n")
    report = ingest_file(
        Settings(max_event_bytes=4096), "sessions", path, dry_run=True, show_progress=False
    )
    assert report.lines == 3
    [error] = report.errors
    assert error.line == 2
    assert "the limit for one event is 4,096 bytes (CLAIMS_MAX_EVENT_BYTES)" in error.problems[0]
    assert "yyy" not in " ".join(error.problems)


def test_an_835_over_the_limit_is_refused_unread() -> None:
    limit = REMIT.stat().st_size - 1
    with pytest.raises(FileTooLarge, match="CLAIMS_MAX_EDI_FILE_BYTES"):
        messages(REMIT, max_bytes=limit)
    report, records = messages(REMIT, max_bytes=REMIT.stat().st_size)
    assert report.posted_claims > 0 and list(records)


class _Producer:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, topic: str, **kwargs: Any) -> None:
        self.sent.append((topic, kwargs))

    def flush(self) -> None:
        pass


def test_the_inbox_moves_an_oversized_835_to_failed_with_the_reason(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = inbox / "big.835"
    path.write_bytes(BIG_REMIT.read_bytes())
    producer = _Producer()
    settings = Settings(inbox_dir=inbox, max_edi_file_bytes=1024)
    assert process_file(path, settings, producer) is None
    assert producer.sent == []
    [reason_file] = (inbox / "failed").glob("*_big.835.reason")
    reason = reason_file.read_text()
    assert "the limit for an EDI file is 1,024 bytes (CLAIMS_MAX_EDI_FILE_BYTES)" in reason


@pytest.mark.parametrize("tool", ["parse-835", "validate", "simulate-payer"])
def test_the_edi_tools_refuse_an_oversized_file(tool: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    if tool == "parse-835":
        status = parse_835_main(str(BIG_REMIT), False, out, err, max_bytes=1024)
        name = BIG_REMIT.name
    elif tool == "validate":
        status = validate_main([str(CLAIM_FILE)], out, err, max_bytes=1024)
        name = CLAIM_FILE.name
    else:
        status = simulate_payer_main(str(CLAIM_FILE), None, out, err, max_bytes=1024)
        name = CLAIM_FILE.name
    assert status == 2
    assert out.getvalue() == ""
    assert f"{name} is " in err.getvalue() and "CLAIMS_MAX_EDI_FILE_BYTES" in err.getvalue()
