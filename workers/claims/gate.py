"""The validation gate as the claims processor runs it: pyx12 in worker processes.

pyx12 is pure Python and slow (a fixed cost per call plus a few milliseconds per
claim), so files are validated in a small pool of separate processes: the
worker's event loop keeps consuming while a file is checked, and the check uses
the other core.  Nothing leaves the gate but a verdict and PHI-free findings.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    ok: bool
    findings: tuple[str, ...]


def check(text: str) -> Verdict:
    """Validate one file (runs inside a pool process)."""
    from edi.validate import validate_x12

    report = validate_x12(text)
    return Verdict(report.ok, tuple(str(f) for f in report.findings))


class Gate:
    def __init__(self, workers: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self._workers = workers
        self._pool: Executor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers, mp_context=multiprocessing.get_context("spawn")
            )
        return self._pool

    async def check(self, text: str) -> Verdict:
        if not self.enabled:
            return Verdict(True, ("not validated: the gate is disabled",))
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor(), check, text)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
