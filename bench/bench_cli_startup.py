"""Wall time of the ``claims`` command line against a bare interpreter start.

    .venv/bin/python bench/bench_cli_startup.py            # 21 runs of each command
    .venv/bin/python bench/bench_cli_startup.py --quick    # 3 runs of each

Each command runs as a subprocess (``.venv/bin/claims``, output discarded) and
the figure is the median wall time of N runs; the runs of the commands are
interleaved (A B C A B C ...) after one warm-up run each, so a slow moment of
the machine hits all of them.  Pinned to one CPU (the children inherit it).

* baseline, measured in the same run: ``.venv/bin/python -c pass`` (the same
  interpreter ``claims`` runs on);
* ``claims --help``: argument parsing only;
* ``claims units --policy cms 97140=38 97124=23 --json``: a real command (imports
  the unit calculator and the schemas).

Reported: absolute medians (wall; the children's CPU time, user + system, from
``RUSAGE_CHILDREN``, beside it), each command / the baseline, and ``units`` /
``--help``.  Goal: each command well under a second (< 0.5 s).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import _common as common  # noqa: E402 -- importable only after REPO is put on sys.path above

NAME = "cli_startup"
GOAL_S = 0.5
RUNS = 21
QUICK_RUNS = 3


def commands(bin_dir: Path) -> dict[str, list[str]]:
    python, claims = str(bin_dir / "python"), str(bin_dir / "claims")
    return {
        "python -c pass": [python, "-c", "pass"],
        "claims --help": [claims, "--help"],
        "claims units": [claims, "units", "--policy", "cms", "97140=38", "97124=23", "--json"],
    }


def _environment() -> dict[str, str]:
    """The caller's environment without CLAIMS_* settings (a .env is not read from /)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMS_")}
    env.pop("PYTHONSTARTUP", None)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds of one run, and the CPU seconds (user + system) the child used."""
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd="/", check=False
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-500:]!r}")
    return seconds, _children_cpu() - cpu


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_RUNS} runs each")
    parser.add_argument("--runs", type=int, help=f"runs of each command (default {RUNS})")
    parser.add_argument("--bin", type=Path, default=common.VENV_BIN, help="the venv's bin/")
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (default 0)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    args = parser.parse_args(argv)
    runs = args.runs or (QUICK_RUNS if args.quick else RUNS)
    cpu = None if args.no_pin else args.cpu
    cmds = commands(args.bin)
    env = _environment()
    start = time.perf_counter()
    samples: dict[str, list[float]] = {name: [] for name in cmds}
    cpu_samples: dict[str, list[float]] = {name: [] for name in cmds}
    with common.pinned(cpu):
        for argv_ in cmds.values():
            _run_once(argv_, env)  # warm-up: page cache, .pyc files
        for _ in range(runs):
            for name, argv_ in cmds.items():
                wall, used = _run_once(argv_, env)
                samples[name].append(wall)
                cpu_samples[name].append(used)
    med = {name: common.median(s) for name, s in samples.items()}
    med_cpu = {name: common.median(s) for name, s in cpu_samples.items()}
    base = med["python -c pass"]
    helps = med["claims --help"]
    pin = f"CPU {cpu} pinned" if cpu is not None else "not pinned"
    print(f"CLI start-up, median of {runs} runs; {common.machine()['cpus']}-core machine, {pin}")
    rows = []
    for name, seconds in med.items():
        rows.append(
            [
                name,
                f"{seconds * 1000:.1f}",
                f"{min(samples[name]) * 1000:.1f}",
                f"{max(samples[name]) * 1000:.1f}",
                f"{med_cpu[name] * 1000:.0f}",
                f"{seconds / base:.2f}",
                f"{seconds / helps:.2f}",
                f"{(seconds - base) * 1000:.1f}",
            ]
        )
    print(
        common.table(
            [
                "command",
                "median ms",
                "min ms",
                "max ms",
                "CPU ms",
                "x python",
                "x --help",
                "+ms over python",
            ],
            rows,
        )
    )
    worst = max(med["claims --help"], med["claims units"])
    ok = worst < GOAL_S
    print(
        f"baseline (same run): python -c pass on the same interpreter; slowest claims command "
        f"{worst * 1000:.0f} ms (goal < {GOAL_S * 1000:.0f} ms): {common.verdict(ok)}"
    )
    figures = {
        "machine": common.machine(),
        "pinned_cpu": cpu,
        "runs": runs,
        "baseline": "python -c pass, same interpreter, same run",
        "median_s": common.rounded(med, 5),
        "ratio_to_python": common.rounded({n: s / base for n, s in med.items()}, 3),
        "units_over_help": round(med["claims units"] / helps, 3),
        "median_cpu_s": common.rounded(med_cpu, 5),
        "samples_s": common.rounded(samples, 5),
        "goals": {"max_s": GOAL_S, "met": ok},
        "seconds": round(time.perf_counter() - start, 1),
    }
    common.emit(NAME, figures)
    return figures


if __name__ == "__main__":
    main()
