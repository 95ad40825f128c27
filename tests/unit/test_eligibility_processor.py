"""The eligibility stage's handlers: questions spooled off the event loop, and a
patient's state read and written back by one handler at a time."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from schemas.state import EligibilityAsked
from tests import factories as f
from tests.fakes import FakeSink, FakeWiring
from workers.eligibility import asking
from workers.eligibility import processor as eligibility_processor
from workers.eligibility.spool import Spool
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming
from workers.runtime.settings import Settings

KEY = b"c1:pt1"


def _wiring(tmp_path: Path) -> FakeWiring:
    wiring = FakeWiring(FakeSink(), settings=Settings(state_dir=tmp_path / "state"))
    eligibility_processor.register(wiring)
    return wiring


def _patient(*, second_coverage: bool = False) -> bytes:
    body = f.patient()
    if second_coverage:
        body["coverages"].append(
            {**body["coverages"][0], "coverage_id": "cov2", "member_id": "MBR-SECOND-2"}
        )
    return json.dumps(body).encode()


def _session(day: str) -> bytes:
    return json.dumps(f.session(dos=day)).encode()


def _state(wiring: FakeWiring) -> EligibilityAsked:
    return EligibilityAsked.parse_json(wiring.tables["eligibility.asked"][KEY])


def test_a_question_is_written_to_the_spool_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool's two fsyncs happen in a worker thread; the state records the
    question only once it is on disk."""
    wiring = _wiring(tmp_path)
    threads: list[str] = []
    add = Spool.add

    def spy(self: Spool, *args: object) -> Path:
        threads.append(threading.current_thread().name)
        assert KEY not in wiring.tables["eligibility.asked"]  # written before the state
        return add(self, *args)  # type: ignore[arg-type]  # the real method, spied on

    monkeypatch.setattr(Spool, "add", spy)
    handler = wiring.handlers["ref.patients"]

    asyncio.run(handler(Incoming("ref.patients", 0, 0, 0, KEY, _patient(), ()), Scope()))

    assert threads and all(t != threading.main_thread().name for t in threads)
    assert list((tmp_path / "state" / "eligibility" / "spool").glob("*.json"))
    assert "cov1" in _state(wiring).coverages


def test_a_session_and_a_changed_record_of_the_same_patient_keep_both_updates(
    tmp_path: Path,
) -> None:
    """A session's question (first of a month) and the patient's record with a new
    coverage arrive on two agents at once; both await their spool writes.  One waits
    for the other and reads what it wrote: the month asked and the new coverage are
    both in the state (without that, the second write would drop the first)."""
    wiring = _wiring(tmp_path)
    on_patient = wiring.handlers["ref.patients"]
    on_session = wiring.handlers["sessions.completed"]

    async def run() -> None:
        await on_patient(Incoming("ref.patients", 0, 0, 0, KEY, _patient(), ()), Scope())
        await asyncio.gather(
            on_session(
                Incoming("sessions.completed", 0, 0, 0, KEY, _session("2026-05-04"), ()), Scope()
            ),
            on_patient(
                Incoming("ref.patients", 0, 1, 0, KEY, _patient(second_coverage=True), ()), Scope()
            ),
        )

    asyncio.run(run())

    state = _state(wiring)
    assert state.patient is not None
    assert [c.coverage_id for c in state.patient.coverages] == ["cov1", "cov2"]
    assert state.coverages["cov2"].fingerprint == asking.fingerprint(state.patient.coverages[1])
    assert "2026-05" in state.coverages["cov1"].months
