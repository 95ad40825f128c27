"""``claims worker mailbox`` on the real broker and a real SFTP server: a file released
on ``edi.outbound`` for a partner with a mailbox is uploaded and its delivery published
on ``edi.deliveries``; a 835 in the partner's download directory lands in the inbox and
leaves the server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker_support import Cluster
from tests.sftp_server import SftpTestServer
from tests.unit.test_mailbox_sftp import RECEIVER, partner, released, x12
from workers.partners.worker import MailboxWorker


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SftpTestServer]:
    srv = SftpTestServer(tmp_path / "sftp-root").start()
    for name in ("to-partner", "from-partner"):
        srv.path(name).mkdir()
    yield srv
    srv.stop()


def test_the_worker_uploads_released_files_and_fetches_answers(
    cluster: Cluster, server: SftpTestServer, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    (secrets / "clearinghouse1.key").write_text(server.client_key_text())
    (secrets / "clearinghouse1.key").chmod(0o600)
    settings = cluster.settings(
        inbox_dir=tmp_path / "inbox",
        outbox_dir=tmp_path / "outbox",
        mailbox_secrets_dir=secrets,
        web_enabled=False,
        mailbox_upload_max_age_h=24 * 365 * 100,  # the test file's release date is fixed
    )
    ch = partner(server, poll_interval_s=0.5)
    cluster.produce("ref.partners", RECEIVER, json.loads(ch.model_dump_json()))
    file = released(settings, size=50_000)
    cluster.produce("edi.outbound", RECEIVER, json.loads(file.model_dump_json()))
    server.path("from-partner/R5000001.01").write_bytes(x12("HP", 3))
    inbox_file = settings.inbox_dir / f"{RECEIVER}_R5000001.01"
    remote = server.path(f"to-partner/{file.file_name}")

    async def scenario() -> None:
        worker = MailboxWorker(settings)
        task = asyncio.create_task(worker.run())
        deadline = time.monotonic() + 60
        while not (remote.is_file() and inbox_file.is_file()):
            assert time.monotonic() < deadline, "the worker did not upload and fetch in time"
            assert not task.done(), task.exception()
            await asyncio.sleep(0.2)
        worker.stopping.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(scenario())
    assert remote.read_bytes() == Path(file.path).read_bytes()
    assert inbox_file.read_bytes() == x12("HP", 3)
    assert list(server.path("from-partner").iterdir()) == []
    reader = cluster.read("edi.deliveries")
    msgs = reader.wait_for(3, timeout=30)
    assert {m.key for m in msgs} == {f"{RECEIVER}|17".encode()}
    assert [m.json["status"] for m in msgs] == ["pending", "uploading", "uploaded"]
    assert msgs[-1].json["remote_name"] == f"to-partner/{file.file_name}"
