"""A dependency-free progress line for long CLI operations (stderr, TTY only)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, label: str, total: int | None = None, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self.count = 0
        self._last = 0.0
        self._started = time.monotonic()
        self._tty = self.stream.isatty()

    def advance(self, n: int = 1) -> None:
        self.count += n
        now = time.monotonic()
        if self._tty and now - self._last > 0.2:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        rate = self.count / max(time.monotonic() - self._started, 1e-9)
        if self.total:
            width = 30
            done = int(width * self.count / self.total)
            bar = "#" * done + "-" * (width - done)
            text = f"{self.label} [{bar}] {self.count}/{self.total} ({rate:,.0f}/s)"
        else:
            text = f"{self.label} {self.count} ({rate:,.0f}/s)"
        self.stream.write("\r" + text)
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
