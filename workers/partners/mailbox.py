"""Uploading transmissions to partners' SFTP mailboxes and fetching what comes back.

:class:`MailboxService` carries out what :mod:`workers.partners.delivery` decides,
against the server (:mod:`workers.partners.sftp`), the worker's ledger
(:mod:`workers.partners.ledger`) and the inbox.  Everything it records is written
to the ledger first (fsynced) and then announced (``edi.deliveries``,
``partners.delivery-failed``) through the ``announce`` callable the worker gives it.

**One upload attempt** (:meth:`MailboxService.deliver`): connect (host key checked);
if the final remote name already exists with the file's size the file is there from
an attempt whose record was lost (a crash after the rename): it is recorded
``uploaded`` without a second upload.  Otherwise record ``uploading``, write the
file as ``.<name>.part``, check its size, rename it to ``<name>``, check again and
record ``uploaded`` with ``sent_at`` and the remote name.

**One poll** (:meth:`MailboxService.poll`): list the download directory; fetch each
complete file into the inbox as ``.<name>.part`` (fsynced); what is not a 999, TA1,
277CA/277, 271 or 835 is dropped and left on the server; a content hash already in
the ledger is a file taken before (dropped, then removed remotely); a new one is
recorded, renamed into the inbox (where ``claims worker inbox`` takes it) and only
then deleted or moved on the server.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from schemas.base import Versioned
from schemas.claims import SftpMailbox, TradingPartner
from schemas.state import MailboxFetch
from schemas.submission import DeliveryFailed, FileDelivery, FileReleased, transmission_key
from workers.partners import delivery as core
from workers.partners.ledger import Ledger
from workers.partners.sftp import (
    HostKeyChanged,
    Mailbox,
    MailboxError,
    MailboxRefused,
    open_mailbox,
)
from workers.runtime.atomic_files import fsync_directory, make_private_dirs
from workers.runtime.settings import Settings

log = structlog.stdlib.get_logger("claims.mailbox")

#: ``announce(topic, key, record)``: publish (and wait for the broker) a record or,
#: with ``None``, a tombstone.
Announce = Callable[[str, str, Versioned | None], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MailboxMetrics:
    """The mailbox worker's counters (labels: partner ids and results, never a file's
    content or a patient)."""

    def __init__(self, registry: Any = None) -> None:
        from prometheus_client import CollectorRegistry, Counter

        self.registry = registry or CollectorRegistry()
        self.uploads = Counter(
            "claims_mailbox_uploads",
            "Upload attempts of 837, 270 and 276 files to partners' mailboxes, by result.",
            ["partner", "result"],
            registry=self.registry,
        )
        self.downloads = Counter(
            "claims_mailbox_downloads",
            "Files seen in partners' download directories, by what became of them.",
            ["partner", "result"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "claims_mailbox_delivery_failed",
            "Transmissions that became work items on partners.delivery-failed.",
            ["partner", "reason"],
            registry=self.registry,
        )
        self.polls = Counter(
            "claims_mailbox_polls",
            "Polls of partners' download directories, by result.",
            ["partner", "result"],
            registry=self.registry,
        )


@dataclass
class PollReport:
    fetched: list[str] = field(default_factory=list)  # inbox names
    duplicates: list[str] = field(default_factory=list)  # remote names
    ignored: list[str] = field(default_factory=list)
    too_large: list[str] = field(default_factory=list)
    cleaned: list[str] = field(default_factory=list)


class MailboxService:
    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        announce: Announce,
        metrics: MailboxMetrics | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.announce = announce
        self.metrics = metrics or MailboxMetrics()
        self.clock = clock
        self.policy = core.RetryPolicy(
            settings.mailbox_retry_attempts,
            settings.mailbox_retry_backoff_s,
            settings.mailbox_retry_backoff_max_s,
        )
        #: per partner: (name, size) of remote files that are not ours to take
        self.left_alone: dict[str, set[tuple[str, int]]] = {}

    # --- uploads ----------------------------------------------------------------------
    async def accept(self, released: FileReleased, partner: TradingPartner) -> FileDelivery | None:
        """A released file for a partner with a mailbox: remembered ``pending`` (once)."""
        assert partner.sftp is not None
        known = self.ledger.delivery(
            released.receiver_id, released.control_numbers.interchange, released.transaction
        )
        if known is not None:
            return known
        now = self.clock()
        max_age = self.settings.mailbox_upload_max_age_h
        if core.too_old(released, now, max_age):
            item = core.too_old_item(released, now, max_age)
            await self._raise(item)
            return None
        record = core.new_delivery(released, now)
        await self._record(record)
        return record

    async def deliver(self, delivery: FileDelivery, partner: TradingPartner) -> FileDelivery:
        """One attempt at putting the file into the partner's mailbox."""
        mailbox = partner.sftp
        assert mailbox is not None
        temporary, final = core.remote_names(mailbox, delivery.file_name)
        before = delivery.status
        try:
            local = Path(delivery.path)
            if not local.is_file():
                raise MailboxRefused(f"{delivery.file_name} is no longer in the outbox")
            if local.stat().st_size != delivery.size_bytes:
                raise MailboxRefused(
                    f"{delivery.file_name} in the outbox is not the size it was released with"
                )
            async with open_mailbox(mailbox, self.settings) as box:
                delivery = await self._upload(box, delivery, local, temporary, final)
        except MailboxError as exc:
            # what was recorded last (``uploading`` once the upload began)
            latest = self.ledger.delivery(
                delivery.receiver_id, delivery.interchange, delivery.transaction
            )
            refused: core.Refusal | None = None
            if isinstance(exc, HostKeyChanged):
                refused = "host-key-changed"
            elif isinstance(exc, MailboxRefused):
                refused = "refused"
            return await self._failed(latest or delivery, str(exc), refused)
        if before == "failed":
            await self.announce("partners.delivery-failed", delivery.key, None)
        return delivery

    async def _upload(
        self, box: Mailbox, delivery: FileDelivery, local: Path, temporary: str, final: str
    ) -> FileDelivery:
        there = await box.stat(final)
        if there is not None:
            if there.regular and there.size == delivery.size_bytes:
                # an earlier attempt renamed it and stopped before recording that
                record = core.uploaded(delivery, final, self.clock())
                await self._record(record)
                self.metrics.uploads.labels(delivery.receiver_id, "found").inc()
                log.warning(
                    "file already in the partner's mailbox: recorded, not sent again",
                    transaction=delivery.transaction,
                    file=delivery.file_name,
                    receiver=delivery.receiver_id,
                    remote=final,
                )
                return record
            raise MailboxRefused(
                f"{final} already exists on the server with another size ({there.size} "
                f"bytes, ours {delivery.size_bytes}): not overwritten"
            )
        delivery = core.uploading(delivery, final, self.clock())
        await self._record(delivery)
        await box.remove(temporary)  # left by an attempt that broke off
        await box.put(local, temporary)
        written = await box.stat(temporary)
        if written is None or written.size != delivery.size_bytes:
            size = "nothing" if written is None else f"{written.size} bytes"
            raise MailboxError(
                f"{temporary} holds {size} after the upload, expected "
                f"{delivery.size_bytes}: sent again on the next attempt"
            )
        await box.rename(temporary, final)
        landed = await box.stat(final)
        if landed is not None and landed.size != delivery.size_bytes:
            raise MailboxRefused(f"{final} changed size after the rename ({landed.size} bytes)")
        record = core.uploaded(delivery, final, self.clock())
        await self._record(record)
        self.metrics.uploads.labels(delivery.receiver_id, "uploaded").inc()
        log.info(
            "file uploaded",
            transaction=delivery.transaction,
            file=delivery.file_name,
            receiver=delivery.receiver_id,
            remote=final,
            bytes=delivery.size_bytes,
        )
        return record

    async def _failed(
        self, delivery: FileDelivery, error: str, refused: core.Refusal | None
    ) -> FileDelivery:
        record, item = core.attempt_failed(delivery, error, self.clock(), self.policy, refused)
        await self._record(record)
        self.metrics.uploads.labels(delivery.receiver_id, refused or "failed").inc()
        log.warning(
            "upload failed",
            transaction=delivery.transaction,
            file=delivery.file_name,
            receiver=delivery.receiver_id,
            attempts=record.attempts,
            retry_at=record.next_attempt_at.isoformat() if record.next_attempt_at else None,
            error=error[:300],
        )
        if item is not None:
            await self._raise(item)
        return record

    async def _record(self, delivery: FileDelivery) -> None:
        self.ledger.put_delivery(delivery)
        await self.announce("edi.deliveries", delivery.key, delivery)

    async def _raise(self, item: DeliveryFailed) -> None:
        key = transmission_key(item.receiver_id, item.transaction, item.interchange)
        await self.announce("partners.delivery-failed", key, item)
        self.metrics.alerts.labels(item.receiver_id, item.reason).inc()
        log.error(
            "file not delivered to the partner's mailbox: work item raised",
            transaction=item.transaction,
            file=item.file_name,
            receiver=item.receiver_id,
            reason=item.reason,
            message=item.message,
        )

    async def deliver_due(self, partners: dict[str, TradingPartner]) -> list[FileDelivery]:
        """Every delivery whose attempt is due, for partners that (still) have a mailbox."""
        done = []
        for delivery in core.due(self.ledger.deliveries(), self.clock()):
            partner = partners.get(delivery.receiver_id)
            if partner is None or partner.sftp is None:
                continue
            done.append(await self.deliver(delivery, partner))
        return done

    # --- downloads --------------------------------------------------------------------
    @property
    def inbox(self) -> Path:
        return self.settings.inbox_dir

    def _part(self, receiver_id: str, remote_name: str) -> Path:
        safe = core.inbox_name(receiver_id, remote_name, "", lambda _: False)
        return self.inbox / f".{safe}.part"

    def recover(self) -> list[Path]:
        """Finish what a stopped worker recorded but did not rename into the inbox."""
        done = []
        for fetch in self.ledger.unfinished_fetches():
            part = self._part(fetch.receiver_id, fetch.remote_name)
            target = self.inbox / fetch.inbox_name
            if part.is_file() and not target.exists() and _sha256(part) == fetch.sha256:
                os.rename(part, target)
                fsync_directory(self.inbox)
                done.append(target)
                log.info("fetched file put into the inbox after a restart", file=target.name)
        return done

    async def poll(self, partner: TradingPartner) -> PollReport:
        """Fetch what the partner's download directory offers (one connection)."""
        mailbox = partner.sftp
        assert mailbox is not None
        report = PollReport()
        make_private_dirs(self.inbox)
        async with open_mailbox(mailbox, self.settings) as box:
            listing = await box.listdir(mailbox.download_dir)
            take, too_large = core.offered(
                ((e.name, e.size, e.regular) for e in listing), self.settings.max_edi_file_bytes
            )
            alone = self.left_alone.setdefault(partner.receiver_id, set())
            for big in too_large:
                if (big.name, big.size) not in alone:
                    alone.add((big.name, big.size))
                    report.too_large.append(big.name)
                    self.metrics.downloads.labels(partner.receiver_id, "too-large").inc()
                    log.error(
                        "file in the partner's mailbox too large to take: left there",
                        receiver=partner.receiver_id,
                        remote=big.name,
                        bytes=big.size,
                        limit=self.settings.max_edi_file_bytes,
                    )
            for item in take:
                if (item.name, item.size) in alone:
                    continue
                await self._take(box, partner.receiver_id, mailbox, item, report, alone)
        return report

    async def _take(
        self,
        box: Mailbox,
        receiver_id: str,
        mailbox: SftpMailbox,
        item: core.Offered,
        report: PollReport,
        alone: set[tuple[str, int]],
    ) -> None:
        remote = posixpath.join(mailbox.download_dir, item.name)
        part = self._part(receiver_id, item.name)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                size = await box.fetch(remote, fh, self.settings.max_edi_file_bytes)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        with part.open("rb") as fh:
            kind = core.classify(fh.read(8192))
        if kind is None:
            part.unlink()
            alone.add((item.name, item.size))
            report.ignored.append(item.name)
            self.metrics.downloads.labels(receiver_id, "not-taken").inc()
            log.warning(
                "file in the partner's mailbox is not a 999, TA1, 277, 271 or 835: left there",
                receiver=receiver_id,
                remote=item.name,
            )
            return
        digest = _sha256(part)
        known = self.ledger.fetched(receiver_id, digest)
        if known is not None:
            part.unlink()
            report.duplicates.append(item.name)
            self.metrics.downloads.labels(receiver_id, "duplicate").inc()
            log.info(
                "file in the partner's mailbox was taken before (same content): not again",
                receiver=receiver_id,
                remote=item.name,
                first_taken_as=known.inbox_name,
            )
            await self._clean(box, mailbox, remote, known, report)
            return
        name = core.inbox_name(receiver_id, item.name, digest, lambda n: (self.inbox / n).exists())
        fetch = MailboxFetch(
            schema_version=MailboxFetch.SCHEMA_VERSION,
            receiver_id=receiver_id,
            sha256=digest,
            remote_name=remote,
            size_bytes=size,
            kind=kind,
            inbox_name=name,
            status="fetched",
            fetched_at=self.clock(),
        )
        self.ledger.put_fetched(fetch)  # remembered before it can be ingested
        os.rename(part, self.inbox / name)
        fsync_directory(self.inbox)
        report.fetched.append(name)
        self.metrics.downloads.labels(receiver_id, "fetched").inc()
        log.info("file fetched into the inbox", receiver=receiver_id, remote=item.name,
                 file=name, kind=kind, bytes=size)  # fmt: skip
        await self._clean(box, mailbox, remote, fetch, report)

    async def _clean(
        self,
        box: Mailbox,
        mailbox: SftpMailbox,
        remote: str,
        fetch: MailboxFetch,
        report: PollReport,
    ) -> None:
        """Delete or move the remote file: only ever after its content is in the inbox."""
        if mailbox.after_download == "delete":
            await box.remove(remote)
        else:
            target = core.archive_path(mailbox, remote)
            if await box.stat(target) is not None:
                target = core.archive_path(mailbox, remote, self.clock())
            await box.rename(remote, target)
        report.cleaned.append(posixpath.basename(remote))
        if fetch.status != "cleaned":
            self.ledger.put_fetched(
                fetch.model_copy(update={"status": "cleaned", "cleaned_at": self.clock()})
            )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
