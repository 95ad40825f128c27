"""The pure core of partners' SFTP mailboxes, without a server: the back-off schedule,
a delivery's states, what is due, what a download directory offers, what a file is,
the names files get, the partner's mailbox settings and where its secrets come from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from pydantic import ValidationError

from schemas.claims import SecretReference, SftpMailbox
from schemas.submission import FileDelivery
from workers.partners import delivery as core
from workers.partners.sftp import HostKeyPin, MailboxRefused
from workers.runtime.settings import SecretUnavailable, Settings, read_secret

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
POLICY = core.RetryPolicy(attempts=4, first_s=30, longest_s=300)


def pending(**changes: Any) -> FileDelivery:
    base = FileDelivery(
        schema_version=1,
        receiver_id="CH1",
        interchange=7,
        file_name="CH1_000000007.837",
        path="/outbox/CH1/CH1_000000007.837",
        size_bytes=1234,
        sha256="ab" * 32,
        status="pending",
        released_at=T0,
        updated_at=T0,
    )
    return base.model_copy(update=changes)


def mailbox(**changes: Any) -> SftpMailbox:
    data: dict[str, Any] = {
        "host": "sftp.example.test",
        "user": "clinic",
        "private_key": {"env": "CLAIMS_SFTP_CH1_KEY"},
        "host_key": "SHA256:" + "A" * 43,
        "upload_dir": "to-ch1",
        "download_dir": "from-ch1",
        **changes,
    }
    return SftpMailbox.model_validate(data)


def test_the_back_off_doubles_up_to_the_longest_wait() -> None:
    assert [POLICY.backoff_s(n) for n in range(7)] == [0, 30, 60, 120, 240, 300, 300]
    assert core.RetryPolicy(3, 1, 10**12).backoff_s(500) == 2.0**30  # no overflow


def test_failed_attempts_wait_then_fail_with_one_work_item() -> None:
    record, waits, items = pending(status="uploading", remote_name="to-ch1/x"), [], []
    for n in range(1, 6):
        now = T0 + timedelta(hours=n)
        record, item = core.attempt_failed(record, f"dropped {n}", now, POLICY)
        assert record.next_attempt_at is not None
        waits.append((record.next_attempt_at - now).total_seconds())
        items.append(item)
    assert waits == [30, 60, 120, 300, 300]  # the last two: given up, tried at the longest
    assert record.status == "failed" and record.attempts == 5
    assert record.last_error == "dropped 5"
    raised = [i for i in items if i is not None]
    assert len(raised) == 1 and raised[0].reason == "retries-exhausted"
    assert raised[0].attempts == 4 and "after 4 attempt(s)" in raised[0].message


def test_a_refusal_gives_up_at_once() -> None:
    record, item = core.attempt_failed(
        pending(), "host key changed", T0, POLICY, "host-key-changed"
    )
    assert record.status == "failed" and record.attempts == 1
    assert item is not None and item.reason == "host-key-changed"
    again, second = core.attempt_failed(record, "host key changed", T0, POLICY, "host-key-changed")
    assert second is None and again.attempts == 2


def test_uploading_then_uploaded_records_the_remote_name_and_sent_at() -> None:
    going = core.uploading(pending(attempts=2, last_error="x"), "to-ch1/f.837", T0)
    assert going.status == "uploading" and going.remote_name == "to-ch1/f.837"
    assert going.sent_at is None
    done = core.uploaded(going, "to-ch1/f.837", T0 + timedelta(seconds=3))
    assert done.status == "uploaded" and done.sent_at == T0 + timedelta(seconds=3)
    assert done.last_error is None and done.next_attempt_at is None and done.attempts == 2


def test_what_is_due_oldest_first_and_when_to_wake() -> None:
    later = pending(interchange=8, released_at=T0 + timedelta(minutes=1))
    waiting = pending(interchange=9, next_attempt_at=T0 + timedelta(minutes=5))
    broke_off = pending(interchange=10, status="uploading", released_at=T0 - timedelta(hours=1))
    sent = pending(interchange=11, status="uploaded")
    everything = [later, waiting, sent, pending(), broke_off]
    assert [d.interchange for d in core.due(everything, T0)] == [10, 7, 8]
    at_five = core.due(everything, T0 + timedelta(minutes=5))
    assert [d.interchange for d in at_five] == [10, 7, 9, 8]  # by release, then number
    assert core.next_wake([waiting, sent], T0) == T0 + timedelta(minutes=5)
    assert core.next_wake([sent], T0) is None


def test_remote_names_and_archive_paths() -> None:
    box = mailbox(after_download="move", archive_dir="archive")
    assert core.remote_names(box, "f.837") == ("to-ch1/.f.837.part", "to-ch1/f.837")
    assert core.archive_path(box, "from-ch1/R5.01") == "archive/R5.01"
    stamped = core.archive_path(box, "from-ch1/R5.01", T0)
    assert stamped == "archive/R5.01.20261102T090000000000Z"


def test_what_a_download_directory_offers() -> None:
    listing = [
        ("R5.01", 10, True),
        (".hidden.835", 10, True),
        ("coming.835.part", 10, True),
        ("coming.tmp", 10, True),
        ("subdir", 0, False),
        ("huge.835", 5000, True),
    ]
    take, big = core.offered(listing, limit=1000)
    assert [o.name for o in take] == ["R5.01"]
    assert [o.name for o in big] == ["huge.835"]


ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*RECEIVER       *261102*0900*^*"
    "00501*000000001*0*P*:~"
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (ISA + "GS*FA*S*R*20261102*0900*1*X*005010X231A1~", "999"),
        (ISA + "\nGS*HN*S*R*20261102*0900*1*X*005010X214~", "277"),
        (ISA + "GS*HB*S*R*20261102*0900*1*X*005010X279A1~", "271"),
        (ISA + "GS*HP*S*R*20261102*0900*1*X*005010X221A1~", "835"),
        (ISA + "TA1*000000001*261102*0900*A*000~IEA*0*000000001~", "TA1"),
        (ISA + "GS*HC*S*R*20261102*0900*1*X*005010X222A1~", None),  # an 837 is not ours
        ("\ufeff" + ISA.replace("*", "|").replace("~", "\n") + "GS|HP|S|R\n", "835"),
        ("Claims summary report, page 1", None),
        (ISA[:50], None),
    ],
)
def test_what_a_file_is(text: str, kind: str | None) -> None:
    assert core.classify(text.encode()) == kind


def test_inbox_names_are_safe_and_never_clash() -> None:
    assert core.inbox_name("CH1", "from/R5 12?.01", "f" * 64, lambda _: False) == "CH1_R5_12_.01"
    assert core.inbox_name("CH1", "..835", "f" * 64, lambda _: False) == "CH1_835"
    taken = core.inbox_name("CH1", "R5.01", "0123456789abcdef" * 4, lambda n: n == "CH1_R5.01")
    assert taken == "CH1_R5.0123456789ab.01"
    assert core.inbox_name("CH1", "x.part", "1" * 64, lambda _: False) == "CH1_x.part.x12"


def test_a_file_released_long_ago_is_not_sent_by_itself() -> None:
    from schemas.submission import FileReleased

    released = FileReleased.model_validate(
        {
            "schema_version": 1,
            "file_name": "f.837",
            "path": "/o/f.837",
            "receiver_id": "CH1",
            "billing_provider_npi": "1234567893",
            "usage": "T",
            "control_numbers": {"interchange": 3, "group": 3, "transaction": 1},
            "claim_count": 1,
            "claim_ids": ["C1"],
            "size_bytes": 1,
            "sha256": "0" * 64,
            "validated": True,
            "released_at": T0,
        }
    )
    assert not core.too_old(released, T0 + timedelta(hours=71), 72)
    assert core.too_old(released, T0 + timedelta(hours=73), 72)
    item = core.too_old_item(released, T0 + timedelta(hours=73), 72)
    assert item.reason == "too-old" and item.interchange == 3
    assert core.new_delivery(released, T0).status == "pending"


# --- the partner's mailbox settings ---------------------------------------------------


def test_a_mailbox_needs_exactly_one_credential_and_an_archive_to_move_to() -> None:
    with pytest.raises(ValidationError, match="exactly one of private_key or password"):
        mailbox(password={"file": "ch1.password"})
    with pytest.raises(ValidationError, match="exactly one of private_key or password"):
        mailbox(private_key=None)
    with pytest.raises(ValidationError, match="needs archive_dir"):
        mailbox(after_download="move")
    assert mailbox(private_key=None, password={"file": "ch1.password"}).password is not None


def test_a_secret_is_referenced_never_carried() -> None:
    with pytest.raises(ValidationError, match="exactly one of env or file"):
        SecretReference.model_validate({"env": "CLAIMS_SFTP_A", "file": "a"})
    with pytest.raises(ValidationError):
        SecretReference.model_validate({"env": "CLAIMS_KAFKA_SASL_PASSWORD"})  # not ours
    with pytest.raises(ValidationError):
        SecretReference.model_validate({"password": "hunter2"})
    assert "secret" not in SftpMailbox.model_fields  # no field holds one


def test_reading_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    settings = Settings(mailbox_secrets_dir=secrets)
    monkeypatch.setenv("CLAIMS_SFTP_CH1_PASSWORD", "s3cret")
    value = read_secret(settings, "CLAIMS_SFTP_CH1_PASSWORD", None)
    assert value.get_secret_value() == "s3cret" and "s3cret" not in repr(value)
    with pytest.raises(SecretUnavailable, match="CLAIMS_SFTP_NOT_SET is not set"):
        read_secret(settings, "CLAIMS_SFTP_NOT_SET", None)
    with pytest.raises(SecretUnavailable, match="not a mailbox secret"):
        read_secret(settings, "CLAIMS_DASHBOARD_TOKEN", None)
    password = secrets / "ch1.password"
    password.write_text("pa55\n")
    password.chmod(0o640)
    with pytest.raises(SecretUnavailable, match="chmod 600"):
        read_secret(settings, None, "ch1.password")
    password.chmod(0o600)
    assert read_secret(settings, None, "ch1.password").get_secret_value() == "pa55"
    outside = tmp_path / "elsewhere"
    outside.write_text("x")
    outside.chmod(0o600)
    for escape in (str(outside), "../elsewhere"):
        with pytest.raises(SecretUnavailable, match="outside CLAIMS_MAILBOX_SECRETS_DIR"):
            read_secret(settings, None, escape)
    with pytest.raises(SecretUnavailable, match="cannot read"):
        read_secret(settings, None, "missing.key")


def test_host_key_pins() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    public = key.export_public_key("openssh").decode().strip()
    fingerprint = key.get_fingerprint("sha256")
    assert HostKeyPin.parse(fingerprint).fingerprint == fingerprint
    for text in (public, f"sftp.example.test {public}", f"@cert-authority x {public}"):
        pin = HostKeyPin.parse(text)
        assert pin.fingerprint == fingerprint and pin.key is not None
    with pytest.raises(MailboxRefused, match="neither a SHA256: fingerprint"):
        HostKeyPin.parse("sftp.example.test some-garbage")
