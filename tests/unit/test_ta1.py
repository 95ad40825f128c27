"""TA1 interchange acknowledgements from a front door: read, routed to the receiver's
claims, and an ``R`` rejects every claim of the 837 interchange it names (the
receiver took in nothing of that file).  Before, a TA1 file landed in the inbox's
``failed/`` as "neither a 999 nor a 277" and its claims waited forever."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from edi.segments import read_segments
from edi.ta1 import TA1Error, read_ta1, render_ta1
from edi.tolerance import Warnings
from schemas.acknowledgements import ClaimRejected, InterchangeAcknowledged, parse_ack
from schemas.state import Transmission
from tests import claim_factories as cf
from tests.unit.test_front_door import ENV, record, source
from workers.claims import front_door, lifecycle
from workers.inbound.acknowledgements import messages, sniff

T0 = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
#: our 837 interchange 000000042 as the clearinghouse received it
OUR_ISA = (
    "ISA*00*          *00*          *ZZ*SENDER01       *ZZ*RECEIVER01     "
    "*260310*1200*^*00501*000000042*0*T*:~"
)


def ta1_file(status: str = "R", note: str = "024") -> bytes:
    isa = next(iter(read_segments(OUR_ISA.encode())))
    return render_ta1(
        isa, [note], control_number=7, created_at=T0, status=status  # type: ignore[arg-type]  # the test passes each literal
    ).encode()


def test_a_ta1_is_read_with_its_verdict_and_the_interchange_it_names() -> None:
    [ta1] = list(read_ta1(ta1_file("R", "024")))
    assert (ta1.control_number, ta1.status, ta1.note_code) == ("000000042", "R", "024")
    assert ta1.isa.element(6).strip() == "RECEIVER01"  # the front door that answered


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("*R*024~", "*X*024~", "TA104"),
        ("*R*024~", "*R*24~", "TA105"),
        ("TA1*000000042*", "TA1*42*", "TA101"),
    ],
)
def test_a_malformed_ta1_is_its_own_error_naming_the_element(
    old: str, new: str, message: str
) -> None:
    data = ta1_file().decode().replace(old, new).encode()
    with pytest.raises(TA1Error, match=message) as refused:
        list(read_ta1(data))
    assert "42" not in str(refused.value).replace("segment", "")  # no value quoted


def test_the_inbox_tells_a_ta1_apart_and_publishes_it_to_its_receiver(tmp_path: Path) -> None:
    path = tmp_path / "answer.ta1"
    path.write_bytes(ta1_file())
    assert sniff(path.read_bytes()) == "TA1"
    partner = cf.partner(
        receiver_id="RCV1", isa_receiver_id="RECEIVER01", gs_receiver_code="RECEIVER01"
    )
    report, out = messages(path, [partner], now=T0)
    assert (report.kind, report.rejected, report.published) == ("TA1", 1, 1)
    [message] = out
    assert message.topic == "acks.inbound" and message.key == b"RCV1"
    ack = parse_ack(message.value)
    assert isinstance(ack, InterchangeAcknowledged)
    assert (ack.interchange_control_number, ack.status, ack.note_code) == ("000000042", "R", "024")
    [repeated] = messages(path, [partner])[1]  # the same file again, later
    assert json.loads(repeated.value)["ack_id"] == ack.ack_id  # applied once


def ta1(status: str, note: str = "024", interchange: str = "000000001") -> InterchangeAcknowledged:
    return InterchangeAcknowledged.new(
        ack_id=f"T-{status}-{note}",
        receiver_id="RCV1",
        interchange_control_number=interchange,
        status=status,
        note_code=note,
        envelope=ENV,
        source=source("answer.ta1"),
    )


def sent(rec: object) -> dict[int, Transmission]:
    pcn = rec.patient_control_number  # type: ignore[attr-defined]  # a ClaimRecord
    claim_id = rec.versions[-1].claim_id  # type: ignore[attr-defined]  # a ClaimRecord
    return {
        1: Transmission.new(
            receiver_id="RCV1", file_name="a.x12", interchange=1, claims={pcn: claim_id}, sent_at=T0
        )
    }


def test_a_rejecting_ta1_rejects_every_claim_of_the_interchange_with_its_reason() -> None:
    rec = record()
    step = lifecycle.on_ta1(
        ta1("R"),
        transmission_of=sent(rec).get,
        record_of={rec.patient_control_number: rec}.get,
        now=T0,
    )
    [rejected] = [e for e in step.events if isinstance(e, ClaimRejected)]
    [reason] = rejected.reasons
    assert (reason.source, reason.level, reason.code) == ("TA1", "interchange", "TA1-024")
    assert "content" in reason.text
    assert step.records[0].status != rec.status or step.records[0] != rec


def test_an_accepting_ta1_moves_no_claim() -> None:
    rec = record()
    step = lifecycle.on_ta1(
        ta1("A", "000"),
        transmission_of=sent(rec).get,
        record_of={rec.patient_control_number: rec}.get,
        now=T0,
    )
    assert not [e for e in step.events if isinstance(e, ClaimRejected)]
    verdict = front_door.verdict_of_ta1(ta1("E", "022"), "X-1")
    assert (verdict.outcome, verdict.reasons) == ("status", [])


def test_a_ta1_for_an_interchange_we_never_sent_is_refused() -> None:
    with pytest.raises(lifecycle.Refused) as refused:
        lifecycle.on_ta1(
            ta1("R", interchange="000000099"),
            transmission_of=lambda n: None,
            record_of=lambda p: None,
            now=T0,
        )
    assert refused.value.reason == "unknown-transmission"


def test_a_ta1_with_a_sloppy_trailer_is_still_read() -> None:
    data = ta1_file().decode().replace("IEA*0*000000007~", "IEA*0*000000008~").encode()
    warnings = Warnings()
    assert [t.status for t in read_ta1(data, warnings=warnings)] == ["R"]
    assert [w.rule for w in warnings] == ["iea02-control"]
