"""What the inbox watcher takes, refuses and leaves: only complete regular files of
the inbox (never a symbolic link, a FIFO, or a file still being written under a
``.part``/dot name), a file half-taken by a crashed watcher goes to ``failed/`` instead
of being retried in a loop, and everything moved out of the inbox is owner-only."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from workers.inbound import inbox
from workers.runtime.settings import Settings


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send(self, topic: str, key: Any = None, value: Any = None, headers: Any = None) -> None:
        self.sent.append((topic, key))

    def flush(self) -> None:
        pass


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_only_complete_regular_files_are_taken_and_links_are_refused(tmp_path: Path) -> None:
    box = tmp_path / "inbox"
    box.mkdir()
    outside = tmp_path / "secret.835"
    outside.write_text("ISA*...")
    (box / "ready.835").write_text("ISA*")
    (box / "coming.835.part").write_text("ISA*")
    (box / ".coming.835").write_text("ISA*")
    (box / "link.835").symlink_to(outside)
    os.mkfifo(box / "pipe.835")
    (box / "processed").mkdir()
    found, refused = inbox.candidates(box)
    assert [p.name for p in found] == ["ready.835"]
    assert sorted(p.name for p in refused) == ["link.835", "pipe.835"]


def test_a_bad_file_goes_to_failed_with_its_reason_and_both_are_owner_only(
    tmp_path: Path,
) -> None:
    box = tmp_path / "inbox"
    box.mkdir()
    bad = box / "bad.835"
    bad.write_text("not an X12 file at all")
    bad.chmod(0o644)  # as a partner's upload may arrive
    settings = Settings(inbox_dir=box, outbox_dir=tmp_path / "outbox")
    assert inbox.process_file(bad, settings, FakeProducer()) is None
    [failed] = [p for p in (box / "failed").iterdir() if not p.name.endswith(".reason")]
    reason = failed.with_name(failed.name + ".reason")
    assert reason.read_text().strip() and "ISA" in reason.read_text()
    assert (mode(failed), mode(reason)) == (0o600, 0o600)
    assert not (box / "working").exists() or not list((box / "working").iterdir())


def test_a_file_left_half_taken_by_a_crashed_watcher_is_not_retried(tmp_path: Path) -> None:
    box = tmp_path / "inbox"
    (box / "working").mkdir(parents=True)
    (box / "working" / "huge.835").write_text("ISA*")
    [moved] = inbox.recover(box)
    assert moved.parent == box / "failed" and moved.name.endswith("_huge.835")
    assert "stopped while taking this file in" in moved.with_name(moved.name + ".reason").read_text()
    assert inbox.candidates(box)[0] == {}


def test_a_pass_over_many_835s_reads_the_partners_once_and_honours_their_999_wish(
    tmp_path: Path,
) -> None:
    """Whether an 835's sender wants a 999 is asked of the partners read for the pass
    (reading ``ref.partners`` for every 835 cost ~0.2 s a file), and the answer still
    follows the partner's ``acknowledge_835``."""
    from tests import claim_factories as f

    samples = Path(__file__).parents[1] / "data" / "835"
    sample = samples / "moov-io_x12__examples_example_5010_835_sample1.txt"
    data = sample.read_bytes()
    sender = data[35:50].decode().strip()  # ISA06: the partner's ISA08 id
    box = tmp_path / "inbox"
    box.mkdir()
    for n in range(3):
        (box / f"remit{n}.835").write_bytes(data)
    settings = Settings(inbox_dir=box, outbox_dir=tmp_path / "outbox")
    loads: list[Settings] = []

    def load(given: Settings) -> list[Any]:
        loads.append(given)
        return [f.partner(isa_receiver_id=sender, acknowledge_835=True)]

    partners = inbox.PartnersOfPass(settings, load)
    producer = FakeProducer()
    for n in range(3):
        report = inbox.process_file(box / f"remit{n}.835", settings, producer, None, partners)
        assert report is not None and report.posted_claims > 0
    assert loads == [settings]
    assert sorted(p.name for p in (tmp_path / "outbox" / "999").iterdir()) == [
        f"remit{n}.999" for n in range(3)
    ]
    partners.new_pass()
    partners()
    assert len(loads) == 2
