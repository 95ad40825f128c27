"""837P rendering speed, with and without the pyx12 validation gate, on one core.

    .venv/bin/python bench/bench_837_render.py            # files of 1, 50 and 500 claims
    .venv/bin/python bench/bench_837_render.py --quick    # 1 and 10 claims, few repeats

Claims are made by the project's own cores (enrichment, pricing, claim assembly:
see ``bench/_data.py``): four billing providers, three payers, 2 to 4 service
lines per claim.  For each file size it measures, pinned to one CPU:

* ``render``: :func:`edi.x837p.render_837p` alone (claims/s);
* ``gate``: :func:`edi.validate.validate_x12` on the rendered text;
* ``pyx12``: pyx12 alone on the same text, called exactly as the gate calls it
  (``x12n_document(ParamsBase(), StringIO(text), None, None, None, json_sink)``)
  but as pyx12 ships: its XML maps loaded on every call (the gate loads them once
  per process, :func:`edi.validate.reuse_maps`);
* ``render+gate``: claims/s of rendering followed by the gate (what the claims
  worker does per file; in the worker the gate runs in its own process).

Times are CPU seconds of this process (``time.process_time``; the work is
single-threaded), which on the pinned core equal wall time when the machine is
idle but, unlike wall time, do not grow when other processes share the core;
the wall-clock medians are in the JSON line (``wall``).

Baseline measured in the same run: pyx12 alone.  The ratio ``gate / pyx12`` is
the gate's cost over pyx12 itself (goal: at most 1.10).  Gate and pyx12 runs are
interleaved so a slow moment of the machine hits both.
"""

from __future__ import annotations

import argparse
import functools
import gc
import io
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import _common as common  # noqa: E402 -- importable only after REPO is put on sys.path above
from bench import _data as data  # noqa: E402 -- importable only after REPO is put on sys.path above

NAME = "837_render"
GATE_GOAL = 1.10
SIZES = (1, 50, 500)
QUICK_SIZES = (1, 10)


def _pyx12_alone(text: str) -> bool:
    """pyx12's validating read as ``edi.validate`` runs it, with pyx12's own map
    loading (every call)."""
    import pyx12.params
    import pyx12.x12n_document

    from edi.validate import reuse_maps

    sink = io.StringIO()
    previous = reuse_maps(False)
    try:
        return bool(
            pyx12.x12n_document.x12n_document(
                pyx12.params.ParamsBase(), io.StringIO(text), None, None, None, sink
            )
        )
    finally:
        reuse_maps(previous)


def _gate_repeats(size: int, quick: bool) -> int:
    if quick:
        return 3
    return 9 if size <= 1 else 7 if size <= 50 else 5


def measure_size(claims: list[Any], size: int, *, quick: bool) -> dict[str, Any]:
    from edi.validate import validate_x12
    from edi.x837p import render_837p
    from schemas.claims import ControlNumbers

    batch = claims[:size]
    partner = data.partner()
    numbers = ControlNumbers(interchange=1, group=1, transaction=1)

    def render() -> str:
        return render_837p(batch, partner, numbers, data.NOW).text

    render_t = common.medians(
        common.repeat(render, repeats=3 if quick else 7, min_seconds=0.05 if quick else 0.3)
    )
    text = render()
    report = validate_x12(text)
    if not report.ok:
        raise RuntimeError(f"the {size}-claim file does not validate: {report.findings[:3]}")
    if not _pyx12_alone(text):
        raise RuntimeError(f"pyx12 rejects the {size}-claim file")
    samples: dict[str, list[common.Timing]] = {"gate": [], "pyx12": []}
    for n in range(_gate_repeats(size, quick)):
        for which in ("gate", "pyx12") if n % 2 == 0 else ("pyx12", "gate"):
            gc.collect()
            fn = validate_x12 if which == "gate" else _pyx12_alone
            timing, _ = common.timed(functools.partial(fn, text))
            samples[which].append(timing)
    gate_t, pyx12_t = common.medians(samples["gate"]), common.medians(samples["pyx12"])
    render_s, gate_s, pyx12_s = render_t.cpu, gate_t.cpu, pyx12_t.cpu
    return {
        "claims": size,
        "lines": sum(len(c.lines) for c in batch),
        "segments": text.count("~"),
        "bytes": len(text),
        "render_s": render_s,
        "render_claims_per_s": size / render_s,
        "gate_s": gate_s,
        "pyx12_alone_s": pyx12_s,
        "render_gate_claims_per_s": size / (render_s + gate_s),
        "gate_over_pyx12": gate_s / pyx12_s,
        "wall": {
            "render_s": render_t.wall,
            "gate_s": gate_t.wall,
            "pyx12_alone_s": pyx12_t.wall,
            "gate_over_pyx12": gate_t.wall / pyx12_t.wall,
            "gate_samples_s": [t.wall for t in samples["gate"]],
            "pyx12_samples_s": [t.wall for t in samples["pyx12"]],
        },
        "gate_samples_cpu_s": [t.cpu for t in samples["gate"]],
        "pyx12_samples_cpu_s": [t.cpu for t in samples["pyx12"]],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--sizes", type=int, nargs="+", help="claims per file")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (default 0)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    args = parser.parse_args(argv)
    sizes = tuple(args.sizes or (QUICK_SIZES if args.quick else SIZES))
    cpu = None if args.no_pin else args.cpu

    start = time.perf_counter()
    claims = data.realistic_claims(max(sizes))
    results = []
    with common.pinned(cpu), common.CpuShare() as busy:
        for size in sizes:
            results.append(measure_size(claims, size, quick=args.quick))

    pin = f"CPU {cpu} pinned" if cpu is not None else "not pinned"
    print(f"837P rendering and validation gate; {common.machine()['cpus']}-core machine, {pin}")
    print(
        common.table(
            [
                "claims",
                "lines",
                "render claims/s",
                "render+gate claims/s",
                "gate s",
                "pyx12 alone s",
                "gate/pyx12",
            ],
            [
                [
                    r["claims"],
                    r["lines"],
                    r["render_claims_per_s"],
                    r["render_gate_claims_per_s"],
                    r["gate_s"],
                    r["pyx12_alone_s"],
                    f"{r['gate_over_pyx12']:.3f}",
                ]
                for r in results
            ],
        )
    )
    worst = max(r["gate_over_pyx12"] for r in results)
    gate_ok = worst <= GATE_GOAL
    print(
        f"baseline (same run): pyx12 alone on the same file. gate/pyx12 worst {worst:.3f} "
        f"(goal <= {GATE_GOAL}): {common.verdict(gate_ok)}"
    )
    largest = results[-1]
    share = largest["render_s"] / (largest["render_s"] + largest["gate_s"])
    print(
        "times are CPU seconds of this process on the pinned core (= wall time on an idle "
        f"machine; wall-clock medians are in the JSON); CPU share: {busy.describe()}"
    )
    print(
        f"at {largest['claims']} claims rendering is {share:.1%} of render+gate: "
        "the gate (pyx12) is the cost of releasing a file"
    )
    per_claim = None
    if len(results) >= 2 and results[-1]["claims"] > results[-2]["claims"]:
        a, b = results[-2], results[-1]
        per_claim = (b["pyx12_alone_s"] - a["pyx12_alone_s"]) / (b["claims"] - a["claims"])
        print(
            f"pyx12 alone: {results[0]['pyx12_alone_s']:.3f} s for a {results[0]['claims']}-claim "
            f"file, then {per_claim * 1000:.2f} ms per claim ({1 / per_claim:,.0f} claims/s)"
        )
    figures = {
        "machine": common.machine(),
        "pinned_cpu": cpu,
        "cpu_share": round(busy.share, 3),
        "pyx12_s_per_claim": per_claim,
        "quick": args.quick,
        "baseline": "pyx12 x12n_document alone on the same text, same run",
        "sizes": common.rounded(results, 6),
        "gate_over_pyx12_worst": round(worst, 4),
        "goals": {"gate_over_pyx12_max": GATE_GOAL, "gate_over_pyx12_met": gate_ok},
        "seconds": round(time.perf_counter() - start, 1),
    }
    common.emit(NAME, figures)
    return figures


if __name__ == "__main__":
    main()
