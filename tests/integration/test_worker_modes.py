"""`claims worker NAME` and `claims worker all` share state and hand over positions."""

from __future__ import annotations

from tests import factories as f
from tests.broker_support import Cluster


def test_switching_from_all_to_a_single_worker_keeps_state_and_position(cluster: Cluster) -> None:
    c = cluster
    c.produce("ref.clinics", "c1", f.clinic())
    c.produce("ref.therapists", "c1:t1", f.therapist())
    c.produce("ref.payers", "p1", f.payer())
    c.produce("ref.patients", "c1:pt1", f.patient())
    c.produce("ref.prescriptions", "c1:rx1", f.prescription())
    for n in (1, 2):
        c.produce("sessions.completed", "c1:pt1", f.session(session_id=f"s{n}"))
    all_mode = c.start_worker("all")
    enriched = c.read("sessions.enriched")
    enriched.wait_for(2, worker=all_mode)
    assert all_mode.stop() == 0, "SIGTERM is a clean shutdown"
    stopped = [e for e in all_mode.log_events() if "Closing event loop" in str(e.get("event"))]
    assert stopped, "the worker shut down through faust's own stop sequence"

    c.produce("sessions.completed", "c1:pt1", f.session(session_id="s3"))
    single = c.start_worker("enrich")
    single.wait_log(lambda e: e.get("event") == "consumer positions handed over")
    enriched.wait_for(3, worker=single)
    numbers = {m.json["session_key"]: m.json["visit_number"] for m in enriched.settle(quiet=3)}
    assert numbers == {"c1:s1": 1, "c1:s2": 2, "c1:s3": 3}
    # s1 and s2 may land in either order: a session that arrives before its
    # prescription is held and released by the prescription's agent, concurrently
    # with the next session; each must appear exactly once all the same
    keys = sorted(m.json["session_key"] for m in enriched.messages)
    assert keys == ["c1:s1", "c1:s2", "c1:s3"], "nothing was processed twice after the switch"
