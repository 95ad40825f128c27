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
from workers.enrich import session_archive  # noqa: E402 -- after bench, as the benchmark loads it


def test_every_visit_is_enriched_across_a_renewal_and_its_settled_records_are_grouped() -> None:
    visits = bench_patient_state.RX_VISITS + 2  # into the second prescription
    history = bench_patient_state.history(visits)

    assert [h["visit"] for h in history] == list(range(1, visits + 1))
    assert {h["outcome"] for h in history} == {"SessionEnriched"}
    sizes = [h["bytes"] for h in history]
    # the first visit writes the patient's profile too; then a record more each visit
    assert sizes[0] > sizes[1]
    grows = sizes[1 : session_archive.HOT_MAX]
    assert all(b > a for a, b in itertools.pairwise(grows))
    assert max(sizes[session_archive.HOT_MAX + 1 :]) < sizes[session_archive.HOT_MAX - 1] * 1.5
    assert sizes[-1] < 0.6 * sizes[session_archive.HOT_MAX - 1] * visits / session_archive.HOT_MAX
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
