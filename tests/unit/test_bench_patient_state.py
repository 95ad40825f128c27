"""The patient-state benchmark measures what it says: one patient's weekly visits,
every one enriched (renewed prescriptions), each writing the state the stage writes."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import bench_patient_state  # noqa: E402 -- importable only after REPO is put on sys.path above


def test_every_visit_is_enriched_across_a_renewal_and_writes_its_whole_history() -> None:
    visits = bench_patient_state.RX_VISITS + 2  # into the second prescription
    history = bench_patient_state.history(visits)

    assert [h["visit"] for h in history] == list(range(1, visits + 1))
    assert {h["outcome"] for h in history} == {"SessionEnriched"}
    sizes = [h["bytes"] for h in history]
    assert all(b > a for a, b in itertools.pairwise(sizes))  # each visit adds a record
    assert all(h["event_bytes"] < sizes[0] for h in history)


def test_the_report_has_a_row_per_history_length_up_to_the_longest() -> None:
    result = bench_patient_state.main(["--visits", "12", "--runs", "1"])

    assert [h["visits"] for h in result["histories"]] == [1, 4, 12]
    first = result["histories"][0]
    assert result["histories"][1]["cpu_ratio_to_baseline"] == 1.0  # 4 visits: the baseline
    assert (
        result["histories"][-1]["mean_bytes_written_per_visit"]
        > first["mean_bytes_written_per_visit"]
    )
