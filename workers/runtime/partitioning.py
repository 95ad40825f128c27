"""Which partition a key lands on: the Java client's murmur2, as every producer here uses."""

from __future__ import annotations

from kafka.partitioner.default import murmur2


def partition_for(key: bytes | str, partitions: int) -> int:
    raw = key.encode("utf-8") if isinstance(key, str) else key
    return int(murmur2(raw) & 0x7FFFFFFF) % partitions
