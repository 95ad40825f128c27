"""271 files in the inbox: routed by GS01 ``HB`` onto ``eligibility.responses``,
keyed by the coverage the echoed trace names; answers that name none are skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.test_x271 import SAMPLES, SUBSCRIBER, interchange
from workers.inbound import inbox
from workers.inbound.eligibility import RESPONSES, messages
from workers.runtime.settings import Settings


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, Any]] = []

    def send(self, topic: str, key: Any = None, value: Any = None, headers: Any = None) -> None:
        self.sent.append((topic, key, value))

    def flush(self) -> None:
        pass


def ours(tmp_path: Path) -> Path:
    path = tmp_path / "answer.271"
    body = [*SUBSCRIBER, "EB*6**30", "HL*4*2*22*0", "TRN*2*someone-else*1999999999", "EB*1**30"]
    path.write_bytes(interchange(*body))
    return path


def test_answers_are_keyed_by_coverage_and_strangers_are_skipped(tmp_path: Path) -> None:
    report, out = messages(ours(tmp_path))
    assert [(o.topic, o.key) for o in out] == [(RESPONSES, b"c1:pt1:p1")]
    value = json.loads(out[0].value or b"")
    assert value["status"] == "inactive" and value["file_sha256"] == report.sha256
    assert (report.published, report.inactive, len(report.skipped)) == (1, 1, 1)
    assert "someone" not in report.skipped[0]


def test_the_inbox_routes_hb_files_to_eligibility(tmp_path: Path) -> None:
    box = tmp_path / "inbox"
    box.mkdir()
    path = ours(box)
    producer = Producer()
    settings = Settings(inbox_dir=box, outbox_dir=tmp_path / "outbox")
    assert inbox.process_file(path, settings, producer) is None
    assert [(t.rsplit(".", 2)[-2:], k) for t, k, _ in producer.sent] == [
        (["eligibility", "responses"], b"c1:pt1:p1")
    ]
    assert [p.name for p in (box / "processed").iterdir()]


def test_a_public_sample_with_a_faulty_trailer_is_read_with_its_warning(tmp_path: Path) -> None:
    report, out = messages(SAMPLES / "lfh-error-se02.271")
    assert out == [] and len(report.warnings) == 1 and report.skipped
