"""``claims worker mailbox``: the Kafka edge of partners' SFTP mailboxes.

One process per inbox (it fetches into ``CLAIMS_INBOX_DIR``, beside
``claims worker inbox``).  It mirrors ``ref.partners``; reads ``edi.outbound`` in
the consumer group ``claims-mailbox`` and remembers each released file of a
partner with an ``sftp`` mailbox as a pending delivery (the offset is committed only
after that record is on disk) -- 837s, and the 270 and 276 inquiries the stages
announce there too; uploads a file as soon as it is accepted, and due retries every
second; polls each partner's download directory every ``sftp.poll_interval_s``.  Delivery records go
to ``edi.deliveries``, work items to ``partners.delivery-failed``.  It serves
``/claims/live``, ``/claims/ready`` and ``/claims/metrics`` on the web port, and
stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import UTC, datetime

import structlog

from schemas.base import Versioned
from schemas.claims import TradingPartner
from schemas.submission import FileReleased
from workers.partners.ledger import Ledger
from workers.partners.mailbox import MailboxMetrics, MailboxService
from workers.partners.sftp import MailboxError
from workers.runtime import kafka_clients
from workers.runtime.codec import encode
from workers.runtime.health_http import serve_health
from workers.runtime.mirror import TopicMirror
from workers.runtime.settings import Settings

log = structlog.stdlib.get_logger("claims.mailbox")

#: How often due uploads are looked for.
TICK_S = 1.0


class MailboxWorker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.partners: dict[str, TradingPartner] = {}
        self.metrics = MailboxMetrics()
        self.producer = kafka_clients.async_producer(settings, "claims-mailbox")
        self.service = MailboxService(
            settings, Ledger(settings.state_dir / "mailboxes"), self.announce, self.metrics
        )
        self.mirror = TopicMirror(settings, ["ref.partners"], self._partner)
        self.stopping = asyncio.Event()
        #: set when a released file was accepted: upload it now, not at the next tick
        self.due = asyncio.Event()
        self.last_poll: dict[str, float] = {}
        self.ready = False

    def _partner(self, _topic: str, key: bytes, value: bytes | None) -> None:
        receiver = key.decode()
        if value is None:
            self.partners.pop(receiver, None)
            return
        try:
            self.partners[receiver] = TradingPartner.parse_json(value)
        except ValueError as exc:
            log.error("trading partner record refused", receiver=receiver, error=str(exc)[:300])

    async def announce(self, topic: str, key: str, record: Versioned | None) -> None:
        value = encode(record) if record is not None else None
        await self.producer.send_and_wait(self.settings.topic(topic), key=key.encode(), value=value)

    async def consume(self) -> None:
        consumer = kafka_clients.async_group_consumer(
            self.settings, self.settings.group_id("mailbox"), "claims-mailbox"
        )
        consumer.subscribe([self.settings.topic("edi.outbound")])
        await consumer.start()
        try:
            while not self.stopping.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=200)
                for messages in batch.values():
                    for message in messages:
                        await self._released(message.value)
                if batch:
                    await consumer.commit()
        finally:
            await consumer.stop()

    async def _released(self, value: bytes | None) -> None:
        if value is None:
            return
        try:
            released = FileReleased.parse_json(value)
        except ValueError as exc:
            log.error("edi.outbound record not read", error=str(exc)[:300])
            return
        partner = self.partners.get(released.receiver_id)
        if partner is None or partner.sftp is None:
            return  # this partner takes its files another way
        await self.service.accept(released, partner)
        self.due.set()

    async def upload_loop(self) -> None:
        while not self.stopping.is_set():
            self.due.clear()
            await self.service.deliver_due(self.partners)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken(), TICK_S)

    async def _woken(self) -> None:
        stop = asyncio.ensure_future(self.stopping.wait())
        due = asyncio.ensure_future(self.due.wait())
        try:
            await asyncio.wait([stop, due], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            due.cancel()

    async def download_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            for receiver, partner in sorted(self.partners.items()):
                mailbox = partner.sftp
                if mailbox is None:
                    continue
                last = self.last_poll.get(receiver)
                if last is not None and loop.time() - last < mailbox.poll_interval_s:
                    continue
                self.last_poll[receiver] = loop.time()
                try:
                    report = await self.service.poll(partner)
                except MailboxError as exc:
                    self.metrics.polls.labels(receiver, "failed").inc()
                    log.error("mailbox poll failed", receiver=receiver, error=str(exc)[:300])
                    continue
                self.metrics.polls.labels(receiver, "ok").inc()
                if report.fetched or report.duplicates:
                    log.info(
                        "mailbox polled",
                        receiver=receiver,
                        fetched=len(report.fetched),
                        duplicates=len(report.duplicates),
                    )
            await self._sleep(TICK_S)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        settings = self.settings
        server = None
        if settings.web_enabled:
            server = serve_health(
                settings.web_host, settings.web_port, self.metrics.registry, lambda: self.ready
            )
        await self.producer.start()
        mirror = asyncio.create_task(self.mirror.run())
        try:
            await self.mirror.wait_ready(settings.reference_ready_timeout_s)
            self.service.recover()
            self.ready = True
            log.info(
                "mailbox worker started",
                partners=sorted(r for r, p in self.partners.items() if p.sftp is not None),
                inbox=str(settings.inbox_dir),
                at=datetime.now(UTC).isoformat(),
            )
            tasks: list[asyncio.Task[object]] = [
                asyncio.create_task(self.consume()),
                asyncio.create_task(self.upload_loop()),
                asyncio.create_task(self.download_loop()),
            ]
            stop = asyncio.create_task(self.stopping.wait())
            done, _ = await asyncio.wait([*tasks, stop], return_when=asyncio.FIRST_COMPLETED)
            self.stopping.set()
            for task in tasks:
                if task not in done:
                    await task
            for task in done:
                if task is not stop:
                    task.result()  # a loop that died says why
        finally:
            mirror.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mirror
            await self.producer.stop()
            if server is not None:
                server.shutdown()


def run(settings: Settings) -> None:
    """Run the mailbox worker until SIGTERM/SIGINT."""

    async def main() -> None:
        # built inside the loop: its Kafka clients bind to the running loop
        await MailboxWorker(settings).run()

    asyncio.run(main())
