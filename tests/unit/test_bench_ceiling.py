"""The pipeline benchmark's topology ceiling replays what the real stages wrote per input."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import bench_pipeline  # noqa: E402 -- importable only after REPO is put on sys.path above
from bench._passthrough import Credits, sized  # noqa: E402 -- importable only after REPO is put on sys.path above


def test_fractional_rates_owe_whole_messages_in_the_right_proportion() -> None:
    credits = Credits([0.79, 2.0, 0.0, 1.5])
    totals = [0, 0, 0, 0]
    for _ in range(100):
        for i, n in enumerate(credits.take()):
            totals[i] += n
    assert totals == [79, 200, 0, 150]


def test_payloads_have_the_measured_size_whatever_the_input() -> None:
    assert sized(b"abc", 8) == b"abcabcab"
    assert sized(b"a long input value", 4) == b"a lo"
    assert sized(b"", 3) == b"xxx"
    assert sized(b"abc", 0) == b""


def test_the_shape_is_what_each_stage_wrote_per_message_it_read() -> None:
    run = bench_pipeline.Run("gate off", 1, "one", messages=1000)
    run.outputs = {
        "sessions.enriched": 800,
        "sessions.held": 150,
        "state.enrich.patients": 1000,
        "charges.billable": 800,
        "claims.submitted": 700,
        "state.claims.pending": 1400,
    }
    run.bytes_written = {
        "sessions.enriched": 800 * 4000,
        "sessions.held": 150 * 700,
        "state.enrich.patients": 1000 * 2500,
        "charges.billable": 800 * 6000,
        "claims.submitted": 700 * 2600,
        "state.claims.pending": 700 * 9000,
    }
    shape = bench_pipeline.shape_of(run)
    assert shape["1"] == {
        "agents": 1,
        "outputs": [["sessions.enriched", 0.8, 4000], ["sessions.held", 0.15, 700]],
        "tables": [["state.enrich.patients", 1.0, 2500]],
    }
    assert shape["2"]["outputs"] == [["charges.billable", 1.0, 6000]]  # per enriched session
    # the claims stage: two lanes; pending puts and deletes, its bytes spread over both
    assert shape["3"]["agents"] == 2
    assert shape["3"]["outputs"] == [["claims.submitted", 0.875, 2600]]
    assert shape["3"]["tables"] == [["state.claims.pending", 1.75, 4500]]


def test_messages_written_per_session_count_every_topic_but_the_input() -> None:
    run = bench_pipeline.Run("gate off", 1, "one", messages=100)
    run.outputs = {"sessions.completed": 100, "sessions.enriched": 90, "state.claims.ticks": 30}
    run.bytes_written = {"sessions.completed": 100 * 500, "sessions.enriched": 90 * 4096}
    summary = run.summary()
    assert run.messages_written() == 120
    assert summary["messages_written_per_session"] == 1.2
    assert round(summary["kb_written_per_session"], 2) == round((50_000 + 368_640) / 1024 / 100, 2)


def test_a_day_claim_of_two_visits_is_not_counted_as_still_pending() -> None:
    """``claim-pending`` counts pending entries: two visits of one day are two entries
    and one claim, so what is left is entries minus entries released."""

    def status(pending: int, claims: int, entries: int) -> dict[str, object]:
        outcomes = [("claim-pending", pending), ("claims-released", claims)]
        outcomes += [("entries-released", entries)]
        return {
            "outcomes": [{"processor": "claims", "outcome": o, "count": n} for o, n in outcomes],
            "dead_letters": [],
        }

    assert bench_pipeline.claims_pending(status(207, 206, 207)) == 0
    assert bench_pipeline.claims_pending(status(207, 205, 206)) == 1
