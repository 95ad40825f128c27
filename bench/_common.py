"""Shared helpers of the benchmarks: one-core pinning, timing, tables and the JSON line.

Nothing here runs on import.  The benchmarks import it as ``bench._common`` after
putting the repository root on ``sys.path`` (``bench/`` is not an installed package).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


@contextlib.contextmanager
def pinned(cpu: int | None = 0) -> Iterator[int | None]:
    """Run the block on one CPU (inherited by subprocesses started inside it).

    ``cpu=None`` leaves the affinity alone.  The previous affinity is restored on
    exit, so calling a benchmark's ``main()`` from a test leaves the test process
    as it was.
    """
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, before)


@dataclass(frozen=True)
class Timing:
    """One measurement: wall-clock seconds and CPU seconds of this process.

    On a pinned core the two are equal when the machine is idle; when other
    processes take turns on the core, ``wall`` grows and ``cpu`` does not, so the
    speed benchmarks compute their figures from ``cpu`` (the work is
    single-threaded) and keep ``wall`` in their JSON.
    """

    wall: float
    cpu: float


def timed(fn: Callable[[], Any]) -> tuple[Timing, Any]:
    """How long one call of ``fn`` took, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu), result


def repeat(fn: Callable[[], Any], *, repeats: int, min_seconds: float = 0.0) -> list[Timing]:
    """Time per call of ``fn``, ``repeats`` samples.

    Each sample calls ``fn`` as many times as needed to last ``min_seconds``
    (calibrated on a first call) and divides, so fast calls are not lost in
    timer noise; the first call also warms caches and is not counted.
    """
    first, _ = timed(fn)
    loops = max(1, int(min_seconds / first.wall) + 1) if min_seconds > 0 and first.wall else 1
    samples = []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(loops):
            fn()
        samples.append(
            Timing((time.perf_counter() - wall) / loops, (time.process_time() - cpu) / loops)
        )
    return samples


def medians(samples: Sequence[Timing]) -> Timing:
    return Timing(median([t.wall for t in samples]), median([t.cpu for t in samples]))


class CpuShare:
    """How much of the wall time this process actually ran (all its threads).

    On a pinned CPU shared with other busy processes the share drops below 1 and
    every absolute figure with it; ratios measured interleaved hold better.
    """

    def __enter__(self) -> CpuShare:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu

    @property
    def share(self) -> float:
        return self.cpu / self.wall if self.wall > 0 else 1.0

    def describe(self) -> str:
        text = f"this process ran {self.share:.0%} of the wall time"
        if self.share < 0.9:
            text += (
                " -- the machine was busy (other processes on the pinned CPU): wall-clock "
                "figures are low; the CPU-time figures reported hold much better"
            )
        return text


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@contextlib.contextmanager
def stop_cleanly_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM (``timeout``, a CI runner giving up) into ``SystemExit`` while the
    block runs, so its ``finally`` clauses stop the workers and the private broker a
    benchmark started instead of leaving them running on the machine."""
    import signal

    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        lines.append("  ".join(parts).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}" if value < 1 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def emit(name: str, figures: dict[str, Any]) -> None:
    """The final line every benchmark prints: one JSON object with all its numbers."""
    print(json.dumps({"bench": name, **figures}, sort_keys=False, default=str))


def rounded(value: Any, digits: int = 4) -> Any:
    """``value`` with floats rounded (recursively), for the JSON line."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(v, digits) for v in value]
    return value
