"""Fuzzing the X12 readers: mutated 835 and 837 files raise only the readers' typed errors.

Every reader of this project meets files it did not write.  Whatever the bytes,
``read_segments``, the envelope checker, ``iter_835_events`` / ``parse_835`` and
``read_837p`` must either succeed or raise an :class:`edi.segments.X12Error`
subclass (never ``IndexError``, ``ValueError``, ``KeyError``,
``decimal.InvalidOperation``, a pydantic ``ValidationError``...): the inbox
watcher and ``claims ingest 835`` turn exactly those into a ``failed/`` file with
its reason, anything else is a crash.

The seeds are the real files: the public samples and golden files under
``tests/data/``, 837Ps written by ``render_837p`` (default and unusual delimiters)
and 835s written by the payer simulator (``adjudicate`` + ``render_answers``).
Mutations: byte flips, deletions, insertions (non-UTF-8 bytes, Unicode digits),
segment deletion / duplication / swaps, truncation, delimiter swaps, element
values replaced by awkward ones (huge numbers, Unicode digits, long names) and
damage to the fixed-width ISA.

pyx12 (``edi.validate.validate_x12``) is documented never to raise for bad
input; a few mutated files go through it too (``deadline=None``: it takes
about 0.1 s per call).  Every test uses ``derandomize=True``: CI runs the same
examples each time.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edi.envelope import check_envelopes
from edi.segments import (
    ISA_LENGTH,
    Segment,
    X12EnvelopeError,
    X12Error,
    read_segments,
)
from edi.validate import validate_x12
from edi.x835 import X835Error, iter_835_events, parse_835
from edi.x837p import X837Error, read_837p, render_837p
from schemas.base import Versioned
from schemas.claims import Claim
from schemas.reconciliation import ClaimLedger, RemittanceClaim, RemittanceSource, remittance_id
from schemas.remittance import ClaimPayment, RemittanceHeader, RemittanceSummary
from schemas.submission import ClaimSubmitted
from tests import claim_factories as f
from tests.fuzzing import fuzz
from workers.payer_sim.adjudicate import adjudicate, render_answers
from workers.payer_sim.rules import default_rules
from workers.remits.reconcile import on_claim_payment, on_submitted

DATA = Path(__file__).resolve().parents[1] / "data"
NOW = dt.datetime(2025, 4, 1, 12, 30, tzinfo=dt.UTC)


# --- the seeds ------------------------------------------------------------------------------


def _sample_files() -> list[Path]:
    paths = [*(DATA / "835").iterdir(), *(DATA / "837" / "samples").iterdir()]
    paths += (DATA / "837" / "golden").iterdir()
    return sorted(p for p in paths if p.suffix != ".md")


SAMPLES = _sample_files()
UNUSUAL_DELIMITERS = {
    "element_separator": "|",
    "component_separator": ">",
    "repetition_separator": "!",
    "segment_terminator": "\n",
    "line_break_after_segment": False,
}


@cache
def rendered_837s() -> tuple[bytes, ...]:
    """837Ps written by ``render_837p``: ours, with default and unusual delimiters."""
    claims = [f.commercial_claim(), f.auto_pip_claim(), f.workers_comp_claim()]
    files = [
        render_837p(claims, f.partner(), f.NUMBERS, f.CREATED_AT).text,
        render_837p([f.replacement_claim()], f.partner(), f.NUMBERS, f.CREATED_AT).text,
        render_837p(
            f.many_claims(3), f.partner(**UNUSUAL_DELIMITERS), f.NUMBERS, f.CREATED_AT
        ).text,
    ]
    return tuple(text.encode("utf-8") for text in files)


@cache
def answered_claims() -> tuple[Claim, ...]:
    """The claims the payer simulator answers (and reconciliation knows as submitted)."""
    return (
        f.commercial_claim(),
        f.auto_pip_claim(),
        f.workers_comp_claim(),
        f.void_claim(patient_control_number="PCN9", claim_id="PCN9-3"),
        *f.many_claims(6),
    )


@cache
def simulated_835s() -> tuple[bytes, ...]:
    """835s written by the payer simulator in answer to our 837Ps."""
    claims = list(answered_claims())
    received = list(
        read_837p(render_837p(claims, f.partner(), f.NUMBERS, f.CREATED_AT).text.encode())
    )
    answers = adjudicate(received, default_rules(), now=NOW)
    return (render_answers(answers, now=NOW).encode("utf-8"),)


@cache
def seeds_835() -> tuple[bytes, ...]:
    return (*(p.read_bytes() for p in SAMPLES if "/835/" in p.as_posix()), *simulated_835s())


@cache
def seeds_837() -> tuple[bytes, ...]:
    return (*(p.read_bytes() for p in SAMPLES if "/837/" in p.as_posix()), *rendered_837s())


def seeds() -> tuple[bytes, ...]:
    return (*seeds_835(), *seeds_837())


# --- the mutations ----------------------------------------------------------------------------

#: Bytes that are not UTF-8, or are UTF-8 digits that ``str.isdigit`` accepts but ``int`` may not.
ODD_BYTES = (
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\x00",
    b"\xc2\xb2",  # superscript two
    "\u0663".encode(),  # Arabic-Indic digit three
    "\uff17".encode(),  # fullwidth digit seven
    b"\xe2\x80\xa8",  # line separator
    b"\r\n",
)
#: Element values that are valid X12 characters but awkward for the readers.
ODD_VALUES = (
    "",
    "-",
    ".",
    "-.",
    "1E5",
    "NaN",
    "9" * 40,
    "-" + "9" * 30 + ".99",
    "0." + "0" * 40 + "1",
    "\u00b2",
    "1\u00b2",
    "\u0663\u0664",
    "A" * 61,
    "A" * 100,
    " " * 3,
    "20240230",
    "99999999",
    "HC",
    "HC:",
    ":::",
    "^",
)
#: Replacements for elements that hold a number: amounts, counts, control numbers, dates.
ODD_NUMBERS = (
    "9" * 40,
    "-" + "9" * 30 + ".99",
    "99999999999999999999.99",
    "0." + "0" * 40 + "1",
    "\u00b2",
    "1\u00b2",
    "\u0663\u0664",
    "\uff11\uff12",
    "1E5",
    "-",
    ".",
    "",
    "0",
    "-1",
)
#: Replacements for names: too long for the contracts, empty, blank, odd characters.
ODD_NAMES = ("A" * 61, "B" * 36, "C" * 300, "", " ", "\u00e9" * 61, "\U0001f600", "*", "~")
NUMBER = re.compile(rb"-?[0-9]*\.?[0-9]+")


def _terminator(data: bytes) -> bytes:
    """The segment terminator of the first ISA (``~`` when it cannot be found)."""
    start = data.find(b"ISA")
    if start < 0 or len(data) < start + ISA_LENGTH:
        return b"~"
    return data[start + ISA_LENGTH - 1 : start + ISA_LENGTH]


def _element_separator(data: bytes) -> bytes:
    start = data.find(b"ISA")
    return data[start + 3 : start + 4] if start >= 0 and len(data) > start + 3 else b"*"


def _segments(data: bytes) -> list[bytes]:
    return data.split(_terminator(data))


def _join(parts: list[bytes], data: bytes) -> bytes:
    return _terminator(data).join(parts)


Mutation = Callable[[bytes], bytes]


def _flip(at: int, value: int) -> Mutation:
    def apply(data: bytes) -> bytes:
        if not data:
            return data
        i = at % len(data)
        return data[:i] + bytes([value]) + data[i + 1 :]

    return apply


def _delete(at: int, size: int) -> Mutation:
    def apply(data: bytes) -> bytes:
        i = at % (len(data) + 1)
        return data[:i] + data[i + size :]

    return apply


def _insert(at: int, payload: bytes) -> Mutation:
    def apply(data: bytes) -> bytes:
        i = at % (len(data) + 1)
        return data[:i] + payload + data[i:]

    return apply


def _truncate(at: int) -> Mutation:
    return lambda data: data[: at % (len(data) + 1)]


def _segment_op(kind: str, at: int, other: int) -> Mutation:
    def apply(data: bytes) -> bytes:
        parts = _segments(data)
        i, j = at % len(parts), other % len(parts)
        if kind == "delete":
            del parts[i]
        elif kind == "duplicate":
            parts.insert(j, parts[i])
        else:  # swap
            parts[i], parts[j] = parts[j], parts[i]
        return _join(parts, data)

    return apply


def _fields(data: bytes) -> tuple[list[bytes], bytes, list[tuple[int, int, bytes]]]:
    """The segments, the element separator and every (segment, element, value) after the ISA."""
    parts = _segments(data)
    sep = _element_separator(data)
    elements = [
        (n, k, value)
        for n, part in enumerate(parts)
        if not part.lstrip().startswith(b"ISA")
        for k, value in enumerate(part.split(sep))
        if k > 0
    ]
    return parts, sep, elements


#: Name and address elements (NM103-NM105, N102, N301, N401, PER02).
NAMES = {b"NM1": (3, 4, 5), b"N1": (2,), b"N3": (1,), b"N4": (1,), b"PER": (2,)}


def _is_name(parts: list[bytes], sep: bytes, n: int, k: int) -> bool:
    return k in NAMES.get(parts[n].strip().split(sep, 1)[0], ())


def _element(at: int, value: str, where: str) -> Mutation:
    """Replace one element: any, one that holds a number (amounts, counts, dates), or a name."""

    def apply(data: bytes) -> bytes:
        parts, sep, elements = _fields(data)
        if where == "number":
            elements = [e for e in elements if NUMBER.fullmatch(e[2].strip())]
        elif where == "name":
            elements = [e for e in elements if _is_name(parts, sep, e[0], e[1])]
        if not elements:
            return data
        n, k, _ = elements[at % len(elements)]
        fields = parts[n].split(sep)
        fields[k] = value.encode("utf-8")
        parts[n] = sep.join(fields)
        return _join(parts, data)

    return apply


def _delimiter_swap(old_index: int, new: bytes, everywhere: bool) -> Mutation:
    """Replace one of the first ISA's delimiters by another byte (all or one occurrence)."""

    def apply(data: bytes) -> bytes:
        start = data.find(b"ISA")
        if start < 0 or len(data) < start + ISA_LENGTH:
            return data
        positions = (3, 82, 104, 105)  # element, repetition, component, segment
        old = data[start + positions[old_index % 4] : start + positions[old_index % 4] + 1]
        if everywhere:
            return data.replace(old, new)
        i = data.find(old, start + ISA_LENGTH)
        return data if i < 0 else data[:i] + new + data[i + 1 :]

    return apply


def _isa_damage(offset: int, value: bytes, kind: str) -> Mutation:
    """Damage the first ISA: overwrite, insert into or delete from its 106 characters."""

    def apply(data: bytes) -> bytes:
        start = max(data.find(b"ISA"), 0)
        i = start + offset % ISA_LENGTH
        if kind == "overwrite":
            return data[:i] + value + data[i + len(value) :]
        if kind == "insert":
            return data[:i] + value + data[i:]
        return data[:i] + data[i + 1 :]

    return apply


#: Anywhere in a file (hypothesis favours small integers: spread them, or every edit hits the ISA).
positions = st.integers(0, 2**31).map(lambda n: (n * 2_654_435_761 + 40_503) % 2**32)
#: Edits that keep the envelope readable, mostly; the ISA and the delimiters less often.
local_mutations = st.one_of(
    st.builds(_flip, positions, st.integers(0, 255)),
    st.builds(_flip, positions, st.sampled_from(b"*~:^|>!\n0123456789-. ")),
    st.builds(_delete, positions, st.integers(1, 40)),
    st.builds(_insert, positions, st.sampled_from(ODD_BYTES) | st.binary(min_size=1, max_size=8)),
    st.builds(_truncate, positions),
    st.builds(_segment_op, st.sampled_from(["delete", "duplicate", "swap"]), positions, positions),
)
#: One element replaced: amounts, counts and control numbers by odd numbers, any by odd text.
element_mutations = st.one_of(
    st.builds(_element, positions, st.sampled_from(ODD_NUMBERS), st.just("number")),
    st.builds(
        _element, positions, st.sampled_from(ODD_VALUES) | st.text(max_size=12), st.just("any")
    ),
    st.builds(_element, positions, st.sampled_from(ODD_NAMES), st.just("name")),
)
envelope_mutations = st.one_of(
    st.builds(
        _delimiter_swap,
        st.integers(0, 3),
        st.sampled_from([b"*", b"~", b":", b"^", b"|", b"A"]),
        st.booleans(),
    ),
    st.builds(
        _isa_damage,
        st.integers(0, ISA_LENGTH - 1),
        st.sampled_from([b" ", b"*", b"~", b"X", b"\xff", b"\xc3\xa9", b"12"]),
        st.sampled_from(["overwrite", "insert", "delete"]),
    ),
)
_MUTATIONS = {
    "local": local_mutations,
    "element": element_mutations,
    "envelope": envelope_mutations,
}
mutations = st.sampled_from(["local"] * 4 + ["element"] * 4 + ["envelope"]).flatmap(
    _MUTATIONS.__getitem__
)


@st.composite
def mutated(
    draw: st.DrawFn, count: int = 3, seeds: Callable[[], tuple[bytes, ...]] | None = None
) -> bytes:
    if seeds is None:
        data = draw(st.sampled_from(seeds_835()) | st.sampled_from(seeds_837()))
    else:
        data = draw(st.sampled_from(seeds()))
    for mutation in draw(st.lists(mutations, min_size=0 if seeds else 1, max_size=count)):
        data = mutation(data)
    return data


# --- what a reader may do ----------------------------------------------------------------------


def outcome(read: Callable[[bytes], Any], data: bytes) -> tuple[str, Any]:
    """``("ok", result)`` or ``("error", the X12Error class)``; anything else fails the test."""
    try:
        return "ok", read(data)
    except X12Error as exc:
        assert str(exc), "an X12Error says what is wrong"
        return "error", type(exc)


def _segment_view(segments: Iterator[Segment]) -> list[tuple[str, tuple[str, ...], int, int]]:
    return [(s.id, tuple(s.fields), s.ordinal, s.offset) for s in segments]


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


READERS: dict[str, Callable[[bytes], Any]] = {
    "segments": lambda b: _segment_view(read_segments(b)),
    "segments-strict": lambda b: _segment_view(read_segments(b, encoding_errors="strict")),
    "envelopes": lambda b: _segment_view(check_envelopes(read_segments(b))),
    "835-events": lambda b: list(iter_835_events(b)),
    "835": lambda b: list(parse_835(b)),
    "837": lambda b: list(read_837p(b)),
}


def check_all_readers(data: bytes) -> dict[str, tuple[str, Any]]:
    results = {name: outcome(read, data) for name, read in READERS.items()}
    status, events = results["835-events"]
    if status == "ok":
        for event in events:
            assert isinstance(event, RemittanceHeader | ClaimPayment | RemittanceSummary)
    return results


# --- properties -------------------------------------------------------------------------------


def test_the_seeds_are_read() -> None:
    """The unmutated seeds: the fuzzing starts from files the readers accept."""
    read = [check_all_readers(data)["segments"][0] == "ok" for data in seeds()]
    assert sum(read) >= len(read) - 4  # a few samples are broken on purpose (no ISA, ...)
    for data in rendered_837s():
        assert outcome(lambda b: list(read_837p(b)), data)[0] == "ok"
    for data in simulated_835s():
        status, remittances = outcome(lambda b: list(parse_835(b)), data)
        assert status == "ok" and all(r.balance.ok for r in remittances)


@fuzz(max_examples=1500)
@given(mutated())
def test_mutated_files_raise_only_typed_x12_errors(data: bytes) -> None:
    check_all_readers(data)


@fuzz(max_examples=300)
@given(mutated(count=2), st.integers(1, 97))
def test_reading_in_chunks_gives_the_same_segments_or_the_same_error(
    data: bytes, size: int
) -> None:
    whole = outcome(READERS["segments"], data)
    chunked = outcome(lambda b: _segment_view(read_segments(_chunks(b, size))), data)
    assert chunked == whole


@fuzz(max_examples=8)
@given(mutated(count=2))
def test_pyx12_never_raises_for_mutated_files(data: bytes) -> None:
    report = validate_x12(data)
    assert report.ok in (True, False)
    for finding in report.findings:
        assert finding.message is not None


# --- what reconciliation makes of what the 835 reader read -------------------------------------


def submitted(claim: Claim) -> ClaimSubmitted:
    """The ``claims.submitted`` event of a claim sent in a validated file."""
    return ClaimSubmitted.of(
        claim,
        file_name="fuzz.837",
        control_numbers=f.NUMBERS,
        submitted_at=NOW,
    )


def claim_payments(data: bytes) -> list[RemittanceClaim]:
    """The ``remits.835.inbound`` claim messages of a file, as ingestion builds them."""
    out: list[RemittanceClaim] = []
    header: RemittanceHeader | None = None
    index = 0
    for event in iter_835_events(data):
        if isinstance(event, RemittanceHeader):
            header, index = event, 0
        elif isinstance(event, ClaimPayment):
            assert header is not None
            index += 1
            body = RemittanceClaim.new(
                remittance_id=remittance_id(header.payer, header.payment),
                index=index,
                payer=header.payer,
                payee=header.payee,
                payment=header.payment,
                claim=event,
                source=RemittanceSource(
                    file_name="fuzz.835",
                    file_sha256="0" * 64,
                    transaction_control_number=header.control_number,
                    ingested_at=NOW,
                ),
            )
            out.append(RemittanceClaim.parse_json(body.model_dump_json()))  # as consumed
    return out


def reconciliation_seeds() -> tuple[bytes, ...]:
    """Mostly answers to the claims reconciliation knows, sometimes foreign 835s."""
    return (*simulated_835s() * 4, *seeds_835())


@fuzz(max_examples=200)
@given(mutated(count=2, seeds=reconciliation_seeds), st.randoms(use_true_random=False))
def test_payments_read_from_mutated_835s_reconcile_without_raising(
    data: bytes, rnd: random.Random
) -> None:
    try:
        payments = claim_payments(data)
    except X12Error:
        return
    events: list[ClaimSubmitted | RemittanceClaim] = [submitted(c) for c in answered_claims()]
    events += payments + payments[: len(payments) // 3]  # some delivered twice
    rnd.shuffle(events)
    ledgers: dict[str, ClaimLedger] = {}
    for item in events:
        if isinstance(item, ClaimSubmitted):
            pcn = item.patient_control_number
            ledger = ledgers.get(pcn) or ClaimLedger.new(patient_control_number=pcn)
            step = on_submitted(ledger, item, NOW)
        else:
            pcn = item.claim.patient_control_number
            ledger = ledgers.get(pcn) or ClaimLedger.new(patient_control_number=pcn)
            step = on_claim_payment(ledger, item, NOW)
        for output in step.outputs:
            if isinstance(output, Versioned):
                type(output).parse_json(output.model_dump_json())  # the next stage reads it
        ledgers[pcn] = ClaimLedger.parse_json(step.ledger.model_dump_json())  # its changelog
    for ledger in ledgers.values():
        ids = [p.posting_id for p in ledger.postings]
        assert len(ids) == len(set(ids))  # each payment posted once
        assert ledger.charge == ledger.paid + ledger.adjusted + ledger.outstanding


# --- regression tests for what fuzzing found ---------------------------------------------------

GOLDEN_837 = DATA / "837" / "golden" / "commercial.x12"
REVERSAL_835 = DATA / "835" / "synthetic-reversal-correction-plb.835"


def _replaced(path: Path, old: str, new: str) -> bytes:
    data = path.read_bytes()
    assert data.count(old.encode()) == 1, old
    return data.replace(old.encode(), new.encode())


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("SE*33*1001~", "SE*3\u00b3*1001~", "SE01 must be a number"),
        ("GE*1*1001~", "GE*\u00b9*1001~", "GE01 must be a number"),
        ("IEA*1*000001001~", "IEA*1*00000100\u00b9~", "IEA02 does not match ISA13"),
        ("SE*33*1001~", "SE*33*100\u00b9~", "SE02 does not match ST02"),
    ],
)
def test_unicode_digits_in_counts_and_control_numbers_are_envelope_errors(
    old: str, new: str, message: str
) -> None:
    # found by test_mutated_files_raise_only_typed_x12_errors: str.isdigit accepts
    # superscript digits, int() does not (ValueError)
    data = _replaced(GOLDEN_837, old, new)
    for read in (READERS["envelopes"], READERS["837"], READERS["835"]):
        with pytest.raises(X12Error):
            read(data)
    with pytest.raises(X12EnvelopeError, match=message):
        READERS["envelopes"](data)


def test_a_unicode_digit_in_lx01_is_an_x837_error() -> None:
    # found by test_mutated_files_raise_only_typed_x12_errors (same cause, LX01)
    data = _replaced(GOLDEN_837, "LX*2~", "LX*\u00b2~")
    with pytest.raises(X837Error, match="LX01 must be a positive number"):
        list(read_837p(data))


def test_a_name_too_long_for_the_contract_is_an_x837_error() -> None:
    # found by test_mutated_files_raise_only_typed_x12_errors: the name model's
    # ValidationError (at most 60 characters) escaped read_837p
    long_name = "Samplesamplesample" * 4
    data = _replaced(GOLDEN_837, "NM1*IL*1*Sample*", f"NM1*IL*1*{long_name}*")
    with pytest.raises(X837Error, match=r"NM1 \(subscriber name\) cannot be read") as caught:
        list(read_837p(data))
    assert long_name not in str(caught.value)  # never a value in an error
    assert "at most 60 characters" in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "element"),
    [
        ("CLP*PCN1002*1*120.00*", "CLP*PCN1002*1*" + "9" * 19 + "*", "CLP03"),
        ("BPR*I*72.50*", "BPR*I*" + "9" * 40 + "*", "BPR02"),
        ("CAS*CO*45*15.00*1~", "CAS*CO*45*-" + "9" * 30 + ".99*1~", "CAS03"),
        (
            "SVC*HC:97140:GP*160.00*130.00**4~",
            "SVC*HC:97140:GP*160.00*130.00**0." + "0" * 18 + "1~",
            "SVC05",
        ),
    ],
)
def test_amounts_with_more_than_18_digits_are_x835_errors(old: str, new: str, element: str) -> None:
    # found by test_mutated_files_raise_only_typed_x12_errors: rounding an unbalanced
    # amount of 29+ digits to the cent raised decimal.InvalidOperation
    data = _replaced(REVERSAL_835, old, new)
    for read in (READERS["835"], READERS["835-events"]):
        with pytest.raises(X835Error, match=f"{element} has more than 18 digits"):
            read(data)


def test_eighteen_digits_still_read_and_an_unbalanced_claim_is_reported() -> None:
    data = _replaced(REVERSAL_835, "CLP*PCN1002*1*120.00*", "CLP*PCN1002*1*9999999999999999.99*")
    [remittance] = parse_835(data)
    assert not remittance.balance.ok
    assert any(e.reference == "PCN1002" for e in remittance.balance.errors)


def test_amounts_with_more_than_18_digits_are_x837_errors() -> None:
    # found with the mutated 837s: read_837p accepted a 40-digit SV102, and the payer
    # simulator then failed to round it (decimal.InvalidOperation)
    data = _replaced(GOLDEN_837, "SV1*HC:97140:GP*90.00*", "SV1*HC:97140:GP*" + "9" * 40 + "*")
    with pytest.raises(X837Error, match="SV102 has more than 18 digits"):
        list(read_837p(data))
    fits = _replaced(GOLDEN_837, "SV1*HC:97140:GP*90.00*", "SV1*HC:97140:GP*9999999999999999.99*")
    [claim] = read_837p(fits)
    assert claim.lines[0].charge == Decimal("9999999999999999.99")


def test_dates_in_other_scripts_digits_are_not_dates() -> None:
    # while fixing the above: "\u0662\u0660..." passed str.isdigit and int() reads it, so
    # a date written in Arabic-Indic digits was taken for CCYYMMDD
    arabic = "".join(chr(0x0660 + int(d)) for d in "20240301")
    data = REVERSAL_835.read_bytes().replace(b"DTM*472*20240301~", f"DTM*472*{arabic}~".encode())
    [remittance] = parse_835(data)
    assert [c.services[0].service_date for c in remittance.claims[:2]] == [None, None]
    assert any(e.reference.endswith("/DTM02") for e in remittance.balance.errors)
