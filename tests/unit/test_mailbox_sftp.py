"""Partners' SFTP mailboxes against a real SFTP server (asyncssh on loopback, chrooted,
started by the fixture; never a mock): an upload lands under its final name once and is
recorded, a changed host key is refused and said so, a connection dropped mid-upload is
retried and the file uploaded once, a restart between the rename and the record sends
nothing twice, and a file fetched from the download directory is taken into the inbox
once by its content and removed (or moved) on the server only after that."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from schemas.base import Versioned
from schemas.claims import SftpMailbox, TradingPartner
from schemas.state import MailboxFetch
from schemas.submission import DeliveryFailed, FileDelivery, FileReleased
from tests.sftp_server import USER, SftpTestServer
from workers.partners.ledger import Ledger
from workers.partners.mailbox import MailboxService
from workers.runtime.settings import Settings

RECEIVER = "CLEARINGHOUSE1"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def isa(control: int = 1) -> str:
    return (
        "ISA*00*          *00*          *ZZ*CLEARINGHOUSE  *ZZ*CLINIC         *261102*0900*^*"
        f"00501*{control:09d}*0*T*:~"
    )


def x12(gs01: str, control: int = 1, body: str = "") -> bytes:
    text = (
        f"{isa(control)}\nGS*{gs01}*CLEARINGHOUSE*CLINIC*20261102*0900*{control}*X*005010X231A1~\n"
        f"ST*999*0001~\n{body}SE*2*0001~\nGE*1*{control}~\nIEA*1*{control:09d}~\n"
    )
    return text.encode()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Announced:
    """What the worker would publish (the broker side is not under test here)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str, Versioned | None]] = []

    async def __call__(self, topic: str, key: str, record: Versioned | None) -> None:
        self.records.append((topic, key, record))

    def on(self, topic: str) -> list[Any]:
        return [r for t, _, r in self.records if t == topic]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SftpTestServer]:
    srv = SftpTestServer(tmp_path / "sftp-root").start()
    for name in ("to-partner", "from-partner", "archive"):
        srv.path(name).mkdir()
    yield srv
    srv.stop()


@pytest.fixture
def settings(tmp_path: Path, server: SftpTestServer) -> Settings:
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    key = secrets / "clearinghouse1.key"
    key.write_text(server.client_key_text())
    key.chmod(0o600)
    return Settings(
        state_dir=tmp_path / "state",
        inbox_dir=tmp_path / "inbox",
        outbox_dir=tmp_path / "outbox",
        mailbox_secrets_dir=secrets,
        mailbox_connect_timeout_s=5,
        mailbox_retry_attempts=3,
        mailbox_retry_backoff_s=10,
        mailbox_retry_backoff_max_s=600,
    )


def partner(server: SftpTestServer, **sftp: Any) -> TradingPartner:
    mailbox = {
        "host": "127.0.0.1",
        "port": server.port,
        "user": USER,
        "private_key": {"file": "clearinghouse1.key"},
        "host_key": server.known_hosts_line,
        "upload_dir": "to-partner",
        "download_dir": "from-partner",
        **sftp,
    }
    return TradingPartner.model_validate(
        {
            "schema_version": 1,
            "receiver_id": RECEIVER,
            "name": "CLEARINGHOUSE ONE",
            "receiver_code": "CH1",
            "isa_sender_id": "CLINIC",
            "isa_receiver_id": "CLEARINGHOUSE",
            "gs_sender_code": "CLINIC",
            "gs_receiver_code": "CLEARINGHOUSE",
            "submitter": {
                "name": "CLINIC",
                "id": "CLINIC",
                "contact_name": "BILLING",
                "contact_phone": "5555550100",
            },
            "sftp": SftpMailbox.model_validate(mailbox),
        }
    )


def released(settings: Settings, size: int = 200_000, interchange: int = 17) -> FileReleased:
    """An 837 file in the outbox and its announcement (the content is not read)."""
    data = (isa(interchange) + "\n" + "X" * size).encode()[:size]
    directory = settings.outbox_dir / RECEIVER
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{RECEIVER}_{interchange:09d}.837"
    (directory / name).write_bytes(data)
    import hashlib

    return FileReleased.model_validate(
        {
            "schema_version": 1,
            "file_name": name,
            "path": str(directory / name),
            "receiver_id": RECEIVER,
            "billing_provider_npi": "1234567893",
            "usage": "T",
            "control_numbers": {"interchange": interchange, "group": interchange, "transaction": 1},
            "claim_count": 1,
            "claim_ids": ["C1"],
            "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "validated": True,
            "released_at": T0,
        }
    )


def service(settings: Settings, clock: Clock, announced: Announced) -> MailboxService:
    return MailboxService(
        settings, Ledger(settings.state_dir / "mailboxes"), announced, clock=clock
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --- upload -------------------------------------------------------------------------


def test_an_837_is_uploaded_under_a_temporary_name_renamed_and_recorded(
    server: SftpTestServer, settings: Settings
) -> None:
    clock, announced = Clock(), Announced()
    mailboxes = service(settings, clock, announced)
    ch = partner(server)
    file = released(settings)

    async def scenario() -> FileDelivery:
        pending = await mailboxes.accept(file, ch)
        assert pending is not None and pending.status == "pending"
        clock.now = T0 + timedelta(seconds=5)
        [done] = await mailboxes.deliver_due({RECEIVER: ch})
        return done

    done = run(scenario())
    remote = server.path(f"to-partner/{file.file_name}")
    assert remote.read_bytes() == Path(file.path).read_bytes()
    assert sorted(p.name for p in server.path("to-partner").iterdir()) == [file.file_name]
    assert server.log.opened_for_write == [f"to-partner/.{file.file_name}.part"]
    assert server.log.renames == [
        (f"to-partner/.{file.file_name}.part", f"to-partner/{file.file_name}")
    ]
    assert done.status == "uploaded"
    assert done.remote_name == f"to-partner/{file.file_name}"
    assert done.sent_at == T0 + timedelta(seconds=5)
    statuses = [r.status for r in announced.on("edi.deliveries")]
    assert statuses == ["pending", "uploading", "uploaded"]  # uploading before a byte left
    assert announced.on("partners.delivery-failed") == []
    # remembered: nothing is due any more, and a repeated announcement changes nothing
    assert run(mailboxes.deliver_due({RECEIVER: ch})) == []
    assert run(mailboxes.accept(file, ch)) == done
    record = settings.state_dir / "mailboxes" / RECEIVER / "deliveries" / "17.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600


def test_a_270_sharing_an_837s_interchange_number_is_a_transmission_of_its_own(
    server: SftpTestServer, settings: Settings
) -> None:
    """270s are numbered from their own sequence, so one can carry an 837's ISA13: the
    two are delivered, recorded and keyed apart, also after a restart."""
    clock, announced = Clock(), Announced()
    mailboxes = service(settings, clock, announced)
    ch = partner(server)
    claims = released(settings, size=5_000)
    inquiry = released(settings, size=3_000).model_copy(
        update={"transaction": "270", "file_name": f"270-{RECEIVER}-P1-000000017.x12"}
    )
    Path(inquiry.path).rename(Path(inquiry.path).with_name(inquiry.file_name))
    inquiry = inquiry.model_copy(
        update={"path": str(Path(inquiry.path).with_name(inquiry.file_name))}
    )
    Path(claims.path).write_bytes(b"C" * claims.size_bytes)  # the 837 again, its own bytes

    async def scenario() -> list[FileDelivery]:
        assert await mailboxes.accept(claims, ch) is not None
        assert (await mailboxes.accept(inquiry, ch)) is not None  # not taken for the 837
        clock.now = T0 + timedelta(seconds=5)
        return await mailboxes.deliver_due({RECEIVER: ch})

    done = run(scenario())
    assert sorted((d.transaction, d.status) for d in done) == [
        ("270", "uploaded"), ("837", "uploaded")
    ]  # fmt: skip
    for file in (claims, inquiry):
        assert server.path(f"to-partner/{file.file_name}").read_bytes() == Path(
            file.path
        ).read_bytes()
    keys = {k for t, k, _ in announced.records if t == "edi.deliveries"}
    assert keys == {f"{RECEIVER}|17", f"{RECEIVER}|270|17"}
    folder = settings.state_dir / "mailboxes" / RECEIVER / "deliveries"
    assert sorted(p.name for p in folder.iterdir()) == ["17.json", "270-17.json"]
    again = Ledger(settings.state_dir / "mailboxes")  # a restart reads both back
    first, second = again.delivery(RECEIVER, 17), again.delivery(RECEIVER, 17, "270")
    assert first is not None and first.transaction == "837"
    assert second is not None and second.status == "uploaded"


def test_a_changed_host_key_is_refused_and_says_so(
    server: SftpTestServer, settings: Settings
) -> None:
    clock, announced = Clock(), Announced()
    mailboxes = service(settings, clock, announced)
    impostor = asyncssh.generate_private_key("ssh-ed25519")
    pinned = str(impostor.get_fingerprint("sha256"))
    for pin in (pinned, impostor.export_public_key("openssh").decode().strip()):
        ch = partner(server, host_key=pin)
        file = released(settings, interchange=21 if pin == pinned else 22)
        result = run(mailboxes.deliver(run(mailboxes.accept(file, ch)), ch))
        assert result.status == "failed"
        assert result.last_error is not None
        assert "host key changed" in result.last_error
        assert server.fingerprint in result.last_error and pinned in result.last_error
        assert "refusing to connect" in result.last_error
    items = announced.on("partners.delivery-failed")
    assert [i.reason for i in items] == ["host-key-changed", "host-key-changed"]
    assert server.log.opened_for_write == []
    assert list(server.path("to-partner").iterdir()) == []
    assert mailboxes.metrics.alerts.labels(RECEIVER, "host-key-changed")._value.get() == 2


def test_a_connection_dropped_mid_upload_is_retried_and_the_file_uploaded_once(
    server: SftpTestServer, settings: Settings
) -> None:
    clock, announced = Clock(), Announced()
    mailboxes = service(settings, clock, announced)
    ch = partner(server)
    file = released(settings, size=300_000)
    server.drop_after_bytes = 100_000

    first = run(mailboxes.deliver(run(mailboxes.accept(file, ch)), ch))
    assert server.log.drops == 1
    assert first.status == "uploading" and first.attempts == 1
    assert first.next_attempt_at == T0 + timedelta(seconds=10)  # the first back-off
    assert not server.path(f"to-partner/{file.file_name}").exists()
    assert run(mailboxes.deliver_due({RECEIVER: ch})) == []  # not due yet

    clock.now = T0 + timedelta(seconds=10)
    [second] = run(mailboxes.deliver_due({RECEIVER: ch}))
    assert second.status == "uploaded" and second.attempts == 1
    assert server.path(f"to-partner/{file.file_name}").read_bytes() == Path(file.path).read_bytes()
    assert sorted(p.name for p in server.path("to-partner").iterdir()) == [file.file_name]
    finals = [new for _, new in server.log.renames if new.endswith(file.file_name)]
    assert finals == [f"to-partner/{file.file_name}"]  # one complete upload
    assert announced.on("partners.delivery-failed") == []


def test_retries_run_out_into_an_alert_and_one_work_item_closed_by_a_later_upload(
    server: SftpTestServer, settings: Settings
) -> None:
    clock, announced = Clock(), Announced()
    mailboxes = service(settings, clock, announced)
    ch = partner(server, upload_dir="no-such-dir")  # refused by the server: no directory
    file = released(settings)
    delivery = run(mailboxes.accept(file, ch))
    assert delivery is not None
    result = run(mailboxes.deliver(delivery, ch))
    assert result.status == "failed" and result.next_attempt_at == T0 + timedelta(seconds=600)
    [item] = announced.on("partners.delivery-failed")
    assert isinstance(item, DeliveryFailed) and item.reason == "refused"
    # a dropped line three times: retried with back-off, then one work item
    announced.records.clear()
    ch = partner(server)
    other = run(mailboxes.accept(released(settings, interchange=30), ch))
    assert other is not None
    waits = []
    for _ in range(3):
        server.drop_after_bytes = 1000
        other = run(mailboxes.deliver(other, ch))
        assert other.next_attempt_at is not None
        waits.append((other.next_attempt_at - clock.now).total_seconds())
    assert waits == [10, 20, 600]
    assert other.status == "failed"
    assert [i.reason for i in announced.on("partners.delivery-failed")] == ["retries-exhausted"]
    # fixed: the next attempt uploads and closes the work item (a tombstone)
    clock.now = other.next_attempt_at
    done = run(mailboxes.deliver(other, ch))
    assert done.status == "uploaded"
    assert announced.records[-1] == ("partners.delivery-failed", f"{RECEIVER}|30", None)


class CrashingLedger(Ledger):
    """The process dies right after the rename, before ``uploaded`` is on disk."""

    def put_delivery(self, delivery: FileDelivery) -> None:
        if delivery.status == "uploaded":
            raise KeyboardInterrupt("the worker was killed")
        super().put_delivery(delivery)


def test_a_restart_between_the_upload_and_its_record_does_not_upload_again(
    server: SftpTestServer, settings: Settings
) -> None:
    clock, announced = Clock(), Announced()
    ch = partner(server)
    file = released(settings)
    crashing = MailboxService(
        settings, CrashingLedger(settings.state_dir / "mailboxes"), announced, clock=clock
    )
    delivery = run(crashing.accept(file, ch))
    assert delivery is not None
    with pytest.raises(KeyboardInterrupt):
        run(crashing.deliver(delivery, ch))
    assert server.path(f"to-partner/{file.file_name}").is_file()
    uploads = list(server.log.opened_for_write)

    restarted = service(settings, clock, announced)  # reads the ledger from disk
    [left] = restarted.ledger.deliveries()
    assert left.status == "uploading"
    clock.now = T0 + timedelta(minutes=1)
    [done] = run(restarted.deliver_due({RECEIVER: ch}))
    assert done.status == "uploaded" and done.remote_name == f"to-partner/{file.file_name}"
    assert server.log.opened_for_write == uploads  # nothing written a second time
    assert restarted.metrics.uploads.labels(RECEIVER, "found")._value.get() == 1


# --- download -----------------------------------------------------------------------


def test_files_are_fetched_into_the_inbox_once_by_content_then_removed_remotely(
    server: SftpTestServer, settings: Settings
) -> None:
    clock, announced = Clock(), Announced()
    mailboxes = service(settings, clock, announced)
    ch = partner(server)
    down = server.path("from-partner")
    (down / "R5123456.01").write_bytes(x12("HP", 5))
    (down / "999_0001.x12").write_bytes(x12("FA", 6))
    (down / "summary.txt").write_text("a proprietary report, not X12")
    (down / ".upload-in-progress.835").write_bytes(x12("HP", 9))

    report = run(mailboxes.poll(ch))
    assert sorted(report.fetched) == [f"{RECEIVER}_999_0001.x12", f"{RECEIVER}_R5123456.01"]
    inbox = settings.inbox_dir
    assert sorted(p.name for p in inbox.iterdir()) == sorted(report.fetched)  # no .part left
    assert (inbox / f"{RECEIVER}_R5123456.01").read_bytes() == x12("HP", 5)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in inbox.iterdir())
    assert sorted(p.name for p in down.iterdir()) == [".upload-in-progress.835", "summary.txt"]
    assert report.ignored == ["summary.txt"]

    # the partner lists the 835 again (another name, same content): not taken twice
    (down / "R5123456.02").write_bytes(x12("HP", 5))
    again = run(mailboxes.poll(ch))
    assert again.fetched == [] and again.duplicates == ["R5123456.02"]
    assert sorted(p.name for p in inbox.iterdir()) == sorted(report.fetched)
    assert sorted(p.name for p in down.iterdir()) == [".upload-in-progress.835", "summary.txt"]

    # a restarted worker remembers it too (the ledger is on disk)
    (inbox / f"{RECEIVER}_R5123456.01").unlink()  # the inbox watcher took it meanwhile
    (down / "R5123456.01").write_bytes(x12("HP", 5))
    restarted = service(settings, clock, announced)
    third = run(restarted.poll(ch))
    assert third.fetched == [] and third.duplicates == ["R5123456.01"]
    assert not (inbox / f"{RECEIVER}_R5123456.01").exists()
    kinds = sorted(
        MailboxFetch.parse_json(p.read_bytes()).kind
        for p in (settings.state_dir / "mailboxes" / RECEIVER / "fetched").iterdir()
    )
    assert kinds == ["835", "999"]


class DiesBeforeTheInbox(Ledger):
    def put_fetched(self, fetch: MailboxFetch) -> None:
        raise KeyboardInterrupt("the worker was killed")


class DiesAfterTheRecord(Ledger):
    def put_fetched(self, fetch: MailboxFetch) -> None:
        super().put_fetched(fetch)
        raise KeyboardInterrupt("the worker was killed before the rename")


def test_a_remote_file_is_moved_only_after_it_is_safely_in_the_inbox(
    server: SftpTestServer, settings: Settings
) -> None:
    clock, announced = Clock(), Announced()
    ch = partner(server, after_download="move", archive_dir="archive")
    down, archive = server.path("from-partner"), server.path("archive")
    (down / "277CA_0001.x12").write_bytes(x12("HN", 7))
    root = settings.state_dir / "mailboxes"

    # killed before the file was recorded: nothing in the inbox, nothing moved
    with pytest.raises(KeyboardInterrupt):
        run(MailboxService(settings, DiesBeforeTheInbox(root), announced, clock=clock).poll(ch))
    assert [p.name for p in down.iterdir()] == ["277CA_0001.x12"]
    assert [p for p in settings.inbox_dir.iterdir() if not p.name.startswith(".")] == []

    # killed after the record, before the rename: the restart finishes the rename
    with pytest.raises(KeyboardInterrupt):
        run(MailboxService(settings, DiesAfterTheRecord(root), announced, clock=clock).poll(ch))
    assert [p.name for p in down.iterdir()] == ["277CA_0001.x12"]
    restarted = service(settings, clock, announced)
    [recovered] = restarted.recover()
    assert recovered.name == f"{RECEIVER}_277CA_0001.x12"
    assert recovered.read_bytes() == x12("HN", 7)

    # the next poll sees the file again: known by its content, so only moved now
    report = run(restarted.poll(ch))
    assert report.fetched == [] and report.duplicates == ["277CA_0001.x12"]
    assert list(down.iterdir()) == []
    assert [p.name for p in archive.iterdir()] == ["277CA_0001.x12"]
    assert [p.name for p in settings.inbox_dir.iterdir()] == [f"{RECEIVER}_277CA_0001.x12"]
    [fetch] = restarted.ledger.unfinished_fetches() or [None]
    assert fetch is None  # recorded as cleaned


def test_a_password_from_the_environment_and_a_wrong_key_file_mode(
    server: SftpTestServer, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock, announced = Clock(), Announced()
    mailboxes = service(settings, clock, announced)
    key = settings.mailbox_secrets_dir / "clearinghouse1.key"
    key.chmod(0o644)
    ch = partner(server)
    result = run(mailboxes.deliver(run(mailboxes.accept(released(settings), ch)), ch))
    assert result.status == "failed" and result.last_error is not None
    assert "chmod 600" in result.last_error
    # the key from an environment variable instead
    monkeypatch.setenv("CLAIMS_SFTP_CH1_KEY", server.client_key_text())
    ch = partner(server, private_key={"env": "CLAIMS_SFTP_CH1_KEY"})
    done = run(mailboxes.deliver(result, ch))
    assert done.status == "uploaded"
    assert os.environ["CLAIMS_SFTP_CH1_KEY"] not in str(announced.records)
