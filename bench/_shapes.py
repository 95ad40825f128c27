"""Large synthetic X12 files of the shapes that used to exhaust the readers' memory.

Each writer streams its file to ``path`` until it reaches about ``target`` bytes
(memory does not grow with the size) and returns what it holds.  Delimiters are
``*``, ``:``, ``^`` and ``~`` with a line break after each segment; every file is
valid X12 as far as the envelopes go (SE01, GE01 and IEA01 count what they should),
and the 835s balance.

* :func:`write_999`: 999 acknowledgements; ``per_transaction`` AK2 loops in each
  999 transaction set (``None``: all of them in one), one in ten rejected with an
  IK3 and two IK4;
* :func:`write_277`: a 277CA; ``per_transaction`` claims per transaction set, each
  with one or two service lines;
* :func:`write_835`: one 835 transaction set whose claims have ``lines`` service
  lines each (``claims=1`` and a large ``lines``: one claim with very many lines);
* :func:`write_837`: an 837P whose claims have ``lines`` service lines each,
  ``per_transaction`` claims per transaction set.

Nothing here runs on import; the memory benchmark (``bench/bench_reader_memory.py``)
and the unit test of the readers' memory (``tests/unit/test_reader_memory.py``) use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_ISA = (
    "ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*{receiver:<15}*240401*1200*^*00501"
    "*000000001*0*T*:~\n"
)
_GS = "GS*{code}*{sender}*{receiver}*20240401*1200*1*X*{guide}~\n"
_TAIL = "GE*{transactions}*1~\nIEA*1*000000001~\n"
#: Items written at a time (so a file of one huge transaction is never held whole).
_BLOCK = 10_000


def _write(
    path: Path,
    header: str,
    transactions: Iterator[tuple[str, int]],
) -> dict[str, Any]:
    """Write the interchange: ``header`` (ISA, GS), each transaction's text, GE and IEA."""
    count = 0
    with path.open("w", encoding="ascii", newline="") as out:
        out.write(header)
        for text, _items in transactions:
            out.write(text)
            count += text.startswith("ST*")
        out.write(_TAIL.format(transactions=count))
    return {"bytes": path.stat().st_size, "transactions": count}


def _chunks(total: int, per: int | None) -> Iterator[tuple[int, int]]:
    """(first, count) of each transaction when ``total`` items go ``per`` to a transaction."""
    size = per or total
    for first in range(0, total, size):
        yield first, min(size, total - first)


def _blocks(line: Callable[[int], str], count: int) -> Iterator[str]:
    """``line(0) + line(1) + ...`` for ``count`` lines, a block of lines at a time."""
    for start in range(0, count, _BLOCK):
        yield "".join(line(n) for n in range(start, min(start + _BLOCK, count)))


def _lines(line: Callable[[int], str], count: int) -> Callable[[], Iterator[str]]:
    """The lines of every claim: joined once when they are few, else written block by block."""
    if count > _BLOCK:
        return lambda: _blocks(line, count)
    text = "".join(line(n) for n in range(count))
    return lambda: iter((text,))


def _sized(one: Callable[[int], str], target: int, overhead: int = 400) -> int:
    """How many items of the size of ``one(0)`` fit in ``target`` bytes."""
    return max(1, (target - overhead) // max(1, len(one(0))))


# --- 999 ------------------------------------------------------------------------------------


def _ak2(n: int) -> str:
    if n % 10 == 9:
        return (
            f"AK2*837*{n % 1_000_000_000:09d}*005010X222A1~\nIK3*NM1*{n % 97 + 5}*2010BA*8~\n"
            "IK4*3**7~\nIK4*9**6~\nIK5*R*5~\n"
        )
    return f"AK2*837*{n % 1_000_000_000:09d}*005010X222A1~\nIK5*A~\n"


def write_999(path: Path, target: int, per_transaction: int | None = None) -> dict[str, Any]:
    """999s acknowledging ``target`` bytes' worth of our transaction sets (see the module)."""
    total = _sized(_ak2, target)

    def transactions() -> Iterator[tuple[str, int]]:
        for number, (first, count) in enumerate(_chunks(total, per_transaction), start=1):
            rejected = sum(1 for n in range(first, first + count) if n % 10 == 9)
            accepted = count - rejected
            segments = 2 * accepted + 5 * rejected + 4
            control = f"{number:09d}"
            yield f"ST*999*{control}*005010X231A1~\nAK1*HC*{number}*005010X222A1~\n", 0
            for start in range(first, first + count, _BLOCK):
                end = min(start + _BLOCK, first + count)
                yield "".join(_ak2(n) for n in range(start, end)), end - start
            yield f"AK9*P*{count}*{count}*{accepted}~\nSE*{segments}*{control}~\n", 0

    header = _ISA.format(sender="PAYERFRONTDOOR", receiver="CLAIMSENGINE") + _GS.format(
        code="FA", sender="PAYER", receiver="CLAIMS", guide="005010X231A1"
    )
    info = _write(path, header, transactions())
    info.update(shape="999", acknowledged=total, per_transaction=per_transaction or total)
    return info


# --- 277CA ------------------------------------------------------------------------------------


def _claim_277(n: int) -> str:
    lines = 2 if n % 2 else 1
    text = (
        f"HL*{n + 4}*3*PT~\nNM1*QC*1*DOE*JANE****MI*M{n:09d}~\nTRN*2*PCN{n:09d}~\n"
        f"STC*A2:20*20240401*WQ*{100 * lines}.00~\nREF*1K*PAY{n:09d}~\nDTP*472*D8*20240325~\n"
    )
    for line in range(1, lines + 1):
        text += (
            f"SVC*HC:97140*100.00*****4~\nSTC*A2:20*20240401*WQ~\nREF*FJ*PCN{n:09d}-{line}~\n"
            "DTP*472*D8*20240325~\n"
        )
    return text


def write_277(path: Path, target: int, per_transaction: int | None = None) -> dict[str, Any]:
    """A 277CA acknowledging ``target`` bytes' worth of claims (see the module)."""
    total = _sized(_claim_277, target)

    def transactions() -> Iterator[tuple[str, int]]:
        for number, (first, count) in enumerate(_chunks(total, per_transaction), start=1):
            control = f"{number:09d}"
            head = (
                f"ST*277*{control}*005010X214~\nBHT*0085*08*BATCH{number}*20240401*1200*TH~\n"
                "HL*1**20*1~\nNM1*PR*2*EXAMPLE HEALTH PLAN*****PI*EXHP1~\nTRN*1*1~\n"
                "DTP*050*D8*20240401~\nDTP*009*D8*20240401~\nHL*2*1*21*1~\n"
                "NM1*41*2*CLAIMS ENGINE*****46*CLAIMSENGINE~\nTRN*2*BATCH1~\n"
                "STC*A1:20*20240401*WQ*100.00~\nHL*3*2*19*1~\n"
                "NM1*85*2*SPRINGFIELD MASSAGE*****XX*1234567893~\nTRN*1*PROVIDER1~\n"
                "STC*A1:20*20240401*WQ*100.00~\n"
            )
            yield head, 0
            segments = head.count("~") + 1
            for start in range(first, first + count, _BLOCK):
                body = "".join(
                    _claim_277(n) for n in range(start, min(start + _BLOCK, first + count))
                )
                segments += body.count("~")
                yield body, min(start + _BLOCK, first + count) - start
            yield f"SE*{segments}*{control}~\n", 0

    header = _ISA.format(sender="PAYERFRONTDOOR", receiver="CLAIMSENGINE") + _GS.format(
        code="HN", sender="PAYER", receiver="CLAIMS", guide="005010X214"
    )
    info = _write(path, header, transactions())
    info.update(shape="277", claims=total, per_transaction=per_transaction or total)
    return info


# --- 835 --------------------------------------------------------------------------------------


def _service_835(n: int) -> str:
    return (
        f"SVC*HC:97140:GP*100.00*80.00**4~\nDTM*472*20240301~\nCAS*CO*45*20.00~\nREF*6R*L{n:09d}~\n"
    )


def write_835(
    path: Path, target: int, lines: int | None = None, claims: int | None = None
) -> dict[str, Any]:
    """One 835 transaction set of balanced claims, ``lines`` service lines each.

    Give ``lines`` (claims as many as fit) or ``claims`` (lines as many as fit)."""
    service = len(_service_835(0))
    claim_head = len(_clp(0, 1))
    if lines is None:
        count = claims or 1
        lines = max(1, (target - 700) // count // service)
    else:
        count = max(1, (target - 700) // (claim_head + lines * service))
    services = _lines(_service_835, lines)
    head = (
        "ST*835*0001~\n"
        f"BPR*I*{80 * lines * count}.00*C*ACH*CCP*01*011000015*DA*123456*1512345678**01*021000021"
        "*DA*98765*20240315~\nTRN*1*EFT0000123*1512345678~\nDTM*405*20240315~\n"
        "N1*PR*GREEN MOUNTAIN HEALTH PLAN*XV*GMHP01~\n"
        "N1*PE*SUNRISE MASSAGE THERAPY*XX*1234567893~\n"
        "LX*1~\n"
    )

    def transactions() -> Iterator[tuple[str, int]]:
        yield head, 0
        for n in range(count):
            yield _clp(n, lines), 1
            for block in services():
                yield block, 0
        segments = head.count("~") + count * (1 + 4 * lines) + 1
        yield f"SE*{segments}*0001~\n", 0

    header = _ISA.format(sender="MASSAGEPAYER", receiver="SUNRISEMT") + _GS.format(
        code="HP", sender="MASSAGEPAYER", receiver="SUNRISEMT", guide="005010X221A1"
    )
    info = _write(path, header, transactions())
    info.update(shape="835", claims=count, lines_per_claim=lines)
    return info


def _clp(n: int, lines: int) -> str:
    return f"CLP*PCN{n:09d}*1*{100 * lines}.00*{80 * lines}.00**12*PAY{n:09d}~\n"


# --- 837P -------------------------------------------------------------------------------------

_HEAD_837 = (
    "BHT*0019*00*{control}*20240401*1200*CH~\nNM1*41*2*CLAIMS ENGINE*****46*CLAIMSENGINE~\n"
    "PER*IC*BILLING DESK*TE*5555550100~\nNM1*40*2*EXAMPLE HEALTH PLAN*****46*EXHP1~\n"
    "HL*1**20*1~\nNM1*85*2*SPRINGFIELD MASSAGE*****XX*1234567893~\nN3*100 TEST WAY~\n"
    "N4*SPRINGFIELD*IL*627010001~\nREF*EI*123456789~\nHL*2*1*22*0~\nSBR*P*18*GRP001******CI~\n"
    "NM1*IL*1*SAMPLE*PAT****MI*MBR123456~\nNM1*PR*2*EXAMPLE HEALTH PLAN*****PI*EXHP1~\n"
)


def _line_837(n: int) -> str:
    return (
        f"LX*{n % 999_999 + 1}~\nSV1*HC:97140:GP*40.00*UN*1***1~\nDTP*472*D8*20240325~\n"
        f"REF*6R*L{n:09d}~\n"
    )


def _clm(n: int, lines: int) -> str:
    return f"CLM*PCN{n:09d}*{40 * lines}.00***11:B:1*Y*A*Y*Y~\nHI*ABK:M5450~\n"


def write_837(
    path: Path,
    target: int,
    lines: int | None = None,
    per_transaction: int = 5000,
    claims: int | None = None,
) -> dict[str, Any]:
    """An 837P of claims with ``lines`` service lines each, ``per_transaction`` claims per
    transaction set.  Give ``lines`` (claims as many as fit) or ``claims`` (lines as many
    as fit)."""
    line = len(_line_837(0))
    if lines is None:
        count = claims or 1
        lines = max(1, (target - 1200) // count // line)
    else:
        count = max(1, (target - 1200) // (len(_clm(0, lines)) + lines * line + 10))
    body = _lines(_line_837, lines)

    def transactions() -> Iterator[tuple[str, int]]:
        for number, (first, size) in enumerate(_chunks(count, per_transaction), start=1):
            control = f"{number:09d}"
            head = f"ST*837*{control}*005010X222A1~\n" + _HEAD_837.format(control=control)
            yield head, 0
            for n in range(first, first + size):
                yield _clm(n, lines), 1
                for block in body():
                    yield block, 0
            segments = head.count("~") + size * (2 + 4 * lines) + 1
            yield f"SE*{segments}*{control}~\n", 0

    header = _ISA.format(sender="CLAIMSENGINE", receiver="EXAMPLEPAYER") + _GS.format(
        code="HC", sender="CLAIMSENGINE", receiver="EXAMPLEPAYER", guide="005010X222A1"
    )
    info = _write(path, header, transactions())
    info.update(shape="837", claims=count, lines_per_claim=lines, per_transaction=per_transaction)
    return info
