"""The gap guard's first-offset lookup, on a client of its own, against the real broker."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

from kafka import KafkaConsumer, OffsetAndMetadata
from kafka import TopicPartition as KafkaTP

from tests.broker_support import Cluster
from workers.runtime.admin import admin_client
from workers.runtime.log_start import LogStart


class TP(NamedTuple):  # the shape of faust's TP
    topic: str
    partition: int


def test_the_first_offset_follows_records_deleted_from_the_log(cluster: Cluster) -> None:
    """A partition's first offset is 0 until records are deleted below some offset
    (as retention does); then it is that offset.  Asked through a client outside
    faust's consumer, so an agent holding a message can ask during a rebalance."""
    topic = cluster.topic("sessions.completed")
    for _ in range(4):
        cluster.producer.send(topic, key=b"c1:log-start", value=b"{}", partition=3)
    cluster.producer.flush()
    tp = TP(topic, 3)

    async def ask() -> int | None:
        start = LogStart(cluster.settings(), group="test-log-start", client_id="test-log-start")
        try:
            return await start.first(tp)
        finally:
            await start.close()

    assert asyncio.run(ask()) == 0
    admin = admin_client(cluster.settings())
    try:
        admin.delete_records({KafkaTP(topic, 3): 2})
    finally:
        admin.close()
    assert asyncio.run(ask()) == 2


def test_the_groups_commit_is_read_without_joining_the_group(cluster: Cluster) -> None:
    """What a worker group committed, read by a client that never joins it."""
    topic = cluster.topic("sessions.enriched")
    group = f"{cluster.prefix}log-start-group"
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=group,
                             enable_auto_commit=False)  # fmt: skip
    try:
        consumer.commit({KafkaTP(topic, 1): OffsetAndMetadata(7, "", -1)})
    finally:
        consumer.close()

    async def ask() -> tuple[int | None, int | None]:
        start = LogStart(cluster.settings(), group=group, client_id="test-log-start")
        try:
            return await start.committed(TP(topic, 1)), await start.committed(TP(topic, 2))
        finally:
            await start.close()

    assert asyncio.run(ask()) == (7, None)


def test_an_unknown_partition_has_no_first_offset(cluster: Cluster) -> None:
    async def ask() -> int | None:
        start = LogStart(
            cluster.settings(), group="test-log-start", client_id="test-log-start", timeout_s=3
        )
        try:
            return await start.first(TP(cluster.topic("sessions.completed"), 999))
        finally:
            await start.close()

    assert asyncio.run(ask()) is None
