"""The X12 reader, writer and envelope checks (`edi.segments`, `edi.envelope`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edi.envelope import check_envelopes
from edi.segments import (
    DEFAULT_DELIMITERS,
    ISA_LENGTH,
    Delimiters,
    Segment,
    X12DelimiterError,
    X12EncodingError,
    X12EnvelopeError,
    X12Error,
    X12RenderError,
    X12SyntaxError,
    parse_isa,
    read_segments,
    render_isa,
    render_segment,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "835"
PUBLIC = sorted(
    p for p in DATA.iterdir() if p.suffix in (".835", ".txt") and "synthetic" not in p.name
)
VALID_SYNTHETIC = [
    DATA / "synthetic-reversal-correction-plb.835",
    DATA / "synthetic-two-interchanges.835",
    DATA / "synthetic-bom-whitespace.835",
]


def segments(data: bytes, **kwargs: object) -> list[Segment]:
    return list(read_segments(data, **kwargs))


def isa(control: int = 1, delimiters: Delimiters = DEFAULT_DELIMITERS) -> str:
    return render_isa(
        sender_id="SENDER",
        receiver_id="RECEIVER",
        control_number=control,
        created=dt.date(2024, 3, 15),
        created_time=dt.time(9, 30),
        delimiters=delimiters,
    )


def interchange(control: int = 1, body: tuple[str, ...] = ("BPR*I*0*C*NON",)) -> str:
    """A small valid interchange: ISA GS ST <body> SE GE IEA with `*:^~`."""
    segs = [f"ST*835*{control:04d}", *body]
    segs.append(f"SE*{len(segs) + 1}*{control:04d}")
    text = isa(control) + f"GS*HP*S*R*20240315*0930*{control}*X*005010X221A1~"
    text += "".join(s + "~" for s in segs)
    return text + f"GE*1*{control}~IEA*1*{control:09d}~"


def shape(segs: list[Segment]) -> list[tuple[list[str], int, int]]:
    return [(s.fields, s.ordinal, s.offset) for s in segs]


# --- reading the samples -------------------------------------------------------------


@pytest.mark.parametrize("path", PUBLIC + VALID_SYNTHETIC, ids=lambda p: p.name[:60])
def test_offsets_point_at_each_segment_id_and_ordinals_count_up(path: Path) -> None:
    data = path.read_bytes()
    segs = segments(data)
    assert [s.ordinal for s in segs] == list(range(1, len(segs) + 1))
    for seg in segs:
        assert data[seg.offset : seg.offset + len(seg.id)].decode() == seg.id
    assert segs[0].id == "ISA" and segs[-1].id == "IEA"


@pytest.mark.parametrize("path", PUBLIC + VALID_SYNTHETIC, ids=lambda p: p.name[:60])
@pytest.mark.parametrize("size", [1, 2, 7, 105, 106, 107, 4096])
def test_any_chunking_gives_the_same_segments(path: Path, size: int) -> None:
    data = path.read_bytes()
    chunks = (data[i : i + size] for i in range(0, len(data), size))
    assert shape(list(read_segments(chunks))) == shape(segments(data))


def test_a_binary_file_is_read_in_chunks(tmp_path: Path) -> None:
    path = DATA / "synthetic-two-interchanges.835"
    with path.open("rb") as stream:
        from_file = shape(list(read_segments(stream, chunk_size=16)))
    assert from_file == shape(segments(path.read_bytes()))


def test_the_sample_segment_count_matches_its_terminators() -> None:
    data = (DATA / "moov-io_x12__examples_example_5010_835_sample1.txt").read_bytes()
    segs = segments(data)
    assert len(segs) == data.count(b"~") == 66
    assert [s.id for s in segs[:4]] == ["ISA", "GS", "ST", "BPR"]
    bpr = segs[3]
    assert bpr.element(2) == "-6173.5" and bpr.element(16) == "20110726"
    assert bpr.element(40) == ""


def test_isa11_u_means_no_repetition_separator_and_isa16_is_read() -> None:
    segs = segments((DATA / "moov-io_x12__examples_example_5010_835_sample1.txt").read_bytes())
    assert segs[0].delimiters == Delimiters("*", ">", None, "~")
    n1 = next(s for s in segs if s.id == "N1")
    assert n1.element(2) == "INDEPENDENCE BLUE CROSS"  # the 'U' in it is data
    assert n1.repetitions(2) == ["INDEPENDENCE BLUE CROSS"]
    svc = next(s for s in segs if s.id == "SVC")
    assert svc.components(1) == ["HC", "97001"]


def test_two_interchanges_each_with_its_own_delimiters() -> None:
    segs = segments((DATA / "synthetic-two-interchanges.835").read_bytes())
    headers = [s for s in segs if s.id == "ISA"]
    assert [h.delimiters for h in headers] == [
        Delimiters("*", ":", "^", "~"),
        Delimiters("|", ">", "!", "\n"),
    ]
    assert [s.id for s in segs].count("ST") == 3
    second = segs[segs.index(headers[1]) :]
    assert all(s.delimiters == headers[1].delimiters for s in second)
    payer = next(s for s in second if s.id == "N1")
    assert payer.element(2) == "NORTHERN ~ MUTUAL"  # the old terminator is data here
    svc = next(s for s in second if s.id == "SVC")
    assert svc.components(1) == ["HC", "97124", "GP"]
    assert svc.elements == ["HC>97124>GP", "60.00", "45.00", "", "2"]


def test_a_patient_named_isaac_is_data_not_an_interchange() -> None:
    segs = segments((DATA / "synthetic-two-interchanges.835").read_bytes())
    names = [s.element(3) for s in segs if s.id == "NM1"]
    assert names == ["ISAAC", "ISAACSON"]
    assert [s.id for s in segs].count("ISA") == 2


def test_bom_blank_lines_tabs_and_spaces_are_not_data() -> None:
    data = (DATA / "synthetic-bom-whitespace.835").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    segs = segments(data)
    assert segs[0].offset == 3
    clean = b"".join(raw.strip() + b"~" for raw in data[3:].split(b"~") if raw.strip())
    assert [s.fields for s in segs] == [s.fields for s in segments(clean)]


@pytest.mark.parametrize("newline", [b"", b"\n", b"\r\n", b"\r", b" \t "])
def test_any_line_break_after_terminators(newline: bytes) -> None:
    base = (DATA / "synthetic-reversal-correction-plb.835").read_bytes().replace(b"~\r\n", b"~")
    variant = base.replace(b"~", b"~" + newline)
    assert [s.fields for s in segments(variant)] == [s.fields for s in segments(base)]


def test_a_bare_newline_can_be_the_terminator() -> None:
    text = interchange().replace("~", "\n")
    segs = segments(text.encode())
    assert segs[0].delimiters.segment == "\n"
    assert [s.id for s in segs] == ["ISA", "GS", "ST", "BPR", "SE", "GE", "IEA"]


def test_a_last_segment_without_terminator_is_read() -> None:
    segs = segments(interchange().rstrip("~").encode())
    assert segs[-1].fields == ["IEA", "1", "000000001"]


def test_many_interchanges_in_one_chunk() -> None:
    data = "\n".join(interchange(n) for n in range(1, 301)).encode()
    segs = segments(data)
    assert len(segs) == 300 * 7
    assert [s.element(13) for s in segs if s.id == "ISA"][-1] == "000000300"


def test_a_changed_terminator_without_iea_is_still_split_right() -> None:
    first = interchange(1).replace("IEA*1*000000001~", "")
    second = interchange(2).replace("*", "|").replace("~", "\n")
    segs = segments((first + second).encode())
    headers = [s for s in segs if s.id == "ISA"]
    assert [h.delimiters.segment for h in headers] == ["~", "\n"]
    assert segs[-1].fields == ["IEA", "1", "000000002"]
    with pytest.raises(X12EnvelopeError, match="ISA before the IEA"):
        list(check_envelopes(read_segments((first + second).encode())))


def test_the_reader_is_lazy() -> None:
    data = interchange().encode()

    def chunks() -> Iterator[bytes]:
        yield data[:200]
        raise RuntimeError("the rest of the file is not needed yet")

    reader = read_segments(chunks())
    assert next(reader).id == "ISA"
    assert next(reader).id == "GS"
    with pytest.raises(RuntimeError):
        list(reader)


def test_invalid_utf8_is_replaced_or_refused() -> None:
    data = interchange(body=("BPR*I*0*C*NON", "N1*PR*CAF\xe9")).encode("latin-1")
    n1 = next(s for s in segments(data) if s.id == "N1")
    assert n1.element(2) == "CAF\ufffd"
    with pytest.raises(X12EncodingError) as caught:
        segments(data, encoding_errors="strict")
    assert caught.value.ordinal == 5
    assert data[caught.value.offset or 0 :].startswith(b"N1*")


def test_utf8_text_keeps_byte_offsets() -> None:
    data = interchange(body=("BPR*I*0*C*NON", "N1*PR*CAFÉ MÜLLER", "N1*PE*X")).encode()
    segs = segments(data)
    assert next(s for s in segs if s.id == "N1").element(2) == "CAFÉ MÜLLER"
    for seg in segs:
        assert data[seg.offset : seg.offset + len(seg.id)].decode() == seg.id


# --- reader errors -------------------------------------------------------------------


def test_empty_input_has_no_isa() -> None:
    for data in (b"", b"  \r\n", b"\xef\xbb\xbf"):
        with pytest.raises(X12SyntaxError, match="missing ISA") as caught:
            segments(data)
        assert caught.value.ordinal == 1


def test_data_before_the_first_isa() -> None:
    with pytest.raises(X12SyntaxError, match="missing ISA") as caught:
        segments(b"HELLO WORLD~" + interchange().encode())
    assert (caught.value.ordinal, caught.value.offset) == (1, 0)
    assert "segment 1" in str(caught.value) and "byte offset 0" in str(caught.value)


def test_a_file_without_isa() -> None:
    with pytest.raises(X12SyntaxError, match="missing ISA"):
        segments(interchange().encode()[ISA_LENGTH:])


def test_a_truncated_isa_at_the_end_of_input() -> None:
    with pytest.raises(X12SyntaxError, match="truncated ISA") as caught:
        segments(b"\n" + interchange().encode()[:80])
    assert (caught.value.ordinal, caught.value.offset) == (1, 1)


def test_an_isa_that_is_not_fixed_width() -> None:
    with pytest.raises(X12SyntaxError, match="fixed-width") as caught:
        segments((DATA / "synthetic-truncated-isa.835").read_bytes())
    assert (caught.value.ordinal, caught.value.offset) == (1, 0)


def test_isa_delimiters_must_differ() -> None:
    text = isa()
    bad = text[:104] + "~" + text[105:]  # component separator = segment terminator
    with pytest.raises(X12SyntaxError, match="delimiters"):
        segments(bad.encode())


def test_a_malformed_segment_id_is_located_and_not_quoted() -> None:
    text = interchange(body=("BPR*I*0*C*NON", "secret name*1"))
    with pytest.raises(X12SyntaxError, match="invalid segment id") as caught:
        segments(text.encode())
    assert caught.value.ordinal == 5
    assert text.encode()[caught.value.offset or 0 :].startswith(b"secret")
    assert "secret" not in str(caught.value)


def test_data_after_iea_that_is_not_an_isa() -> None:
    data = interchange().encode() + b"\nGS*HP~"
    with pytest.raises(X12SyntaxError, match="after an IEA") as caught:
        segments(data)
    assert caught.value.ordinal == 8
    assert data[caught.value.offset or 0 :] == b"GS*HP~"


def test_a_run_without_terminator_is_refused() -> None:
    head = interchange().encode()[: ISA_LENGTH + 40]
    chunks = [head, *([b"A" * 65536] * 20)]
    with pytest.raises(X12SyntaxError, match="no segment terminator"):
        list(read_segments(iter(chunks)))


def test_all_reader_errors_are_x12_errors() -> None:
    assert issubclass(X12SyntaxError, X12Error)
    assert issubclass(X12EncodingError, X12SyntaxError)
    assert issubclass(X12EnvelopeError, X12Error)
    assert issubclass(X12DelimiterError, X12RenderError)


def test_bytes_are_required() -> None:
    with pytest.raises(TypeError):
        segments("ISA*00*")


# --- envelopes -----------------------------------------------------------------------


def envelope_error(text: str) -> X12EnvelopeError:
    with pytest.raises(X12EnvelopeError) as caught:
        list(check_envelopes(read_segments(text.encode())))
    return caught.value


def test_valid_envelopes_pass_through() -> None:
    text = interchange(1) + interchange(2)
    assert len(list(check_envelopes(read_segments(text.encode())))) == 14


@pytest.mark.parametrize(
    ("change", "message", "segment_id"),
    [
        (("SE*3*0001", "SE*4*0001"), "SE01 says 4 segments, the transaction has 3", "SE"),
        (("SE*3*0001", "SE*3*0002"), "SE02 does not match ST02", "SE"),
        (("GE*1*1~", "GE*2*1~"), "GE01 says 2", "GE"),
        (("GE*1*1~", "GE*1*9~"), "GE02 does not match GS06", "GE"),
        (("IEA*1*", "IEA*3*"), "IEA01 says 3", "IEA"),
        (("IEA*1*000000001", "IEA*1*000000002"), "IEA02 does not match ISA13", "IEA"),
        (("SE*3*0001~", ""), "GE inside a transaction set: missing SE", "GE"),
        (("GE*1*1~", ""), "IEA inside a functional group: missing GE", "IEA"),
        (("ST*835*0001~", ""), "BPR outside a transaction set", "BPR"),
    ],
)
def test_envelope_mismatches_are_located(
    change: tuple[str, str], message: str, segment_id: str
) -> None:
    text = interchange().replace(*change)
    error = envelope_error(text)
    assert message in str(error)
    found = text.encode()[error.offset or 0 :]
    assert found.startswith(segment_id.encode())


def test_a_missing_iea_is_reported_at_the_end() -> None:
    data = (DATA / "synthetic-missing-iea.835").read_bytes()
    with pytest.raises(X12EnvelopeError, match="missing IEA") as caught:
        list(check_envelopes(read_segments(data)))
    last = list(read_segments(data))[-1]
    assert (caught.value.ordinal, caught.value.offset) == (last.ordinal, last.offset)
    assert last.id == "GE"


def test_a_control_number_used_twice_in_a_group() -> None:
    text = interchange()
    st_to_se = text[text.index("ST*") : text.index("GE*")]
    text = text.replace(st_to_se, st_to_se * 2).replace("GE*1*", "GE*2*")
    assert "used twice" in str(envelope_error(text))


# --- writing -------------------------------------------------------------------------


def test_render_a_segment_with_composites_and_empty_elements() -> None:
    text = render_segment("CLM", ["PCN1", "100", None, "", ("11", "B", "1"), "Y"])
    assert text == "CLM*PCN1*100***11:B:1*Y~"


def test_trailing_empty_elements_and_components_are_trimmed() -> None:
    assert render_segment("SV1", [("HC", "97140", "", None), "40", "", None]) == "SV1*HC:97140*40~"
    assert render_segment("REF", ["6R", "L1", ""]) == "REF*6R*L1~"
    assert render_segment("SE", []) == "SE~"


def test_render_with_other_delimiters() -> None:
    delimiters = Delimiters(element="|", component=">", repetition="!", segment="\n")
    assert (
        render_segment("SV1", [("HC", "97140", "GP"), "40"], delimiters) == "SV1|HC>97140>GP|40\n"
    )


@pytest.mark.parametrize(
    ("elements", "where"),
    [
        (["QC", "1", "O*BRIEN"], "NM103"),
        (["QC", "1", "A:B"], "NM103"),
        (["QC", "1", "A^B"], "NM103"),
        (["QC", "1", "A~B"], "NM103"),
        (["QC", "1", "A\nB"], "NM103"),
        (["QC", ("X", "Y*Z")], "NM102-2"),
    ],
)
def test_a_delimiter_in_a_value_names_the_position_not_the_value(
    elements: list[object], where: str
) -> None:
    with pytest.raises(X12DelimiterError) as caught:
        render_segment("NM1", elements)
    message = str(caught.value)
    assert where in message
    assert "BRIEN" not in message and "Y*Z" not in message


def test_render_refuses_a_bad_id_or_non_text() -> None:
    with pytest.raises(X12RenderError, match="segment id"):
        render_segment("nm1", ["QC"])
    with pytest.raises(X12RenderError, match="SV102: expected text"):
        render_segment("SV1", ["HC", 40])


@pytest.mark.parametrize(
    "delimiters",
    [("*", "*", "^", "~"), ("*", ":", "^", "A"), ("**", ":", "^", "~"), ("*", ":", " ", "~")],
)
def test_delimiters_must_be_distinct_single_punctuation(delimiters: tuple[str, ...]) -> None:
    with pytest.raises(X12SyntaxError):
        Delimiters(*delimiters)


_SAFE = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="*:^~"), max_size=12)
_SAFE_TEXT = _SAFE.filter(lambda s: not any(ord(c) < 32 or ord(c) == 127 for c in s))


@given(st.lists(_SAFE_TEXT, min_size=1, max_size=8))
def test_rendered_segments_read_back(values: list[str]) -> None:
    values = [v.strip() for v in values]
    rendered = render_segment("NTE", values)
    text = isa() + rendered
    seg = segments(text.encode())[1]
    expected = list(values)
    while expected and not expected[-1]:
        expected.pop()
    assert seg.elements == expected


def test_render_isa_is_fixed_width_and_reads_back() -> None:
    text = isa(42)
    assert len(text) == ISA_LENGTH
    fields, delimiters = parse_isa(text.encode(), ordinal=1, offset=0)
    assert delimiters == Delimiters()
    assert fields[6] == "SENDER".ljust(15) and fields[8] == "RECEIVER".ljust(15)
    assert fields[2] == " " * 10 and fields[9:11] == ["240315", "0930"]
    assert fields[11:17] == ["^", "00501", "000000042", "0", "P", ":"]


def test_render_isa_with_other_delimiters() -> None:
    delimiters = Delimiters(element="|", component=">", repetition="!", segment="\n")
    text = isa(7, delimiters)
    assert len(text) == ISA_LENGTH
    assert (text[3], text[82], text[104], text[105]) == ("|", "!", ">", "\n")


@pytest.mark.parametrize(
    ("kwargs", "where"),
    [
        ({"sender_id": "X" * 16}, "ISA06"),
        ({"receiver_id": "X" * 16}, "ISA08"),
        ({"sender_qualifier": "ZZZ"}, "ISA05"),
        ({"control_number": 0}, "ISA13"),
        ({"control_number": 1_000_000_000}, "ISA13"),
        ({"sender_id": "A*B"}, "ISA06"),
    ],
)
def test_render_isa_refuses_bad_values(kwargs: dict[str, object], where: str) -> None:
    arguments: dict[str, object] = {
        "sender_id": "S",
        "receiver_id": "R",
        "control_number": 1,
        "created": dt.date(2024, 1, 1),
        "created_time": dt.time(0, 0),
        **kwargs,
    }
    with pytest.raises(X12RenderError, match=where):
        render_isa(**arguments)
