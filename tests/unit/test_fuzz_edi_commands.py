"""Fuzzing every X12 reader and every ``claims edi`` command over mutated sample files.

Whatever the bytes, each reader (835, 837P, 999, 277, streamed and whole) gives a
result or its typed error (an :class:`edi.segments.X12Error`), and each command --
``claims edi parse-835|parse-999|parse-277|validate|ack-835|render-837`` and
``claims simulate-payer`` -- exits 0, 1 or 2 with no traceback, within a bounded
memory.  The commands run in this process through the ``claims`` entry point
(:func:`workers.cli.main`, output captured): an exception escaping it is the
traceback a user would have seen.

The seeds are the public and synthetic samples under ``tests/data/`` (835, 837P,
999, 277).  The mutations are those of ``tests/unit/test_fuzz_readers.py``
(byte flips, insertions of non-UTF-8 bytes and other scripts' digits, segment
deletion, duplication and swaps, truncation, delimiter swaps, ISA damage,
awkward element values) plus numbers that used to escape as Python errors:
5,000-digit counts, ``1E+30``, ``1_000``, other scripts' digits.  Memory: the
process's peak RSS is reset before each example (``/proc/self/clear_refs``) and
must stay within :data:`MAX_RSS_GROWTH_MB` of what it was.  Seeds are fixed
(``derandomize``); the whole module takes about a minute.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edi.segments import X12Error
from edi.x277 import iter_277_events, parse_277
from edi.x835 import iter_835_events, parse_835
from edi.x837p import read_837p
from edi.x999 import iter_999_events, parse_999
from tests import claim_factories as f
from tests.fuzzing import fuzz
from tests.unit.test_fuzz_readers import _element, _flip, _insert, _truncate, mutations, positions
from workers.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
#: Peak RSS growth allowed while one mutated sample (a few KB) goes through a command.
MAX_RSS_GROWTH_MB = 200
HUGE = "9" * 5000

#: Numbers that Python converts or parses but X12 does not allow.
BAD_NUMBERS = (HUGE, "-" + HUGE, "1E+30", "1e5", "1_000", "\u0661\u0662", "\uff11", "Infinity")


@cache
def seeds() -> dict[str, tuple[bytes, ...]]:
    """The sample files of each kind."""
    folders = {
        "835": [DATA / "835"],
        "837": [DATA / "837" / "samples", DATA / "837" / "golden"],
        "999": [DATA / "999"],
        "277": [DATA / "277"],
    }
    return {
        kind: tuple(
            path.read_bytes()
            for folder in paths
            for path in sorted(folder.iterdir())
            if path.suffix != ".md"
        )
        for kind, paths in folders.items()
    }


#: Element values replaced by the numbers above (amounts, counts, control numbers).
bad_numbers = st.builds(_element, positions, st.sampled_from(BAD_NUMBERS), st.just("number"))


@st.composite
def mutated(draw: st.DrawFn, kinds: tuple[str, ...] = ("835", "837", "999", "277")) -> bytes:
    kind = draw(st.sampled_from(kinds))
    data = draw(st.sampled_from(seeds()[kind]))
    for mutation in draw(st.lists(mutations | bad_numbers, min_size=1, max_size=3)):
        data = mutation(data)
    return data


# --- the readers --------------------------------------------------------------------------------

READERS: dict[str, Callable[[bytes], Any]] = {
    "835-events": lambda b: list(iter_835_events(b)),
    "835": lambda b: list(parse_835(b)),
    "837": lambda b: list(read_837p(b)),
    "999-events": lambda b: list(iter_999_events(b)),
    "999": parse_999,
    "277-events": lambda b: list(iter_277_events(b)),
    "277": parse_277,
}


def test_every_reader_reads_its_own_seeds() -> None:
    for kind, name in (("835", "835"), ("837", "837"), ("999", "999"), ("277", "277")):
        read = [_read(READERS[name], data) for data in seeds()[kind]]
        # many public samples break a rule (SE01 counts, X222A2 claims without CLM05-3...)
        assert sum(status == "ok" for status in read) >= len(read) // 3, kind


def _read(read: Callable[[bytes], Any], data: bytes) -> str:
    try:
        read(data)
    except X12Error as exc:
        assert str(exc)
        return "error"
    return "ok"


@fuzz(max_examples=1000)
@given(mutated())
def test_every_reader_gives_a_result_or_its_typed_error(data: bytes) -> None:
    for read in READERS.values():
        _read(read, data)  # anything but an X12Error fails the test


# --- the commands -------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # the peak RSS (VmHWM) starts again from the current RSS
    except OSError:
        return False
    return True


def claims(argv: list[str]) -> tuple[int, str, str]:
    """``claims ARGV`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    resettable = _reset_peak_rss()
    before = _peak_rss_mb()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    if resettable:
        growth = _peak_rss_mb() - before
        assert growth < MAX_RSS_GROWTH_MB, f"claims {' '.join(argv[:2])}: +{growth:.0f} MB"
    assert status in (0, 1, 2), (argv[:2], status, err.getvalue()[-500:])
    assert "Traceback" not in err.getvalue()
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-edi")


#: The commands that read an X12 file, without pyx12 (fast).
READING = [
    ["edi", "parse-835"],
    ["edi", "parse-835", "--json"],
    ["edi", "parse-999"],
    ["edi", "parse-999", "--json"],
    ["edi", "parse-277"],
    ["edi", "parse-277", "--json"],
    ["simulate-payer"],
]


@fuzz(max_examples=500)
@given(data=mutated(), command=st.sampled_from(READING))
def test_the_reading_commands_exit_0_1_or_2_without_a_traceback(
    workdir: Path, data: bytes, command: list[str]
) -> None:
    path = workdir / "mutated.x12"
    path.write_bytes(data)
    claims([*command, str(path)])


@fuzz(max_examples=50)
@given(data=mutated(kinds=("835", "837")))
def test_the_pyx12_commands_exit_0_1_or_2_without_a_traceback(
    workdir: Path, data: bytes
) -> None:
    path = workdir / "mutated-pyx12.x12"
    path.write_bytes(data)
    claims(["edi", "validate", str(path)])
    answer = workdir / "answer.999"
    answer.unlink(missing_ok=True)
    claims(["edi", "ack-835", str(path), "--out", str(answer)])


def test_ack_835_exits_2_when_its_answer_exists_already(workdir: Path) -> None:
    # found by the fuzz test: the atomic writer's refusal used to escape as a traceback
    answer = workdir / "existing.999"
    answer.write_text("")
    sample = DATA / "835" / "synthetic-reversal-correction-plb.835"
    status, out, err = claims(["edi", "ack-835", str(sample), "--out", str(answer)])
    assert (status, out) == (2, "") and "cannot write" in err and "already exists" in err


@cache
def claim_lines() -> bytes:
    """Claims as ``claims edi render-837`` takes them (JSON lines)."""
    rows = [f.commercial_claim(), f.auto_pip_claim(), f.workers_comp_claim()]
    return "".join(claim.model_dump_json() + "\n" for claim in rows).encode()


json_mutations = st.one_of(
    st.builds(_flip, positions, st.integers(0, 255)),
    st.builds(_flip, positions, st.sampled_from(b'{}[]",:0123456789-.e ')),
    st.builds(_insert, positions, st.sampled_from([b"\xff", b"\n", b'"', HUGE.encode(), b"1E+30"])),
    st.builds(_truncate, positions),
)


@fuzz(max_examples=60)
@given(mutations_=st.lists(json_mutations, min_size=1, max_size=3))
def test_render_837_exits_0_1_or_2_without_a_traceback(
    workdir: Path, mutations_: list[Callable[[bytes], bytes]]
) -> None:
    data = claim_lines()
    for mutation in mutations_:
        data = mutation(data)
    path = workdir / "claims.jsonl"
    path.write_bytes(data)
    claims(["edi", "render-837", str(path)])


def test_the_commands_cover_every_edi_subcommand() -> None:
    from workers.cli import build_parser

    parser = build_parser()
    edi = next(
        action.choices["edi"]
        for action in parser._actions
        if getattr(action, "choices", None) and "edi" in action.choices
    )
    actions = next(a for a in edi._actions if getattr(a, "choices", None))
    covered = {c[1] for c in READING if c[0] == "edi"} | {"validate", "ack-835", "render-837"}
    assert set(actions.choices) == covered


def test_special_files_are_refused_by_every_command(workdir: Path) -> None:
    fifo = workdir / "pipe.x12"
    if not fifo.exists():
        os.mkfifo(fifo)
    for command in [*READING, ["edi", "validate"], ["edi", "ack-835"]]:
        for path in ("/dev/zero", str(fifo)):
            status, out, err = claims([*command, path])
            assert (status, out) == (2, "") and "not a regular file" in err, command
