"""Benchmark of the 835 reader: parse time and peak RSS on a generated 100,000-claim file.

    .venv/bin/python bench/bench_835_memory.py                   # 100,000 claims, one transaction
    .venv/bin/python bench/bench_835_memory.py --per-transaction 1000 --pyx12

Writes a balanced 835 (massage claims, one service line each, about ten segments
per claim) to a temporary file with the project's own X12 writer, then measures
each mode in a fresh subprocess so the peak RSS (``resource.getrusage``) belongs to
that mode alone:

* ``segments``: :func:`edi.segments.read_segments` only (tokenizing);
* ``events``: :func:`edi.x835.iter_835_events`, claim by claim (what the CLI uses);
* ``cli-json``: ``parse_835_main(path, as_json=True)`` with the output thrown away;
* ``remittances``: :func:`edi.x835.parse_835`, one whole transaction at a time
  (holds every claim of a transaction: with one 100,000-claim transaction this is
  the worst case);
* ``pyx12`` (with ``--pyx12``): pyx12's ``X12Reader`` over the same file, for comparison.

The goal is a peak RSS under 200 MB for the streaming modes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MODES = ("segments", "events", "cli-json", "remittances")
GOAL_MB = 200


def generate(claims: int, per_transaction: int) -> Iterator[str]:
    """The 835 text, piece by piece: ``per_transaction`` claims per ST..SE."""
    from edi.segments import render_isa, render_segment

    yield (
        render_isa(
            sender_id="BENCHPAYER",
            receiver_id="BENCHCLINIC",
            control_number=1,
            created=dt.date(2024, 1, 1),
            created_time=dt.time(12, 0),
        )
        + "\n"
    )
    yield (
        render_segment(
            "GS", ["HP", "BENCHPAYER", "BENCHCLINIC", "20240101", "1200", "1", "X", "005010X221A1"]
        )
        + "\n"
    )
    transactions = 0
    for first in range(0, claims, per_transaction):
        transactions += 1
        count = min(per_transaction, claims - first)
        control = f"{transactions:04d}"
        head = [
            ("ST", ["835", control]),
            ("BPR", ["I", f"{count * 70}.00", "C", "ACH", "CCP", "01", "011000015", "DA",
                     "123456", "1512345678", "", "01", "021000021", "DA", "98765", "20240105"]),
            ("TRN", ["1", f"EFT{transactions:06d}", "1512345678"]),
            ("DTM", ["405", "20240105"]),
            ("N1", ["PR", "GREEN MOUNTAIN HEALTH PLAN", "XV", "GMHP01"]),
            ("N1", ["PE", "SUNRISE MASSAGE THERAPY", "XX", "1234567893"]),
            ("REF", ["TJ", "030123456"]),
            ("LX", ["1"]),
        ]  # fmt: skip
        yield "".join(render_segment(i, e) + "\n" for i, e in head)
        for n in range(first, first + count):
            yield "".join(
                render_segment(i, e) + "\n"
                for i, e in (
                    ("CLP", [f"PCN{n:09d}", "1", "100.00", "70.00", "20.00", "12", f"PAY{n}"]),
                    ("CAS", ["CO", "45", "10.00"]),
                    ("NM1", ["QC", "1", "DOE", "JANE", "", "", "", "MI", f"M{n:09d}"]),
                    ("DTM", ["232", "20240102"]),
                    ("SVC", [("HC", "97140", "GP"), "100.00", "80.00", "", "4"]),
                    ("DTM", ["472", "20240102"]),
                    ("CAS", ["PR", "1", "20.00"]),
                    ("REF", ["6R", f"L{n:09d}"]),
                    ("AMT", ["B6", "90.00"]),
                    ("LQ", ["HE", "N130"]),
                )
            )
        yield render_segment("SE", [str(len(head) + 1 + 10 * count), control]) + "\n"
    yield render_segment("GE", [str(transactions), "1"]) + "\n"
    yield render_segment("IEA", ["1", "000000001"]) + "\n"


def child(mode: str, path: str) -> None:
    """Run one mode in this process and print its measurements as JSON."""
    started_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    from edi.segments import read_segments
    from edi.x835 import iter_835_events, parse_835

    imported_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    count = 0
    if mode == "segments":
        with open(path, "rb") as stream:
            count = sum(1 for _ in read_segments(stream))
    elif mode == "events":
        with open(path, "rb") as stream:
            count = sum(1 for _ in iter_835_events(stream))
    elif mode == "remittances":
        with open(path, "rb") as stream:
            count = sum(len(r.claims) for r in parse_835(stream))
    elif mode == "cli-json":
        from workers.commands.edi835 import parse_835_main

        with open(os.devnull, "w") as sink:
            status = parse_835_main(path, True, out=sink, err=sys.stderr)
        assert status == 0
    elif mode == "pyx12":
        from pyx12.x12file import X12Reader

        with open(path) as stream:
            count = sum(1 for _ in X12Reader(stream))
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "mode": mode,
                "seconds": seconds,
                "count": count,
                "peak_rss_mb": peak / 1024,
                "rss_before_import_mb": started_rss / 1024,
                "rss_after_import_mb": imported_rss / 1024,
            }
        )
    )


def measure(mode: str, path: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def count_segments(path: Path) -> int:
    from edi.segments import read_segments

    with path.open("rb") as stream:
        return sum(1 for _ in read_segments(stream))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--per-transaction", type=int, default=0, help="0: all in one")
    parser.add_argument("--modes", nargs="*", default=list(MODES))
    parser.add_argument("--pyx12", action="store_true", help="also time pyx12's X12Reader")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0
    modes = [*args.modes, *(["pyx12"] if args.pyx12 else [])]
    per_transaction = args.per_transaction or args.claims
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.835"
        with path.open("w", encoding="ascii") as out:
            out.writelines(generate(args.claims, per_transaction))
        size_mb = path.stat().st_size / 2**20
        segments = count_segments(path)
        print(
            f"{args.claims} claims, {per_transaction} per transaction, "
            f"{segments} segments, {size_mb:.1f} MiB; {os.cpu_count()} CPUs; "
            f"Python {sys.version.split()[0]}"
        )
        print(f"{'mode':<12} {'seconds':>8} {'segments/s':>11} {'peak RSS MB':>12}  goal")
        failed = False
        for mode in modes:
            result = measure(mode, path)
            rate = segments / result["seconds"]
            streaming = mode in ("segments", "events", "cli-json")
            verdict = ""
            if streaming:
                ok = result["peak_rss_mb"] < GOAL_MB
                failed |= not ok
                verdict = f"< {GOAL_MB} MB " + ("ok" if ok else "MISSED")
            print(
                f"{mode:<12} {result['seconds']:>8.2f} {rate:>11,.0f} "
                f"{result['peak_rss_mb']:>12.1f}  {verdict}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
