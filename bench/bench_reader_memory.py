"""Peak memory of every X12 reader (835, 837P, 999, 277) on files up to the size limit.

    .venv/bin/python bench/bench_reader_memory.py                 # 10, 50 and 100 MB
    .venv/bin/python bench/bench_reader_memory.py --quick         # 2 MB, a few seconds
    .venv/bin/python bench/bench_reader_memory.py --sizes 10 --shapes 999 277
    .venv/bin/python bench/bench_reader_memory.py --repo /tmp/before --sizes 10 50

The files (``bench/_shapes.py``, written to a temporary directory):

* ``999``: ONE 999 transaction set acknowledging as many of our transaction sets
  as fit (one in ten rejected with an IK3 and two IK4) -- the file that used to
  peak near 1 GB at 15 MB;
* ``999-groups``: the same AK2 loops, 1,000 to a 999 transaction set;
* ``277``: ONE 277CA transaction set with as many claims as fit (one or two
  service lines each);
* ``277-batches``: the same claims, 5,000 to a transaction set;
* ``835-claim``: ONE 835 claim with as many service lines as fit;
* ``835-wide``: balanced 835 claims of 999 service lines each (the guide's
  maximum), one transaction set;
* ``837-claim``: ONE 837P claim with as many service lines as fit;
* ``837-wide``: 837P claims of 50 service lines each (the guide's maximum),
  5,000 claims to a transaction set (its recommended maximum).

Modes, each in its own process:

* ``python`` (**baseline**): an empty interpreter, ``python -c pass``;
* ``imports-reader`` / ``imports-cli`` (**baselines**): import every reader (and the
  ``claims edi`` commands), stop;
* ``reader``: the library reader, every item it yields consumed and dropped:
  :func:`edi.x835.iter_835_events`, :func:`edi.x837p.read_837p`,
  :func:`edi.x999.iter_999_events` and :func:`edi.x277.iter_277_events` (with
  ``--repo`` of a checkout without the last two: ``parse_999`` / ``parse_277``);
* ``cli``: the command ``claims edi parse-835|parse-999|parse-277 FILE --json``
  (its command function, output to ``/dev/null``); the 837P has no such command.

A reader may end in its typed error (a transaction over a per-transaction limit):
the outcome column says which; that is a result, not a failure of the benchmark.

Figures: ``peak RSS`` (RUSAGE_CHILDREN ``ru_maxrss`` of a small probe process
whose only child ran the mode, as in ``bench_835_memory.py``), ``x python`` =
peak / the empty interpreter's peak, ``MB/MB`` = (peak - the matching imports
baseline's peak) / input MB: what the mode costs per MB it reads.  Goal: < 200 MB
peak for every reader and command on every file up to the 100 MB default limit
(``CLAIMS_MAX_EDI_FILE_BYTES``).  Each child runs with an address-space limit
(``--max-gb``, default 8) so that a reader that does not stream fails with
``MemoryError`` instead of swapping a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

NAME = "reader_memory"
GOAL_MB = 200
MB = 1_000_000
SHAPES = (
    "999",
    "999-groups",
    "277",
    "277-batches",
    "835-claim",
    "835-wide",
    "837-claim",
    "837-wide",
)
MODES = ("reader", "cli")


def write_shape(shape: str, path: Path, size: int) -> dict[str, Any]:
    """Write the file of ``shape`` of about ``size`` bytes to ``path``."""
    from bench import _shapes

    writers: dict[str, Callable[[], dict[str, Any]]] = {
        "999": lambda: _shapes.write_999(path, size),
        "999-groups": lambda: _shapes.write_999(path, size, per_transaction=1000),
        "277": lambda: _shapes.write_277(path, size),
        "277-batches": lambda: _shapes.write_277(path, size, per_transaction=5000),
        "835-claim": lambda: _shapes.write_835(path, size, claims=1),
        "835-wide": lambda: _shapes.write_835(path, size, lines=999),
        "837-claim": lambda: _shapes.write_837(path, size, claims=1),
        "837-wide": lambda: _shapes.write_837(path, size, lines=50),
    }
    return writers[shape]()


def _vm_hwm_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _read(kind: str, path: str) -> tuple[str, int]:
    """The library reader of ``kind`` over ``path``: (API used, items yielded)."""
    count = 0
    with open(path, "rb") as stream:
        if kind == "835":
            from edi.x835 import iter_835_events

            api = "iter_835_events"
            for _ in iter_835_events(stream):
                count += 1
        elif kind == "837":
            from edi.x837p import read_837p

            api = "read_837p"
            for _ in read_837p(stream):
                count += 1
        elif kind == "999":
            from edi import x999

            if hasattr(x999, "iter_999_events"):
                api = "iter_999_events"
                for _ in x999.iter_999_events(stream):
                    count += 1
            else:
                api = "parse_999"
                count = len(x999.parse_999(stream).groups)
        else:
            from edi import x277

            if hasattr(x277, "iter_277_events"):
                api = "iter_277_events"
                for _ in x277.iter_277_events(stream):
                    count += 1
            else:
                api = "parse_277"
                count = len(x277.parse_277(stream).reports)
    return api, count


def child(mode: str, kind: str, path: str) -> None:
    """Run one mode in this process and print what happened as JSON."""
    start = time.perf_counter()
    outcome = "ok"
    api = ""
    count = 0
    try:
        if mode in ("imports-reader", "imports-cli"):
            import edi.x277
            import edi.x835
            import edi.x837p
            import edi.x999

            modules = [edi.x277, edi.x835, edi.x837p, edi.x999]
            if mode == "imports-cli":
                import workers.commands.acks
                import workers.commands.edi835

                modules += [workers.commands.acks, workers.commands.edi835]
            api = ", ".join(m.__name__ for m in modules)
        elif mode == "reader":
            api, count = _read(kind, path)
        elif mode == "cli":
            with open(os.devnull, "w") as sink, open(os.devnull, "w") as err:
                if kind == "835":
                    from workers.commands.edi835 import parse_835_main

                    api = "claims edi parse-835 --json"
                    status = parse_835_main(path, True, sink, err)
                else:
                    from workers.commands.acks import parse_ack_main

                    api = f"claims edi parse-{kind} --json"
                    status = parse_ack_main(path, kind, True, sink, err)
            outcome = f"exit {status}"
        else:
            raise SystemExit(f"unknown mode {mode}")
    except MemoryError:
        outcome = "MemoryError"
    except Exception as exc:  # a typed reader error is an outcome to report
        outcome = f"{type(exc).__name__}: {str(exc)[:90]}"
    print(
        json.dumps(
            {
                "mode": mode,
                "api": api,
                "outcome": outcome,
                "items": count,
                "seconds": time.perf_counter() - start,
                "vm_hwm_mb": _vm_hwm_mb(),
            }
        )
    )


def _limit_memory(max_gb: float) -> Callable[[], None]:
    def apply() -> None:
        limit = int(max_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def probe(mode: str, kind: str, path: str, repo: str, max_gb: float) -> None:
    """Run ``child`` (or an empty interpreter) in a subprocess of this small process."""
    if mode == "python":
        command = [sys.executable, "-c", "pass"]
    else:
        command = [sys.executable, __file__, "--repo", repo, "--child", mode, kind, path]
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=repo,
        preexec_fn=_limit_memory(max_gb),
    )
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if mode == "python":
        result: dict[str, Any] = {"mode": mode, "outcome": "ok", "seconds": 0.0, "items": 0}
    else:
        lines = proc.stdout.strip().splitlines()
        if lines:
            result = json.loads(lines[-1])
        else:
            result = {"mode": mode, "outcome": f"died ({proc.returncode})", "items": 0}
            result["seconds"] = 0.0
            result["stderr"] = proc.stderr[-500:]
    result["peak_rss_mb"] = peak
    print(json.dumps(result))


def measure(mode: str, kind: str, path: Path | None, repo: Path, max_gb: float) -> dict[str, Any]:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--probe",
            mode,
            kind,
            str(path or ""),
            str(repo),
            str(max_gb),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"probe {mode} {kind} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run(
    sizes: list[float], shapes: list[str], modes: list[str], repo: Path, max_gb: float
) -> dict[str, Any]:
    from bench import _common as common

    python = measure("python", "", None, repo, max_gb)["peak_rss_mb"]
    imported = {
        mode: measure(f"imports-{mode}", "", None, repo, max_gb)["peak_rss_mb"] for mode in MODES
    }
    print(
        f"baselines: empty interpreter {python:.1f} MB; readers imported "
        f"{imported['reader']:.1f} MB ({imported['reader'] / python:.2f} x python); readers and "
        f"commands imported {imported['cli']:.1f} MB ({imported['cli'] / python:.2f} x python)"
    )
    rows: list[list[Any]] = []
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="benchreadmem") as tmp:
        for size in sizes:
            for shape in shapes:
                path = Path(tmp) / f"{shape}.x12"
                info = write_shape(shape, path, int(size * MB))
                mb = info["bytes"] / MB
                kind = shape.split("-")[0]
                for mode in modes:
                    if mode == "cli" and kind == "837":
                        continue
                    r = measure(mode, kind, path, repo, max_gb)
                    peak = r["peak_rss_mb"]
                    imports = imported[mode]
                    r.update(
                        shape=shape,
                        file_bytes=info["bytes"],
                        input_mb=mb,
                        x_python=peak / python,
                        mb_per_input_mb=(peak - imports) / mb,
                        goal_met=peak < GOAL_MB,
                    )
                    results.append(r)
                    rows.append(
                        [
                            shape,
                            f"{mb:.1f}",
                            mode,
                            r["outcome"][:60],
                            peak,
                            f"{peak / python:.1f}",
                            f"{(peak - imports) / mb:.2f}",
                            r["seconds"],
                            f"< {GOAL_MB} MB {common.verdict(peak < GOAL_MB)}",
                        ]
                    )
                    print(
                        f"  {shape} {mb:.1f} MB {mode}: {peak:,.1f} MB peak, {r['outcome'][:60]}",
                        flush=True,
                    )
                path.unlink()
    print(
        common.table(
            [
                "shape",
                "input MB",
                "mode",
                "outcome",
                "peak RSS MB",
                "x python",
                "MB/MB",
                "wall s",
                "goal",
            ],
            rows,
        )
    )
    print(
        "peak RSS = RUSAGE_CHILDREN.ru_maxrss of a probe process; 'x python' = peak / an "
        "empty interpreter's peak; MB/MB = (peak - the mode's imports baseline) / input MB; "
        "baselines measured in the same run"
    )
    return {
        "baselines": {
            "python_mb": python,
            "imports_reader_mb": imported["reader"],
            "imports_cli_mb": imported["cli"],
        },
        "runs": results,
        "goal_met": all(r["goal_met"] for r in results),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 MB files only")
    parser.add_argument("--sizes", nargs="*", type=float, help="file sizes in MB (10 50 100)")
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=SHAPES)
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    parser.add_argument("--repo", default=str(REPO), help="import the readers from this checkout")
    parser.add_argument("--max-gb", type=float, default=8.0, help="address space of each child")
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "KIND", "PATH"), help=argparse.SUPPRESS
    )
    parser.add_argument("--probe", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repo = Path(args.repo).resolve()
    if args.child:
        sys.path.insert(0, str(repo))
        child(*args.child)
        return {}
    if args.probe:
        mode, kind, path, probe_repo, max_gb = args.probe
        probe(mode, kind, path, probe_repo, float(max_gb))
        return {}
    from bench import _common as common

    sizes = args.sizes or ([2.0] if args.quick else [10.0, 50.0, 100.0])
    started = time.perf_counter()
    print(
        f"reader memory: sizes {', '.join(f'{s:g}' for s in sizes)} MB, readers from {repo}; "
        f"{common.machine()['cpus']}-core machine"
    )
    figures = run(sizes, args.shapes, args.modes, repo, args.max_gb)
    figures.update(
        machine=common.machine(),
        repo=str(repo),
        baseline="an empty interpreter and an imports-only process, same run",
        goals={"peak_rss_mb_max": GOAL_MB, "met": figures["goal_met"]},
        seconds=round(time.perf_counter() - started, 1),
    )
    common.emit(NAME, common.rounded(figures))
    return figures


if __name__ == "__main__":
    main()
