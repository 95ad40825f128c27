"""Which partition a key lands on: the Java client's murmur2, as every producer here uses."""

from __future__ import annotations

from functools import lru_cache

from kafka.partitioner.default import murmur2


@lru_cache(maxsize=8192)
def partition_for(key: bytes | str, partitions: int) -> int:
    """The partition of ``key`` among ``partitions`` (kept for the keys asked about
    lately: a receiver's or a patient's key is asked for message after message, and
    murmur2 is pure Python)."""
    raw = key.encode("utf-8") if isinstance(key, str) else key
    return int(murmur2(raw) & 0x7FFFFFFF) % partitions
