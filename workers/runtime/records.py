"""Plain records passed between the faust edge and the processors' cores.

They carry logical topic names (without the deployment's prefix) and raw bytes,
so that processors and their tests never depend on faust or a broker.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class Incoming:
    """One consumed message."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()

    @property
    def key_text(self) -> str | None:
        return None if self.key is None else self.key.decode("utf-8", errors="replace")

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    @property
    def ref(self) -> str:
        """The message's stable identity: ``topic:partition:offset``."""
        return f"{self.topic}:{self.partition}:{self.offset}"


@dataclass(frozen=True)
class Outgoing:
    """One message to produce; ``partition`` only for partition-addressed topics."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = field(default=())
    partition: int | None = None

    @staticmethod
    def text_key(key: str | bytes | None) -> bytes | None:
        if key is None or isinstance(key, bytes):
            return key
        return key.encode("utf-8")
