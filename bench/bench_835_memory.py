"""Peak memory of the 835 reader on a 100,000-claim file, each mode in a fresh process.

    .venv/bin/python bench/bench_835_memory.py                # 100,000 claims, one transaction
    .venv/bin/python bench/bench_835_memory.py --quick        # 5,000 claims
    .venv/bin/python bench/bench_835_memory.py --source synthetic --per-transaction 1000

The file (``--source``):

* ``payer-sim`` (default): the payer simulator's answer to claims made by the
  project's cores (``bench/_data.py``), a block of 1,000 claims repeated under new
  claim numbers into ONE balanced transaction (the worst case for anything that
  holds a transaction; 2 to 4 service lines per claim, about 20 segments per claim);
* ``synthetic``: the original generator of this script -- one service line per
  claim, ten segments per claim, ``--per-transaction`` claims per ST..SE.

Each mode runs in its own process so its peak belongs to that mode alone:

* ``imports``: import :mod:`edi.x835` and stop (the baseline: what any mode pays);
* ``segments``: :func:`edi.segments.read_segments` only (tokenizing);
* ``events``: :func:`edi.x835.iter_835_events`, claim by claim, with balancing
  (streaming: what ``claims ingest 835`` and the inbox use) -- the goal is < 200 MB;
* ``cli-json``: ``parse_835_main(path, as_json=True)`` with the output thrown away;
* ``remittances``: :func:`edi.x835.parse_835`, one whole transaction at a time
  (holds every claim of a transaction: informational, not streaming);
* ``pyx12`` (with ``--pyx12``): pyx12's ``X12Reader`` over the same file.

How the peak is measured.  ``ru_maxrss`` of a child on Linux is *not* only the
child's own: the memory map it had before ``exec`` -- a copy of its parent's --
counts too, so a child of a big parent reports at least the parent's peak.  So
every mode runs as the child of a tiny *probe* process, and the figure is the
probe's ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` once the child has exited;
the child's own ``VmHWM`` (``/proc/self/status``, counted from ``exec``) is
reported beside it as a cross-check.
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

NAME = "835_memory"
MODES = ("imports", "segments", "events", "cli-json", "remittances")
STREAMING = ("segments", "events", "cli-json")
GOAL_MB = 200
QUICK_CLAIMS = 5_000


def generate(claims: int, per_transaction: int) -> Iterator[str]:
    """The synthetic 835 text, piece by piece: ``per_transaction`` claims per ST..SE."""
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


def write_file(path: Path, claims: int, source: str, per_transaction: int = 0) -> dict[str, Any]:
    """Write the benchmark's 835 to ``path``; returns what it holds."""
    with path.open("w", encoding="ascii") as out:
        if source == "synthetic":
            out.writelines(generate(claims, per_transaction or claims))
            info: dict[str, Any] = {"claims": claims, "claim_payments": claims}
        else:
            from bench import _data

            block = min(1000, claims)
            info = _data.write_tiled_835(out, claims - claims % block, block=block)
    info["source"] = source
    info["bytes"] = path.stat().st_size
    info["segments"] = count_segments(path)
    return info


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, path: str) -> None:
    """Run one mode in this process and print its measurements as JSON."""
    from edi.segments import read_segments
    from edi.x835 import iter_835_events, parse_835
    from schemas.remittance import ClaimPayment, RemittanceSummary

    imported_mb = _vm_hwm_mb()
    start = time.perf_counter()
    count = 0
    balanced = True
    if mode == "imports":
        pass
    elif mode == "segments":
        with open(path, "rb") as stream:
            count = sum(1 for _ in read_segments(stream))
    elif mode == "events":
        with open(path, "rb") as stream:
            for event in iter_835_events(stream):
                if isinstance(event, ClaimPayment):
                    count += 1
                elif isinstance(event, RemittanceSummary):
                    balanced &= event.balance.ok
    elif mode == "remittances":
        with open(path, "rb") as stream:
            for remittance in parse_835(stream):
                count += len(remittance.claims)
                balanced &= remittance.balance.ok
    elif mode == "cli-json":
        from workers.commands.edi835 import parse_835_main

        with open(os.devnull, "w") as sink:
            status = parse_835_main(path, True, out=sink, err=sys.stderr)
        balanced = status == 0
    elif mode == "pyx12":
        from pyx12.x12file import X12Reader

        with open(path) as stream:
            count = sum(1 for _ in X12Reader(stream))
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "mode": mode,
                "seconds": seconds,
                "count": count,
                "balanced": balanced,
                "vm_hwm_mb": _vm_hwm_mb(),
                "self_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "after_import_mb": imported_mb,
            }
        )
    )


def probe(mode: str, path: str) -> None:
    """Run ``child`` in a subprocess of this small process; add its RUSAGE_CHILDREN peak."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, path],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(proc.returncode)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak
    result["probe_own_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(mode: str, path: Path) -> dict[str, Any]:
    """One mode, measured through a probe process (see the module docstring)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--probe", mode, str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mode {mode} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def count_segments(path: Path) -> int:
    from edi.segments import read_segments

    with path.open("rb") as stream:
        return sum(1 for _ in read_segments(stream))


def run(path: Path, modes: list[str], info: dict[str, Any]) -> dict[str, Any]:
    """Measure ``modes`` on the file at ``path``; print the table; return the figures."""
    results = {mode: measure(mode, path) for mode in modes}
    base = results.get("imports", {}).get("peak_rss_mb")
    rows = []
    for mode, r in results.items():
        rate = info["segments"] / r["seconds"] if r["seconds"] > 0 and mode != "imports" else None
        goal = ""
        if mode in STREAMING:
            r["goal_met"] = r["peak_rss_mb"] < GOAL_MB
            goal = f"< {GOAL_MB} MB {common_verdict(r['goal_met'])}"
        rows.append(
            [
                mode,
                r["seconds"],
                f"{rate:,.0f}" if rate else "",
                r["peak_rss_mb"],
                r["vm_hwm_mb"],
                f"{r['peak_rss_mb'] / base:.2f}" if base else "",
                "" if r["balanced"] else "NOT BALANCED",
                goal,
            ]
        )
    from bench import _common as common

    print(
        common.table(
            [
                "mode",
                "wall s",
                "segments/s",
                "peak RSS MB",
                "VmHWM MB",
                "x imports",
                "balance",
                "goal",
            ],
            rows,
        )
    )
    print(
        "peak RSS = RUSAGE_CHILDREN.ru_maxrss of a probe process; VmHWM = the child's own; "
        "'x imports' = ratio to the imports-only baseline measured in the same run"
    )
    return results


def common_verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CLAIMS:,} claims")
    parser.add_argument("--claims", type=int, default=None, help="default 100,000")
    parser.add_argument("--source", choices=("payer-sim", "synthetic"), default="payer-sim")
    parser.add_argument("--per-transaction", type=int, default=0, help="synthetic; 0: all in one")
    parser.add_argument("--modes", nargs="*", default=list(MODES))
    parser.add_argument("--pyx12", action="store_true", help="also pyx12's X12Reader")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (default 0)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--probe", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return {}
    if args.probe:
        probe(*args.probe)
        return {}
    claims = args.claims or (QUICK_CLAIMS if args.quick else 100_000)
    modes = [*args.modes, *(["pyx12"] if args.pyx12 else [])]
    figures = measure_memory(
        claims,
        modes=modes,
        source=args.source,
        per_transaction=args.per_transaction,
        cpu=None if args.no_pin else args.cpu,
    )
    from bench import _common as common

    common.emit(NAME, figures)
    return figures


def measure_memory(
    claims: int,
    *,
    modes: list[str],
    source: str = "payer-sim",
    per_transaction: int = 0,
    cpu: int | None = 0,
) -> dict[str, Any]:
    """Write the file, measure ``modes``, print the table; the figures (no JSON line)."""
    from bench import _common as common

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench835mem") as tmp:
        path = Path(tmp) / "bench.835"
        info = write_file(path, claims, source, per_transaction)
        print(
            f"835 peak memory: {info['claim_payments']:,} claim payments ({source}), "
            f"{info['segments']:,} segments, {info['bytes'] / 2**20:.1f} MiB; "
            f"{common.machine()['cpus']}-core machine, "
            + (f"CPU {cpu} pinned" if cpu is not None else "not pinned")
        )
        with common.pinned(cpu):
            results = run(path, modes, info)
    streaming_ok = all(results[m]["goal_met"] for m in STREAMING if m in results)
    return {
        "machine": common.machine(),
        "pinned_cpu": cpu,
        "baseline": "imports: a process that only imports edi.x835, same run",
        "file": info,
        "modes": common.rounded(results),
        "goals": {"streaming_peak_rss_mb_max": GOAL_MB, "streaming_met": streaming_ok},
        "seconds": round(time.perf_counter() - start, 1),
    }


if __name__ == "__main__":
    main()
