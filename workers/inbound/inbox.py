"""``claims worker inbox``: watch the inbox directory and ingest 835, 999 and 277 files.

What a file is comes from its first functional group (``GS01``): ``HP`` 835
remittances are parsed, balanced and published (:mod:`workers.inbound.remittances`);
``FA`` 999 and ``HN`` 277CA/277 acknowledgements are published on
``acks.inbound`` (:mod:`workers.inbound.acknowledgements`, trading partners read from
``ref.partners``); ``HB`` 271 eligibility answers on ``eligibility.responses``
(:mod:`workers.inbound.eligibility`).  The producer is flushed, then the file moves atomically to
``processed/`` (or to ``failed/`` with a ``.reason`` file naming the problem
when it cannot be taken in).  A file is taken only when its writer is done:
write it as ``.name`` or ``name.part`` and rename it when complete (names
starting with a dot or ending ``.part``, ``.partial`` or ``.tmp`` are never
taken), and, as a second guard, only once its size has not changed for one
poll.  Symbolic links and anything that is not a regular file are refused (moved
to ``failed/``).  A file being taken in sits in ``working/``: one left there by a
watcher that stopped (a crash) goes to ``failed/`` at the next start instead of
being retried in a loop.  Files moved out of the inbox are made owner-only (0600).

An 835 from a trading partner with ``acknowledge_835: true`` (or every 835, with
``CLAIMS_INBOX_ACKNOWLEDGE_835=true``) is answered with a 999 written to
``<outbox>/999/`` (atomically, mode 0600).
"""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from edi.segments import X12Error
from edi.tolerance import ReadWarning
from workers.inbound.remittances import FileReport, ingest_file
from workers.runtime import kafka_clients
from workers.runtime.settings import Settings

log = structlog.stdlib.get_logger("claims.inbox")


class InboxHealth:
    """``/claims/live``, ``/claims/ready`` and ``/claims/metrics`` of the watcher, served
    from a small thread on the worker web port (like the faust workers')."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter

        self.registry = CollectorRegistry()
        self.files = Counter(
            "claims_inbox_files",
            "835 files taken from the inbox.",
            ["result"],
            registry=self.registry,
        )
        self.payments = Counter(
            "claims_inbox_claim_payments",
            "Claim payments published from 835 files.",
            registry=self.registry,
        )
        self.inquiries_refused = Counter(
            "claims_inbox_inquiry_groups_refused",
            "Our 270/276 groups a partner's 999 rejected (no answer will come).",
            registry=self.registry,
        )
        self.ready = False

    def serve(self, host: str, port: int) -> Any:
        from workers.runtime.health_http import serve_health

        return serve_health(host, port, self.registry, lambda: self.ready)


def _move(path: Path, target_dir: Path, stamped: bool = True) -> Path:
    """Move a file (atomically, within the inbox's file system) and make it owner-only:
    what a payer sends holds patient data, whatever mode it was uploaded with."""
    target_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = target_dir / (f"{stamp}_{path.name}" if stamped else path.name)
    os.replace(path, target)
    if not target.is_symlink():
        target.chmod(0o600)
    return target


def _fail(path: Path, inbox: Path, reason: str) -> Path:
    """Move a file to ``failed/`` with a ``.reason`` file beside it (both 0600)."""
    from workers.runtime.atomic_files import write_atomically

    failed = _move(path, inbox / "failed")
    write_atomically(failed.parent, failed.name + ".reason", f"{reason}\n".encode())
    return failed


#: Names a writer uses while a file is not complete yet: ``.name`` or ``name.part``
#: (write under such a name, then rename); they are never taken.
PARTIAL_SUFFIXES = (".part", ".partial", ".tmp")


def candidates(inbox: Path) -> tuple[dict[Path, int], list[Path]]:
    """The complete regular files of the inbox with their sizes, and what is refused:
    a symbolic link (it may point anywhere) or anything that is not a regular file."""
    found: dict[Path, int] = {}
    refused: list[Path] = []
    for p in sorted(inbox.iterdir()):
        if p.name.startswith(".") or p.name.endswith(PARTIAL_SUFFIXES):
            continue
        info = p.lstat()
        if stat.S_ISDIR(info.st_mode) and not p.is_symlink():
            continue  # processed/, failed/, working/
        if p.is_symlink() or not stat.S_ISREG(info.st_mode):
            refused.append(p)
            continue
        found[p] = info.st_size
    return found, refused


def recover(inbox: Path) -> list[Path]:
    """Files left in ``working/`` by a watcher that stopped while taking them in (a crash,
    an out-of-memory kill) go to ``failed/`` instead of being retried in a loop; their
    remittances are posted once even if they are ingested again by hand."""
    working = inbox / "working"
    if not working.is_dir():
        return []
    moved = []
    for path in sorted(working.iterdir()):
        moved.append(
            _fail(path, inbox, "the watcher stopped while taking this file in: check it, "
                  "then put it back into the inbox (a remittance is posted once)")
        )  # fmt: skip
        log.error("file left half-taken by a stopped watcher", file=path.name)
    return moved


def producer_for(settings: Settings) -> Any:
    return kafka_clients.producer(settings, client_id="claims-inbox", linger_ms=5)


class PartnersOfPass:
    """The trading partners (``ref.partners``) read at most once per pass over the
    inbox: a pass that takes in twenty acknowledgements reads the topic once, and a
    partner added since the last pass is seen by the next."""

    def __init__(
        self, settings: Settings, load: Callable[[Settings], list[Any]] | None = None
    ) -> None:
        self.settings = settings
        self._load = load
        self._partners: list[Any] | None = None

    def new_pass(self) -> None:
        self._partners = None

    def __call__(self) -> list[Any]:
        if self._partners is None:
            if self._load is None:
                from workers.inbound.acknowledgements import load_partners

                self._load = load_partners
            self._partners = self._load(self.settings)
        return self._partners


def process_file(
    path: Path,
    settings: Settings,
    producer: Any,
    health: InboxHealth | None = None,
    partners: PartnersOfPass | None = None,
) -> FileReport | None:
    def send(
        topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        producer.send(topic, key=key, value=value, headers=headers)

    inbox = path.parent
    path = _move(path, inbox / "working", stamped=False)  # claimed: never retried in a loop
    try:
        kind = _sniff(path)
        if kind in ("FA", "HN", "TA1"):
            _process_ack(path, settings, send, producer, health, partners)
            return None
        if kind == "HB":
            _process_271(path, settings, send, producer, health)
            return None
        report = ingest_file(path, send, settings.topic, settings.max_edi_file_bytes)
        producer.flush()
        if settings.inbox_acknowledge_835 or _partner_wants_999(path, settings, partners):
            _acknowledge(path, settings, report.warnings)
    except (X12Error, ValueError, OSError) as exc:
        _fail(path, inbox, f"{type(exc).__name__}: {exc}")
        log.error("835 file failed", file=path.name, error=str(exc)[:300])
        if health:
            health.files.labels("failed").inc()
        return None
    _move(path, inbox / "processed")
    if health:
        health.files.labels("processed").inc()
        health.payments.inc(report.posted_claims)
    log.info(
        "835 file ingested",
        file=path.name,
        claims=report.posted_claims,
        transactions=len(report.transactions),
        unbalanced=len(report.unbalanced),
        envelope_faults=len(report.warnings),
    )
    return report


def _sniff(path: Path) -> str | None:
    from workers.inbound.acknowledgements import sniff

    with path.open("rb") as fh:
        return sniff(fh.read(8192))


def _process_ack(
    path: Path,
    settings: Settings,
    send: Any,
    producer: Any,
    health: InboxHealth | None,
    partners: PartnersOfPass | None,
) -> None:
    from workers.inbound.acknowledgements import ingest_ack_file

    known = (partners or PartnersOfPass(settings))()
    report = ingest_ack_file(path, send, settings.topic, known, settings.max_edi_file_bytes)
    producer.flush()
    _move(path, path.parent.parent / "processed")  # from working/
    if health:
        health.files.labels("processed").inc()
    log.info(
        "acknowledgement file ingested",
        file=path.name,
        kind=report.kind,
        published=report.published,
        skipped=len(report.skipped),
    )
    for refused in report.refused_inquiries:
        if health:
            health.inquiries_refused.inc()
        log.warning("a partner refused our inquiries", file=path.name, detail=refused)


def _process_271(
    path: Path, settings: Settings, send: Any, producer: Any, health: InboxHealth | None
) -> None:
    from workers.inbound.eligibility import ingest_271_file

    report = ingest_271_file(path, send, settings.topic, settings.max_edi_file_bytes)
    producer.flush()
    _move(path, path.parent.parent / "processed")  # from working/
    if health:
        health.files.labels("processed").inc()
    log.info(
        "eligibility file ingested",
        file=path.name,
        published=report.published,
        active=report.active,
        inactive=report.inactive,
        rejected=report.rejected,
        skipped=len(report.skipped),
        envelope_faults=len(report.warnings),
    )


def _partner_wants_999(
    path: Path, settings: Settings, partners: PartnersOfPass | None = None
) -> bool:
    """Whether the 835's sender asks for a 999 (the partners read once per pass)."""
    from workers.inbound.acknowledgements import wants_999

    with path.open("rb") as fh:
        head = fh.read(4096)
    return wants_999(head, (partners or PartnersOfPass(settings))())


def _acknowledge(path: Path, settings: Settings, tolerated: Sequence[ReadWarning] = ()) -> None:
    """Write the 999 answering the 835 at ``path`` to ``<outbox>/999/``, and a TA1 to
    ``<outbox>/ta1/`` when the reader forgave faults of the interchange envelope.

    The envelope faults the reader forgave are reported where X12 puts them: the
    transaction set trailers in the 999's IK5 and the group's in its AK9 (accepted,
    errors noted), an unpadded ISA or a wrong IEA in the TA1."""
    from edi.segments import pad_loose_isas, read_segments
    from edi.ta1 import render_ta1, ta1_notes
    from edi.tolerance import Warnings
    from edi.validate import validate_x12
    from edi.x999 import acknowledge
    from workers.runtime.atomic_files import write_atomically
    from workers.runtime.limits import VALIDATE_FILE_BYTES

    now = datetime.now(UTC)
    number = int(now.strftime("%H%M%S%f")[:9]) or 1
    if path.stat().st_size > VALIDATE_FILE_BYTES:
        # too large for the validator (it holds the whole file, ~10 MB of memory per MB):
        # the 999 reports what our own streaming reader found, read from the file
        log.warning(
            "835 too large for the validator: 999 from the reader's findings only",
            file=path.name,
        )
        with path.open("rb") as stream:
            text = acknowledge(
                stream, [], control_number=number, created_at=now, tolerated=tolerated
            )
            stream.seek(0)
            head = stream.read(4096)
    else:
        data = pad_loose_isas(path.read_bytes(), tolerated)
        findings = validate_x12(data).findings
        text = acknowledge(
            data, findings, control_number=number, created_at=now, tolerated=tolerated
        )
        head = data[:4096]
    target = write_atomically(settings.outbox_dir / "999", f"{path.stem}.999", text.encode())
    log.info("999 written for an 835", file=path.name, ack=target.name)
    notes = ta1_notes(tolerated)
    if notes:
        isa = next(iter(read_segments(head, warnings=Warnings())))
        ta1 = render_ta1(isa, notes, control_number=number, created_at=now)
        target = write_atomically(settings.outbox_dir / "ta1", f"{path.stem}.ta1", ta1.encode())
        log.info("TA1 written for an 835", file=path.name, ack=target.name, notes=notes)


def watch(settings: Settings, poll_s: float = 1.0, once: bool = False) -> None:
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    health = InboxHealth()
    server = health.serve(settings.web_host, settings.web_port) if settings.web_enabled else None
    producer = producer_for(settings)
    health.ready = True
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sizes: dict[Path, int] = {}
    log.info("inbox watching", directory=str(inbox))
    recover(inbox)
    partners = PartnersOfPass(settings)
    try:
        while not stop:
            partners.new_pass()
            current, refused = candidates(inbox)
            for path in refused:
                _fail(path, inbox, "refused: not a regular file of the inbox (a symbolic link?)")
                log.error("inbox entry refused", file=path.name)
            for path, size in current.items():
                if once or sizes.get(path) == size:
                    process_file(path, settings, producer, health, partners)
            sizes = current
            if once:
                break
            time.sleep(poll_s)
    finally:
        producer.close()
        if server is not None:
            server.shutdown()
