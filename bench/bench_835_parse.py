"""835 parsing (parse + model + balance) against pyx12 on the same file, plus peak memory.

    .venv/bin/python bench/bench_835_parse.py            # 1,000 / 10,000 claims; memory: 100,000
    .venv/bin/python bench/bench_835_parse.py --quick    # 200 claims; memory: 5,000
    .venv/bin/python bench/bench_835_parse.py --no-memory

The 835s are the payer simulator's answers (``workers.payer_sim.adjudicate``) to
837P files of 500 claims rendered by ``render_837p`` from claims made by the
project's cores (``bench/_data.py``): one interchange per payer, one transaction
per billing provider, 2 to 4 service lines per claim, denials, reversals, PLB.
Speed is measured pinned to one CPU, on the file on disk (page cache), each
figure the median of several runs, in CPU seconds of this process (equal to wall
time on an idle machine, and unlike it not inflated when other processes share
the core; the wall-clock medians are in the JSON line):

* ``ours events``: :func:`edi.x835.iter_835_events` -- tokenizing, envelope
  checks, the pydantic models of every claim and line, and balancing (every
  transaction must come out balanced);
* ``ours parse_835``: :func:`edi.x835.parse_835` (whole remittances);
* ``ours segments``: :func:`edi.segments.read_segments` alone (tokenizer);
* baselines measured in the same run: pyx12's validating read
  (``x12n_document``, called as ``edi/validate.py`` calls it) and pyx12's bare
  segment reader (``pyx12.x12file.X12Reader``, iterating segments).

Ratios (how many times faster ours is; > 1 means faster): ``validating / ours``
(goal >= 10) and ``X12Reader / ours`` (goal >= 0.5: our full parse within 2x of
pyx12 merely splitting segments).  "Claims" are claim payments (CLP segments).

Peak memory: ``bench/bench_835_memory.py`` on a 100,000-claim, one-transaction
835 (goal < 200 MB in streaming mode), every mode in its own process.
"""

from __future__ import annotations

import argparse
import gc
import io
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import _common as common  # noqa: E402 -- importable only after REPO is put on sys.path above
from bench import _data as data  # noqa: E402 -- importable only after REPO is put on sys.path above
from bench import bench_835_memory as memory  # noqa: E402 -- importable only after REPO is put on sys.path above

NAME = "835_parse"
SIZES = (1_000, 10_000)
QUICK_SIZES = (200,)
MEMORY_CLAIMS = 100_000
VALIDATING_GOAL = 10.0
READER_GOAL = 0.5


def ours_events(path: Path) -> int:
    from edi.x835 import iter_835_events
    from schemas.remittance import ClaimPayment, RemittanceSummary

    claims = 0
    with path.open("rb") as stream:
        for event in iter_835_events(stream):
            if isinstance(event, ClaimPayment):
                claims += 1
            elif isinstance(event, RemittanceSummary) and not event.balance.ok:
                raise RuntimeError("a transaction of the benchmark file does not balance")
    return claims


def ours_parse_835(path: Path) -> int:
    from edi.x835 import parse_835

    claims = 0
    with path.open("rb") as stream:
        for remittance in parse_835(stream):
            if not remittance.balance.ok:
                raise RuntimeError("a transaction of the benchmark file does not balance")
            claims += len(remittance.claims)
    return claims


def ours_segments(path: Path) -> int:
    from edi.segments import read_segments

    with path.open("rb") as stream:
        return sum(1 for _ in read_segments(stream))


def pyx12_reader(path: Path) -> int:
    from pyx12.x12file import X12Reader

    with path.open() as stream:
        return sum(1 for _ in X12Reader(stream))


def pyx12_validating(path: Path) -> bool:
    """pyx12's validating read, as ``edi.validate`` calls it (error tree as JSON)."""
    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)  # as the gate does
    sink = io.StringIO()
    with path.open() as stream:
        return bool(
            pyx12.x12n_document.x12n_document(
                pyx12.params.ParamsBase(), stream, None, None, None, sink
            )
        )


def measure_size(size: int, tmp: Path, *, quick: bool) -> dict[str, Any]:
    """Every reader on one file, in interleaved rounds; medians per reader."""
    claims = data.realistic_claims(size)
    path = tmp / f"bench-{size}.835"
    path.write_text(data.realistic_835(claims), encoding="ascii")
    del claims
    readers = {
        "ours_events": lambda: ours_events(path),
        "ours_parse_835": lambda: ours_parse_835(path),
        "ours_segments": lambda: ours_segments(path),
        "pyx12_reader": lambda: pyx12_reader(path),
    }
    for fn in readers.values():  # warm-up: imports, caches
        fn()
    rounds = 2 if quick else 5
    validating_rounds = 1 if quick or size >= 5_000 else 2
    samples: dict[str, list[common.Timing]] = {name: [] for name in [*readers, "pyx12_validating"]}
    counts: dict[str, Any] = {}
    for n in range(rounds):
        for name, fn in readers.items():
            gc.collect()
            timing, counts[name] = common.timed(fn)
            samples[name].append(timing)
        if n < validating_rounds:  # the slow baseline, between rounds of the others
            gc.collect()
            timing, valid = common.timed(lambda: pyx12_validating(path))
            samples["pyx12_validating"].append(timing)
            if not valid:
                raise RuntimeError(f"pyx12 finds errors in the {size}-claim 835")
    medians = {name: common.medians(values) for name, values in samples.items()}
    t = {name: m.cpu for name, m in medians.items()}
    payments, segments = counts["ours_events"], counts["ours_segments"]
    if counts["pyx12_reader"] != segments:
        raise RuntimeError("pyx12 and our reader do not count the same segments")
    return {
        "claims_sent": size,
        "claim_payments": payments,
        "segments": segments,
        "bytes": path.stat().st_size,
        **{f"{name}_s": seconds for name, seconds in t.items()},
        "ours_events_claims_per_s": payments / t["ours_events"],
        "ours_events_segments_per_s": segments / t["ours_events"],
        "ours_parse_835_claims_per_s": payments / t["ours_parse_835"],
        "ours_segments_segments_per_s": segments / t["ours_segments"],
        "pyx12_reader_segments_per_s": segments / t["pyx12_reader"],
        "pyx12_validating_claims_per_s": payments / t["pyx12_validating"],
        "ratio_validating_over_ours": t["pyx12_validating"] / t["ours_events"],
        "ratio_reader_over_ours": t["pyx12_reader"] / t["ours_events"],
        "wall": {
            **{f"{name}_s": m.wall for name, m in medians.items()},
            "ratio_validating_over_ours": medians["pyx12_validating"].wall
            / medians["ours_events"].wall,
            "ratio_reader_over_ours": medians["pyx12_reader"].wall / medians["ours_events"].wall,
        },
        "samples_cpu_s": {name: [x.cpu for x in values] for name, values in samples.items()},
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 claims; 5,000 for memory")
    parser.add_argument("--sizes", type=int, nargs="+", help="claims per file (speed)")
    parser.add_argument("--memory-claims", type=int, help="claims of the memory file")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory part")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (default 0)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    args = parser.parse_args(argv)
    sizes = tuple(args.sizes or (QUICK_SIZES if args.quick else SIZES))
    memory_claims = args.memory_claims or (memory.QUICK_CLAIMS if args.quick else MEMORY_CLAIMS)
    cpu = None if args.no_pin else args.cpu
    pin = f"CPU {cpu} pinned" if cpu is not None else "not pinned"
    start = time.perf_counter()

    results = []
    with (
        tempfile.TemporaryDirectory(prefix="bench835") as tmp,
        common.pinned(cpu),
        common.CpuShare() as busy,
    ):
        for size in sizes:
            results.append(measure_size(size, Path(tmp), quick=args.quick))

    print(f"835 parsing against pyx12; {common.machine()['cpus']}-core machine, {pin}")
    rows = []
    for r in results:
        n, segs = r["claim_payments"], r["segments"]
        rows += [
            [f"{n:,} claims: ours events", r["ours_events_s"], n / r["ours_events_s"],
             segs / r["ours_events_s"], "1 (ours)"],
            ["  ours parse_835", r["ours_parse_835_s"], n / r["ours_parse_835_s"],
             segs / r["ours_parse_835_s"], f"{r['ours_parse_835_s'] / r['ours_events_s']:.2f}"],
            ["  ours segments only", r["ours_segments_s"], "", segs / r["ours_segments_s"],
             f"{r['ours_segments_s'] / r['ours_events_s']:.2f}"],
            ["  pyx12 X12Reader", r["pyx12_reader_s"], "", r["pyx12_reader_segments_per_s"],
             f"{r['ratio_reader_over_ours']:.2f}"],
            ["  pyx12 x12n_document", r["pyx12_validating_s"], n / r["pyx12_validating_s"],
             segs / r["pyx12_validating_s"], f"{r['ratio_validating_over_ours']:.1f}"],
        ]  # fmt: skip
    print(common.table(["file / reader", "CPU s", "claims/s", "segments/s", "time / ours"], rows))
    validating_ratio = min(r["ratio_validating_over_ours"] for r in results)
    reader_ratio = min(r["ratio_reader_over_ours"] for r in results)
    validating_ok = validating_ratio >= VALIDATING_GOAL
    reader_ok = reader_ratio >= READER_GOAL
    print(
        "baselines (same run, same file): 'time / ours' = the reader's time over our full "
        "parse (events)"
    )
    print(
        f"ours vs pyx12 validating read: {validating_ratio:.1f}x faster "
        f"(goal >= {VALIDATING_GOAL:.0f}x): {common.verdict(validating_ok)}"
    )
    print(
        f"ours (full parse) vs pyx12 X12Reader (segments only): {reader_ratio:.2f} "
        f"(goal >= {READER_GOAL}): {common.verdict(reader_ok)}"
    )
    print(
        "times are CPU seconds of this process on the pinned core (= wall time on an idle "
        f"machine; wall-clock medians are in the JSON); CPU share: {busy.describe()}"
    )

    memory_figures: dict[str, Any] | None = None
    if not args.no_memory:
        print()
        memory_figures = memory.measure_memory(
            memory_claims, modes=[*memory.MODES, "pyx12"], cpu=cpu
        )
    figures: dict[str, Any] = {
        "machine": common.machine(),
        "pinned_cpu": cpu,
        "cpu_share": round(busy.share, 3),
        "quick": args.quick,
        "baselines": "pyx12 x12n_document and pyx12 X12Reader on the same file, same run",
        "sizes": common.rounded(results),
        "ratio_validating_over_ours": round(validating_ratio, 2),
        "ratio_reader_over_ours": round(reader_ratio, 3),
        "goals": {
            "validating_over_ours_min": VALIDATING_GOAL,
            "validating_met": validating_ok,
            "reader_over_ours_min": READER_GOAL,
            "reader_met": reader_ok,
        },
    }
    if memory_figures is not None:
        events = memory_figures["modes"]["events"]
        figures["memory"] = {
            "claim_payments": memory_figures["file"]["claim_payments"],
            "events_peak_rss_mb": events["peak_rss_mb"],
            "events_vm_hwm_mb": events["vm_hwm_mb"],
            "imports_peak_rss_mb": memory_figures["modes"]["imports"]["peak_rss_mb"],
            "modes_peak_rss_mb": {m: r["peak_rss_mb"] for m, r in memory_figures["modes"].items()},
            "goal_mb": memory.GOAL_MB,
            "met": memory_figures["goals"]["streaming_met"],
        }
        figures["goals"]["memory_met"] = memory_figures["goals"]["streaming_met"]
    figures["seconds"] = round(time.perf_counter() - start, 1)
    common.emit(NAME, figures)
    return figures


if __name__ == "__main__":
    main()
