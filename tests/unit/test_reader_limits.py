"""Bounds of the X12 readers: numeric elements, amounts, and per-transaction limits.

* Every numeric element (SE01/SE02, GE01/GE02, IEA01/IEA02, AK9 counts, IK302,
  LX01) is bounded by its X12 maximum length *before* ``int()`` sees it: 5,000
  digits used to raise Python's int-conversion-limit ``ValueError`` and crash
  ``claims edi parse-835`` and ``claims simulate-payer``.
* Every amount of every reader has one grammar (an optional minus sign, ASCII
  digits, one optional decimal point, at most 18 digits): the 277 reader used
  ``Decimal()`` and took ``1E+30``, ``1_000`` and other scripts' digits, and the
  837 reader took CAS amounts of any length.
* Each reader ends a transaction that is over one of its limits (claims per
  transaction, lines per claim, acknowledgement entries) with its typed error.
* The streaming 999 and 277 readers give what the whole-file parsers give.
* Only regular files are read (``/dev/zero`` and a FIFO used to pass the size
  check and be read without end), and bytes are counted while reading.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edi import x277, x835, x837p, x999
from edi.envelope import check_envelopes
from edi.segments import X12EnvelopeError, X12Error, read_segments
from edi.x277 import X277Error, iter_277_events, parse_277
from edi.x835 import X835Error, iter_835_events, parse_835
from edi.x837p import X837Error, read_837p
from edi.x999 import X999Error, iter_999_events, parse_999
from schemas.acknowledgements import ClaimStatus, ClaimStatusReport, GroupResponse
from workers.commands.acks import ack_835_main, parse_ack_main
from workers.commands.edi835 import parse_835_main
from workers.commands.edi837 import validate_main
from workers.commands.simulate_payer import simulate_payer_main
from workers.runtime.limits import FileTooLarge, NotARegularFile, open_limited, read_limited

DATA = Path(__file__).resolve().parents[1] / "data"
GOLDEN_837 = DATA / "837" / "golden" / "commercial.x12"
REVERSAL_835 = DATA / "835" / "synthetic-reversal-correction-plb.835"
REJECTED_999 = DATA / "999" / "imsweb_x12-parser__src_test_resources_837_5010_x12_999_rejected.txt"
ACCEPTED_277 = DATA / "277" / "imsweb_x12-parser__src_test_resources_277_5010_x12_277CA_accepted.txt"
HUGE = "9" * 5000  # over Python's 4,300-digit limit for int()


def _replaced(path: Path, old: str, new: str) -> bytes:
    data = path.read_bytes()
    assert data.count(old.encode()) == 1, old
    return data.replace(old.encode(), new.encode())


def _segments(data: bytes) -> list[Any]:
    return list(check_envelopes(read_segments(data)))


# --- numeric elements ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "old", "new", "element"),
    [
        (GOLDEN_837, "SE*33*1001~", f"SE*{HUGE}*1001~", "SE01"),
        (GOLDEN_837, "SE*33*1001~", f"SE*33*{HUGE}~", "SE02"),
        (GOLDEN_837, "GE*1*1001~", f"GE*{HUGE}*1001~", "GE01"),
        (GOLDEN_837, "GE*1*1001~", f"GE*1*{HUGE}~", "GE02"),
        (GOLDEN_837, "IEA*1*000001001~", f"IEA*{HUGE}*000001001~", "IEA01"),
        (GOLDEN_837, "IEA*1*000001001~", f"IEA*1*{HUGE}~", "IEA02"),
        (REVERSAL_835, "SE*38*0001~", f"SE*{HUGE}*0001~", "SE01"),
        (REVERSAL_835, "SE*38*0001~", f"SE*38*{HUGE}~", "SE02"),
        (REVERSAL_835, "IEA*1*000000101~", f"IEA*1*{HUGE}~", "IEA02"),
    ],
)
def test_a_huge_envelope_number_is_an_envelope_error_naming_the_element(
    path: Path, old: str, new: str, element: str
) -> None:
    data = _replaced(path, old, new)
    readers: list[Callable[[bytes], object]] = [
        _segments,
        lambda b: list(parse_835(b)),
        lambda b: list(read_837p(b)),
    ]
    for read in readers:
        with pytest.raises(X12Error):
            read(data)
    with pytest.raises(X12EnvelopeError, match=f"{element} has more than") as caught:
        _segments(data)
    assert caught.value.ordinal is not None and caught.value.offset is not None
    assert HUGE[:20] not in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "element"),
    [
        ("SE*33*1001~", "SE*00000000033*1001~", "SE01 has more than 10 digits"),
        ("GE*1*1001~", "GE*0000001*1001~", "GE01 has more than 6 digits"),
        ("IEA*1*000001001~", "IEA*000001*000001001~", "IEA01 has more than 5 digits"),
        ("ST*837*1001*", "ST*837*1234567890*", "ST02 has more than 9 characters"),
        ("GS*HC*SENDER01*RECEIVER01*20250314*0926*1001*", "GS*HC*SENDER01*RECEIVER01*20250314*0926*1234567890*", "GS06 has more than 9 characters"),
    ],
)  # fmt: skip
def test_envelope_numbers_are_bounded_by_their_x12_maximum_length(
    old: str, new: str, element: str
) -> None:
    with pytest.raises(X12EnvelopeError, match=element):
        _segments(_replaced(GOLDEN_837, old, new))


def test_padded_counts_within_their_length_still_read() -> None:
    data = _replaced(GOLDEN_837, "SE*33*1001~", "SE*0000000033*001001~")
    assert [c.patient_control_number for c in read_837p(data)] == ["PCN1001"]


def test_a_huge_lx01_is_an_x837_error() -> None:
    data = _replaced(GOLDEN_837, "LX*2~", f"LX*{HUGE}~")
    with pytest.raises(X837Error, match="LX01 has more than 6 digits"):
        list(read_837p(data))


@pytest.mark.parametrize(
    ("old", "new", "element"),
    [
        ("AK9*R*1*1*0~", f"AK9*R*{HUGE}*1*0~", "AK902"),
        ("AK9*R*1*1*0~", f"AK9*R*1*{HUGE}*0~", "AK903"),
        ("AK9*R*1*1*0~", f"AK9*R*1*1*{HUGE}~", "AK904"),
        ("AK9*R*1*1*0~", "AK9*R*1234567*1*0~", "AK902"),
        ("IK3*NM*17**1~", f"IK3*NM*{HUGE}**1~", "IK302"),
    ],
)
def test_huge_999_numbers_are_x999_errors(old: str, new: str, element: str) -> None:
    data = _replaced(REJECTED_999, old, new)
    with pytest.raises(X999Error, match=f"{element} has more than"):
        parse_999(data)


def test_a_huge_se02_in_a_999_is_read_with_a_warning() -> None:
    # a 999's trailers are read leniently: a wrong count or control number is a warning
    data = _replaced(REJECTED_999, "SE*7*95832987~", f"SE*7*{HUGE}~")
    ack = parse_999(data)
    assert [g.status for g in ack.groups] == ["R"]
    assert any("SE02 has more than 9 characters" in w for w in ack.warnings)


def _cli_835(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = parse_835_main(str(path), True, out, err)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("SE*38*0001~", f"SE*{HUGE}*0001~"),
        ("GE*1*101~", f"GE*{HUGE}*101~"),
        ("IEA*1*000000101~", f"IEA*1*{HUGE}~"),
    ],
)
def test_parse_835_reports_a_huge_number_with_status_1(tmp_path: Path, old: str, new: str) -> None:
    """A trailer's count or control number is an envelope fault the reader forgives
    (docs/x12-reading.md): a warning by default, the typed error with --strict."""
    path = tmp_path / "huge.835"
    path.write_bytes(_replaced(REVERSAL_835, old, new))
    out, err = io.StringIO(), io.StringIO()
    status = parse_835_main(str(path), True, out, err, strict=True)
    assert (status, out.getvalue()) == (1, "")
    assert "is not a valid 835" in err.getvalue() and "has more than" in err.getvalue()
    status, text, problems = _cli_835(path)
    assert (status, problems) == (0, "")
    [warning] = json.loads(text)["warnings"]
    assert "has more than" in warning["message"] and HUGE not in text


@pytest.mark.parametrize(
    ("old", "new"),
    [("LX*2~", f"LX*{HUGE}~"), ("SE*33*1001~", f"SE*{HUGE}*1001~")],
)
def test_simulate_payer_reports_a_huge_number_with_status_1(
    tmp_path: Path, old: str, new: str
) -> None:
    path = tmp_path / "huge.837"
    path.write_bytes(_replaced(GOLDEN_837, old, new))
    out, err = io.StringIO(), io.StringIO()
    status = simulate_payer_main(str(path), None, out, err)
    assert (status, out.getvalue()) == (1, "")
    assert "is not a readable 837P" in err.getvalue() and "has more than" in err.getvalue()


# --- amounts: one grammar for every reader -----------------------------------------------------

#: (text, the reason every reader gives) for amounts that are not X12 decimals.
BAD_AMOUNTS = [
    ("1E+30", "is not a decimal number"),
    ("1e5", "is not a decimal number"),
    ("1_000", "is not a decimal number"),
    ("\u0661\u0662", "is not a decimal number"),  # Arabic-Indic digits
    ("\uff11\uff12", "is not a decimal number"),  # fullwidth digits
    ("NaN", "is not a decimal number"),
    ("Infinity", "is not a decimal number"),
    ("+5", "is not a decimal number"),
    (" 5", "is not a decimal number"),
    ("1.2.3", "is not a decimal number"),
    ("-", "is not a decimal number"),
    ("9" * 19, "has more than 18 digits"),
    ("0." + "0" * 18 + "1", "has more than 18 digits"),
    (HUGE, "has more than 18 digits"),
]

#: reader, the file, the element replaced (its text in the file -> a placeholder), its name.
AMOUNT_SITES: list[tuple[str, Path, str, str, str]] = [
    ("835", REVERSAL_835, "CLP*PCN1002*1*120.00*", "CLP*PCN1002*1*{}*", "CLP03"),
    ("835", REVERSAL_835, "CAS*CO*45*15.00*1~", "CAS*CO*45*{}*1~", "CAS03"),
    ("835", REVERSAL_835, "PLB*1234567893*20241231*WO:PCN1001*-10.00~", "PLB*1234567893*20241231*WO:PCN1001*{}~", "PLB04"),
    ("837", GOLDEN_837, "SV1*HC:97140:GP*90.00*", "SV1*HC:97140:GP*{}*", "SV102"),
    ("277", ACCEPTED_277, "STC*A2:20*20110311*WQ*125~", "STC*A2:20*20110311*WQ*{}~", "STC04"),
    ("277", ACCEPTED_277, "STC*A1:20*20110311*WQ*125.0~", "STC*A1:20*20110311*WQ*{}~", "STC04"),
]  # fmt: skip

READ: dict[str, Callable[[bytes], object]] = {
    "835": lambda b: list(iter_835_events(b)),
    "837": lambda b: list(read_837p(b)),
    "277": parse_277,
}
ERRORS: dict[str, type[X12Error]] = {"835": X835Error, "837": X837Error, "277": X277Error}


@pytest.mark.parametrize(("text", "reason"), BAD_AMOUNTS)
@pytest.mark.parametrize(("reader", "path", "old", "new", "element"), AMOUNT_SITES)
def test_every_reader_refuses_the_same_amounts_naming_the_element(
    reader: str, path: Path, old: str, new: str, element: str, text: str, reason: str
) -> None:
    data = _replaced(path, old, new.format(text))
    with pytest.raises(ERRORS[reader], match=f"{element} {re.escape(reason)}") as caught:
        READ[reader](data)
    assert caught.value.ordinal is not None
    assert text[:12] not in caught.value.reason  # the rule and the element, never the value


def test_837_prior_payer_cas_amounts_follow_the_same_grammar() -> None:
    # the 2430 CAS (a payer before this one adjusted the line) took any length of digits
    prior = (
        "SV1*HC:97124:GP:XS*40.00*UN*1***2~\nDTP*472*D8*20250303~\nREF*6R*PCN1001-1-L2~\n"
        "SVD*EXHP0*30.00*HC:97124**1~\nCAS*CO*45*{}~\nDTP*573*D8*20250310~\n"
    )
    good = _replaced(
        GOLDEN_837,
        "SV1*HC:97124:GP:XS*40.00*UN*1***2~\nDTP*472*D8*20250303~\nREF*6R*PCN1001-1-L2~\n",
        prior.format("10.00"),
    )
    [claim] = read_837p(good.replace(b"SE*33*", b"SE*36*"))
    assert [str(a.amount) for a in claim.lines[1].prior_adjustments] == ["10.00"]
    bad = good.replace(b"CAS*CO*45*10.00~", b"CAS*CO*45*" + b"9" * 40 + b"~")
    with pytest.raises(X837Error, match="CAS03 has more than 18 digits"):
        list(read_837p(bad.replace(b"SE*33*", b"SE*36*")))


def test_277_units_follow_the_amount_grammar() -> None:
    svc = "SVC*HC:97140*100.00*****{}~"  # SVC07: the units
    data = _replaced(ACCEPTED_277, "DTP*472*D8*10010101~", "DTP*472*D8*10010101~\n" + svc)
    data = data.replace(b"SE*23*", b"SE*24*")
    [report] = parse_277(data.replace(b"{}", b"4")).reports
    assert report.claims[0].lines[0].units is not None
    with pytest.raises(X277Error, match="SVC07 is not a decimal number"):
        parse_277(data.replace(b"{}", b"1E+30"))


def test_the_277_command_exits_1_for_an_exponent_amount(tmp_path: Path) -> None:
    # STC04 "1E+30" used to parse, then `--json` failed to write it (a traceback)
    path = tmp_path / "exponent.277"
    path.write_bytes(_replaced(ACCEPTED_277, "STC*A2:20*20110311*WQ*125~", "STC*A2:20*20110311*WQ*1E+30~"))
    for as_json in (True, False):
        out, err = io.StringIO(), io.StringIO()
        assert parse_ack_main(str(path), "277", as_json, out, err) == 1
        assert out.getvalue() == "" and "STC04 is not a decimal number" in err.getvalue()


def test_eighteen_digit_amounts_read_in_every_reader() -> None:
    eighteen = "9999999999999999.99"
    [report] = parse_277(
        _replaced(ACCEPTED_277, "STC*A2:20*20110311*WQ*125~", f"STC*A2:20*20110311*WQ*{eighteen}~")
    ).reports
    assert str(report.claims[0].statuses[0].amount) == eighteen
    [claim] = read_837p(_replaced(GOLDEN_837, "SV1*HC:97140:GP*90.00*", f"SV1*HC:97140:GP*{eighteen}*"))
    assert str(claim.lines[0].charge) == eighteen


# --- per-transaction limits --------------------------------------------------------------------


def _837_with_lines(count: int) -> bytes:
    line = "LX*{n}~\nSV1*HC:97140:GP*1.00*UN*1***1~\nDTP*472*D8*20250303~\n"
    lines = "".join(line.format(n=n) for n in range(1, count + 1))
    data = GOLDEN_837.read_text()
    start, end = data.index("LX*1~"), data.index("SE*33*")
    text = data[:start] + lines + data[end:]
    text = text.replace("CLM*PCN1001*130.00*", f"CLM*PCN1001*{count}.00*")
    return text.replace("SE*33*", f"SE*{33 - 8 + 3 * count}*").encode()


def test_an_837_claim_of_50_lines_reads_and_51_is_an_x837_error() -> None:
    assert x837p.MAX_LINES == 50
    [claim] = read_837p(_837_with_lines(50))
    assert len(claim.lines) == 50
    with pytest.raises(X837Error, match="more than 50 service lines"):
        list(read_837p(_837_with_lines(51)))


def test_an_837_transaction_of_more_than_5000_claims_is_an_x837_error() -> None:
    assert x837p.MAX_CLAIMS_PER_TRANSACTION == 5000
    data = GOLDEN_837.read_text()
    start, end = data.index("CLM*"), data.index("SE*33*")
    claim = data[start:end]
    for count, fits in ((5000, True), (5001, False)):
        text = data[:start] + claim * count + data[end:]
        text = text.replace("SE*33*", f"SE*{33 + (count - 1) * claim.count('~')}*").encode()
        if fits:
            assert sum(1 for _ in read_837p(text)) == 5000
        else:
            with pytest.raises(X837Error, match="more than 5,000 claims"):
                list(read_837p(text))


def _835_with_lines(count: int) -> bytes:
    service = "SVC*HC:97140:GP*1.00*1.00**1~\n"
    text = REVERSAL_835.read_text()
    clp = "CLP*PCN1002*1*120.00*90.00*15.00*12*PAYER9003*11*1~"
    start = text.index(clp)
    end = text.index("PLB*")
    text = (
        text[:start]
        + f"CLP*PCN1002*1*{count}.00*{count}.00**12*PAYER9003*11*1~\n"
        + service * count
        + text[end:]
    )
    # BPR02 = the CLP04s (-120 + 130 + count) less the PLB amounts (27.50)
    text = text.replace("BPR*I*72.50*", f"BPR*I*{count - 17.5:.2f}*")
    # the 10 segments of PCN1002 become its CLP and `count` SVCs
    return text.replace("SE*38*", f"SE*{38 - 10 + 1 + count}*").encode()


def test_an_835_claim_of_999_service_lines_reads_and_1000_is_an_x835_error() -> None:
    assert x835.MAX_SERVICES_PER_CLAIM == 999
    [remittance] = parse_835(_835_with_lines(999))
    assert len(remittance.claims[-1].services) == 999 and remittance.balance.ok
    with pytest.raises(X835Error, match="more than 999 service lines"):
        list(iter_835_events(_835_with_lines(1000)))


def test_an_835_claim_with_too_many_adjustments_is_an_x835_error() -> None:
    cas = "CAS*CO*45*0.00*1*45*0.00*1*45*0.00*1*45*0.00*1*45*0.00*1*45*0.00*1~\n"
    per_claim = x835.MAX_ADJUSTMENTS_PER_CLAIM // 6 + 1
    data = REVERSAL_835.read_text().replace(
        "LQ*HE*N130~\n", "LQ*HE*N130~\n" + cas * per_claim, 1
    )
    data = data.replace("SE*38*", f"SE*{38 + per_claim}*")
    with pytest.raises(X835Error, match="adjustments and remark codes"):
        list(iter_835_events(data.encode()))


def _999_with(ak2_loops: int, errors: int = 0) -> bytes:
    loops = "".join(f"AK2*837*{n:04d}~\nIK5*A~\n" for n in range(1, ak2_loops + 1))
    if errors:
        loops = "AK2*837*0001~\n" + "IK3*NM1*5**8~\nIK4*3**7~\n" * errors + "IK5*R*5~\n"
    text = (
        "ISA*00*          *00*          *ZZ*PAYER          *ZZ*CLAIMS         *240401*1200*^*00501*000000001*0*T*:~\n"
        "GS*FA*PAYER*CLAIMS*20240401*1200*1*X*005010X231A1~\nST*999*0001*005010X231A1~\nAK1*HC*1*005010X222A1~\n"
        f"{loops}AK9*A*1*1*1~\nSE*{4 + loops.count('~')}*0001~\nGE*1*1~\nIEA*1*000000001~\n"
    )  # fmt: skip
    return text.encode()


def test_999_limits_end_in_an_x999_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert x999.MAX_RESPONSES_PER_TRANSACTION == 999_999  # GE01 has at most 6 digits
    [group] = parse_999(_999_with(5)).groups
    assert len(group.transactions) == 5
    monkeypatch.setattr(x999, "MAX_RESPONSES_PER_TRANSACTION", 4)
    with pytest.raises(X999Error, match="more than 4 AK2"):
        parse_999(_999_with(5))
    [group] = parse_999(_999_with(0, errors=x999.MAX_ERRORS_PER_RESPONSE // 2)).groups
    assert len(group.transactions[0].segment_errors) == x999.MAX_ERRORS_PER_RESPONSE // 2
    with pytest.raises(X999Error, match="IK3 and IK4"):
        parse_999(_999_with(0, errors=x999.MAX_ERRORS_PER_RESPONSE // 2 + 1))


def _277_with_claims(count: int, lines: int = 0) -> bytes:
    text = ACCEPTED_277.read_text()
    start, end = text.index("HL*4*3*PT~"), text.index("SE*23*")
    claim = text[start:end]
    line = "SVC*HC:97140*1.00****1~\nSTC*A2:20*20110311*WQ~\nREF*FJ*L1~\n"
    body = claim * count if not lines else claim + line * lines
    segments = 23 - claim.count("~") + body.count("~")
    return (text[:start] + body + text[end:].replace("SE*23*", f"SE*{segments}*")).encode()


def test_277_limits_end_in_an_x277_error(monkeypatch: pytest.MonkeyPatch) -> None:
    assert x277.MAX_LINES_PER_CLAIM == 999
    [report] = parse_277(_277_with_claims(1, lines=999)).reports
    assert len(report.claims[0].lines) == 999
    with pytest.raises(X277Error, match="more than 999 service lines"):
        parse_277(_277_with_claims(1, lines=1000))
    monkeypatch.setattr(x277, "MAX_CLAIMS_PER_TRANSACTION", 3)
    assert len(parse_277(_277_with_claims(3)).reports[0].claims) == 3
    with pytest.raises(X277Error, match="more than 3 claims"):
        parse_277(_277_with_claims(4))


# --- the streaming readers give what the whole-file parsers give --------------------------------


@pytest.mark.parametrize("path", sorted((DATA / "999").glob("*.txt")), ids=lambda p: p.name[:40])
def test_999_events_are_the_groups_of_parse_999(path: Path) -> None:
    warnings: list[str] = []
    groups: list[GroupResponse] = []
    pending: list[Any] = []
    for event in iter_999_events(path.read_bytes(), warnings=warnings):
        if isinstance(event, GroupResponse):
            assert event.transactions == []
            groups.append(event.model_copy(update={"transactions": pending}))
            pending = []
        else:
            pending.append(event)
    ack = parse_999(path.read_bytes())
    assert groups == ack.groups and warnings == ack.warnings


@pytest.mark.parametrize("path", sorted((DATA / "277").iterdir()), ids=lambda p: p.name[:40])
def test_277_events_are_the_reports_of_parse_277(path: Path) -> None:
    if path.suffix == ".md":
        return
    warnings: list[str] = []
    reports: list[ClaimStatusReport] = []
    pending: list[ClaimStatus] = []
    for event in iter_277_events(path.read_bytes(), warnings=warnings):
        if isinstance(event, ClaimStatusReport):
            assert event.claims == []
            reports.append(event.model_copy(update={"claims": pending}))
            pending = []
        else:
            pending.append(event)
    ack = parse_277(path.read_bytes())
    assert reports == ack.reports and warnings == ack.warnings


# --- what is read: regular files only, counted while read ---------------------------------------


def _special_files(tmp_path: Path) -> list[Path]:
    fifo = tmp_path / "pipe.835"
    os.mkfifo(fifo)  # nobody writes: opening it for reading the usual way blocks for ever
    return [Path("/dev/zero"), fifo]  # /dev/zero: never ends, and says it is 0 bytes long


def test_the_edi_commands_refuse_devices_and_fifos_without_reading_them(tmp_path: Path) -> None:
    commands: dict[str, Callable[[str, io.StringIO, io.StringIO], int]] = {
        "parse-835": lambda p, o, e: parse_835_main(p, True, o, e, max_bytes=10_000),
        "parse-999": lambda p, o, e: parse_ack_main(p, "999", True, o, e, max_bytes=10_000),
        "parse-277": lambda p, o, e: parse_ack_main(p, "277", False, o, e, max_bytes=10_000),
        "ack-835": lambda p, o, e: ack_835_main(p, None, 1, o, e, max_bytes=10_000),
        "validate": lambda p, o, e: validate_main([p], o, e, max_bytes=10_000),
        "simulate-payer": lambda p, o, e: simulate_payer_main(p, None, o, e, max_bytes=10_000),
    }
    for path in _special_files(tmp_path):
        for name, command in commands.items():
            out, err = io.StringIO(), io.StringIO()
            assert command(str(path), out, err) == 2, name
            assert "is not a regular file" in err.getvalue(), name
            assert out.getvalue() == "", name


def test_the_inbound_readers_refuse_devices_and_fifos(tmp_path: Path) -> None:
    from workers.inbound import acknowledgements, remittances

    for path in _special_files(tmp_path):
        with pytest.raises(NotARegularFile):
            remittances.messages(path, max_bytes=10_000)
        with pytest.raises(NotARegularFile):
            acknowledgements.messages(path, [], max_bytes=10_000)


def test_a_file_that_grows_past_the_limit_while_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "growing.835"
    path.write_bytes(REVERSAL_835.read_bytes())
    limit = path.stat().st_size + 100
    with open_limited(path, limit) as stream:  # the size was checked when it was opened
        with path.open("ab") as more:
            more.write(b"\n" * 1000)
        with pytest.raises(FileTooLarge, match="grew past the limit"):
            list(iter_835_events(stream))
    assert len(read_limited(path, None)) == limit + 900
    with pytest.raises(FileTooLarge, match=r"is 2,\d+ bytes; the limit"):
        read_limited(path, limit)
