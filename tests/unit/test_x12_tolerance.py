"""A payer's imperfect 835 is still money: envelope faults that leave the data intact
are read with a warning, posted when every transaction balances, put on the
``remits.review`` queue and reported back where X12 puts them (TA1, IK5, AK9);
faults that touch the claims, or a sloppy file that does not balance, are refused.

The faulty files are public samples with one fault each, made in the test.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edi.segments import X12EnvelopeError, X12Error, X12SyntaxError, read_segments
from edi.ta1 import render_ta1, ta1_notes
from edi.tolerance import RULES, Warnings
from edi.validate import validate_x12
from edi.x277 import parse_277
from edi.x835 import X835Error, parse_835
from edi.x999 import acknowledge, parse_999
from workers.commands.edi835 import parse_835_main
from workers.inbound import inbox
from workers.inbound.remittances import ToleratedFileUnbalanced, messages
from workers.runtime.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data"
#: balanced, one transaction, one claim of three lines, no validator findings
#: (source: tests/data/835/SOURCES.md)
CLEAN = DATA / "835" / "azoner_pyx12__pyx12_tests_835_mult_loops.txt"
#: does not balance (a claim's equation fails)
UNBALANCED = DATA / "835" / "moov-io_x12__examples_example_5010_835_sample2.txt"
ACK_999 = DATA / "999" / "imsweb_x12-parser__src_test_resources_837_5010_x12_999_accepted.txt"
ACK_277 = DATA / "277" / "imsweb_x12-parser__src_test_resources_277_5010_x12_277CA_accepted.txt"
NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)


def collapse_isa(data: bytes) -> bytes:
    """The ISA with its blank padding removed (as some payers' systems send it)."""
    isa = data[:106].decode("ascii")
    element = isa[3]
    fields = isa[:-1].split(element)
    return (element.join(f.strip() for f in fields) + isa[-1]).encode() + data[106:]


def trailer(segment_id: str, n: int, value: Callable[[str], str]) -> Callable[[bytes], bytes]:
    """Replace element ``n`` of the first ``segment_id`` trailer."""

    def change(data: bytes) -> bytes:
        pattern = re.compile(rb"(^|[~\n])(" + segment_id.encode() + rb"\*)([^~]*)~")
        match = pattern.search(data)
        assert match is not None
        elements = match.group(3).decode().split("*")
        elements[n - 1] = value(elements[n - 1])
        new = match.group(1) + match.group(2) + "*".join(elements).encode() + b"~"
        return data[: match.start()] + new + data[match.end() :]

    return change


def plus_one(text: str) -> str:
    return str(int(text) + 1)


def other_control(text: str) -> str:
    return "9" * len(text) if text != "9" * len(text) else "1" * len(text)


def garble_outside_claims(data: bytes) -> bytes:
    """The production date (a header segment, before the first claim) gets an id no
    reader knows."""
    out = re.sub(rb"([~\n])DTM\*405\*", rb"\1DT!*405*", data, count=1)
    assert out != data
    return out


FAULTS: dict[str, Callable[[bytes], bytes]] = {
    "isa-not-fixed-width": collapse_isa,
    "se01-count": trailer("SE", 1, plus_one),
    "se02-control": trailer("SE", 2, other_control),
    "ge01-count": trailer("GE", 1, plus_one),
    "ge02-control": trailer("GE", 2, other_control),
    "iea01-count": trailer("IEA", 1, plus_one),
    "iea02-control": trailer("IEA", 2, other_control),
    "garbled-segment-id": garble_outside_claims,
}


def remittances(data: bytes, warnings: Warnings | None) -> list[Any]:
    return [r.model_dump() for r in parse_835(data, warnings=warnings)]


@pytest.mark.parametrize("rule", sorted(FAULTS))
def test_an_envelope_fault_is_a_warning_and_the_money_reads_the_same(rule: str) -> None:
    clean = CLEAN.read_bytes()
    faulty = FAULTS[rule](clean)
    warnings = Warnings()
    read = remittances(faulty, warnings)
    assert read == remittances(clean, None)
    assert [w.rule for w in warnings] == [rule]
    [w] = warnings
    expected_start = b"DT!" if rule.startswith("garbled") else w.segment_id.encode()
    assert faulty[w.offset :].startswith(expected_start)
    with pytest.raises(X12Error):  # the strict read refuses it, as before
        remittances(faulty, None)


def test_a_garbled_segment_inside_a_claim_is_refused_even_when_tolerant() -> None:
    clean = CLEAN.read_bytes()
    faulty = re.sub(rb"([~\n])SVC\*", rb"\1SV!*", clean, count=1)
    assert faulty != clean
    with pytest.raises(X835Error, match="inside a claim"):
        remittances(faulty, Warnings())


def test_structural_faults_are_still_refused_when_tolerant() -> None:
    clean = CLEAN.read_bytes()
    no_se = re.sub(rb"([~\n])SE\*[^~]*~", rb"\1", clean, count=1)
    with pytest.raises(X12EnvelopeError):
        remittances(no_se, Warnings())
    outside = re.sub(rb"([~\n])(GS\*)", rb"\1REF*EV*X~\2", clean, count=1)
    with pytest.raises(X12EnvelopeError, match="outside"):
        remittances(outside, Warnings())


def test_the_json_lists_warnings_with_segment_offset_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "faulty.835"
    path.write_bytes(FAULTS["se01-count"](collapse_isa(CLEAN.read_bytes())))
    out, err = io.StringIO(), io.StringIO()
    assert parse_835_main(str(path), True, out=out, err=err) == 0
    document = json.loads(out.getvalue())
    assert [w["rule"] for w in document["warnings"]] == ["isa-not-fixed-width", "se01-count"]
    for w in document["warnings"]:
        assert {"segment", "offset", "rule"} <= set(w)
        assert isinstance(w["segment"], int) and isinstance(w["offset"], int)
    assert len(document["transactions"]) == 1 and err.getvalue() == ""
    out, err = io.StringIO(), io.StringIO()
    assert parse_835_main(str(path), True, out=out, err=err, strict=True) == 1
    assert out.getvalue() == "" and "fixed-width" in err.getvalue()


def test_a_tolerated_file_is_posted_and_put_on_the_review_queue(tmp_path: Path) -> None:
    path = tmp_path / "faulty.835"
    path.write_bytes(FAULTS["ge01-count"](CLEAN.read_bytes()))
    report, records = messages(path, now=NOW)
    out = list(records)
    posted = [r for r in out if r.topic == "remits.835.inbound"]
    reviews = [r for r in out if r.topic == "remits.review"]
    assert len(posted) == report.posted_claims + 1 == 2  # the claim and the summary
    [review] = reviews
    body = json.loads(review.value)
    assert review.key == report.sha256.encode()
    assert body["event_type"] == "remit.review"
    assert [w["rule"] for w in body["warnings"]] == ["ge01-count"]
    assert body["transactions"][0]["claims"] == 1


def test_a_clean_file_makes_no_review_item() -> None:
    _, records = messages(CLEAN, now=NOW)
    assert all(r.topic == "remits.835.inbound" for r in records)


def test_a_sloppy_file_that_does_not_balance_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "faulty.835"
    path.write_bytes(FAULTS["se02-control"](UNBALANCED.read_bytes()))
    with pytest.raises(ToleratedFileUnbalanced, match="does not balance"):
        messages(path, now=NOW)


def tolerant_read(data: bytes) -> Warnings:
    warnings = Warnings()
    for _ in parse_835(data, warnings=warnings):
        pass
    return warnings


def test_the_999_accepts_with_errors_noted_in_ik5_and_ak9() -> None:
    faulty = FAULTS["ge01-count"](FAULTS["se01-count"](CLEAN.read_bytes()))
    warnings = tolerant_read(faulty)
    ack = acknowledge(
        faulty, validate_x12(faulty).findings, control_number=7, created_at=NOW, tolerated=warnings
    )
    assert "IK5*E*4~" in ack and re.search(r"AK9\*E\*1\*1\*1\*5~", ack)
    assert validate_x12(ack.encode()).ok
    [group] = parse_999(ack.encode()).groups
    assert group.status == "E" and group.transactions[0].status == "E"
    # without the reader's word, the same findings reject the file
    strict = acknowledge(faulty, validate_x12(faulty).findings, control_number=7, created_at=NOW)
    assert "IK5*R" in strict


def test_a_garbled_segment_is_reported_in_an_ik3_of_an_accepted_transaction() -> None:
    faulty = FAULTS["garbled-segment-id"](CLEAN.read_bytes())
    warnings = tolerant_read(faulty)
    ack = acknowledge(
        faulty, validate_x12(faulty).findings, control_number=7, created_at=NOW, tolerated=warnings
    )
    assert "IK5*E*5~" in ack and "IK3*" in ack
    assert validate_x12(ack.encode()).ok


@pytest.mark.parametrize(
    ("rule", "note"),
    [("isa-not-fixed-width", "022"), ("iea01-count", "021"), ("iea02-control", "001")],
)
def test_interchange_faults_go_in_a_ta1(rule: str, note: str) -> None:
    faulty = FAULTS[rule](CLEAN.read_bytes())
    warnings = tolerant_read(faulty)
    assert ta1_notes(warnings) == [note] == [RULES[rule].ack_code]
    isa = next(iter(read_segments(faulty, warnings=Warnings())))
    ta1 = render_ta1(isa, ta1_notes(warnings), control_number=12, created_at=NOW)
    control = isa.element(13).strip()
    assert f"TA1*{control}*{isa.element(9)}*{isa.element(10)}*E*{note}~" in ta1
    assert "IEA*0*000000012~" in ta1
    assert validate_x12(ta1.encode()).ok


def test_the_inbox_posts_a_sloppy_835_and_answers_with_999_and_ta1(tmp_path: Path) -> None:
    box = tmp_path / "inbox"
    box.mkdir()
    path = box / "payer.835"
    path.write_bytes(FAULTS["se01-count"](collapse_isa(CLEAN.read_bytes())))
    settings = Settings(
        inbox_dir=box, outbox_dir=tmp_path / "outbox", inbox_acknowledge_835=True
    )
    producer = _Producer()
    report = inbox.process_file(path, settings, producer)
    assert report is not None and report.posted_claims == 1
    assert [t for t, _ in producer.sent].count("remits.review") == 1
    [ack] = (tmp_path / "outbox" / "999").iterdir()
    [ta1] = (tmp_path / "outbox" / "ta1").iterdir()
    assert "IK5*E*4~" in ack.read_text() and "*E*022~" in ta1.read_text()
    for f in (ack, ta1):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert list((box / "processed").iterdir())


def test_acknowledgement_readers_follow_the_same_policy() -> None:
    for data, parse in ((ACK_999.read_bytes(), parse_999), (ACK_277.read_bytes(), parse_277)):
        loose = collapse_isa(data)
        parsed: Any = parse(loose)
        assert any("isa-not-fixed-width" in w for w in parsed.warnings)
        sloppy = parse(FAULTS["iea02-control"](data))
        assert any("iea02-control" in w for w in sloppy.warnings)
        body = re.search(rb"ST\*[^~]*~\s*([A-Z0-9]+)\*", data)
        assert body is not None
        garbled = data.replace(body.group(1) + b"*", b"Z!*", 1)
        with pytest.raises(X12SyntaxError, match="invalid segment id"):
            parse(garbled)


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send(self, topic: str, key: Any = None, value: Any = None, headers: Any = None) -> None:
        self.sent.append((topic, key))

    def flush(self) -> None:
        pass


def test_closing_a_review_needs_enough_of_the_hash(capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before any broker is asked: a short prefix could close the wrong file."""
    from workers.cli import main

    assert main(["remits", "reviewed", "abc", "--reason", "payer told"]) == 2
    assert "at least the first 8 characters" in capsys.readouterr().err


def test_an_835_too_large_for_the_validator_is_answered_from_the_readers_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyx12 holds the whole file (about 10 MB of memory per MB): above its limit the
    999 is built from what our streaming reader found, and the validator is not run."""
    import edi.validate
    import workers.runtime.limits

    def no_validator(data: bytes) -> Any:
        raise AssertionError("the validator must not see a file over its limit")

    monkeypatch.setattr(workers.runtime.limits, "VALIDATE_FILE_BYTES", 100)
    monkeypatch.setattr(edi.validate, "validate_x12", no_validator)
    box = tmp_path / "inbox"
    box.mkdir()
    path = box / "big.835"
    path.write_bytes(FAULTS["se01-count"](CLEAN.read_bytes()))
    settings = Settings(
        inbox_dir=box, outbox_dir=tmp_path / "outbox", inbox_acknowledge_835=True
    )
    assert inbox.process_file(path, settings, _Producer()) is not None
    [ack] = (tmp_path / "outbox" / "999").iterdir()
    assert "IK5*E*4~" in ack.read_text()
