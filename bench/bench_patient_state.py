"""What a patient's history costs each new session in the enrichment stage's state.

    .venv/bin/python bench/bench_patient_state.py            # histories up to 104 visits
    .venv/bin/python bench/bench_patient_state.py --visits 52

The enrichment stage keeps one state per patient (``state.enrich.patients``) and
writes it after every session: the patient, the prescriptions, the visits counted
against each, and a record of every session seen (to tell a duplicate or a
redelivery, to withdraw a cancelled session, to count the year's visits with a
payer, to keep a held session's event).  Settled session records leave the value
in groups once there are more than twelve (``workers.enrich.session_archive``),
each group written once, and the patient's profile is stored apart, written when
it changes.
``bench_pipeline.py``'s data gives each patient about four visits, where this
shows nothing; a patient seen weekly on prescriptions of 24 visits is closer to a
clinic's regulars.

No broker: the enrichment core (``workers.enrich.rules.on_session_completed``) and
the stage's store (``PatientStore`` over a dict) run in this process, on one
patient of the demo's synthetic data (an AMA commercial payer) seen once a week,
with a new prescription of 24 visits every 24 visits (renewed in time, so nothing is
held).  For each history length it reports the bytes the visit writes and the CPU
time of deciding and storing it (median of several runs); the bytes are every value
the visit wrote (the state, and a group when one is due).

Baselines, same process: the session event's own bytes (what came in), and the
CPU of a visit with ``bench_pipeline.py``'s history (the 4th).  Ratios: state bytes
written / event bytes, CPU / the 4th visit's CPU.  (The first visit costs more than
the next few: the prescription's first visit does more.)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, machine, median, table

CHECKPOINTS = (1, 4, 12, 24, 52, 104)
#: the history of a patient of bench_pipeline.py's data, the CPU baseline
BASELINE_VISITS = 4
RX_VISITS = 24


def _world() -> tuple[Any, Any, dict[str, Any], dict[str, Any]]:
    """The catalog, the patient's state (no prescription yet), and the prescription
    and session the visits and renewals are made from."""
    from schemas.reference import Patient
    from schemas.state import PatientState
    from workers.demo import synthetic
    from workers.enrich import rules
    from workers.enrich.catalog import ReferenceCatalog

    data = synthetic.generate(clinics=1, sessions=synthetic.MIN_SESSIONS, seed=7)
    catalog = ReferenceCatalog()
    for topic, records, key in (
        ("ref.clinics", data.clinics, lambda r: r["clinic_id"]),
        ("ref.therapists", data.therapists, lambda r: f"{r['clinic_id']}:{r['therapist_id']}"),
        ("ref.payers", data.payers, lambda r: r["payer_id"]),
    ):
        for r in records:
            catalog.apply(topic, key(r).encode(), json.dumps(r).encode())
    patient = next(
        p
        for p in data.patients
        if [c.get("payer_id") for c in p.get("coverages", [])] == ["acme"]
        and any(r["patient_id"] == p["patient_id"] for r in data.prescriptions)
    )
    rx = next(r for r in data.prescriptions if r["patient_id"] == patient["patient_id"])
    session = next(
        json.loads(v)
        for k, v in data.sessions
        if k == f"{patient['clinic_id']}:{patient['patient_id']}" and v.startswith(b"{")
    )
    state = rules.with_patient(PatientState.new(), Patient.parse_json(json.dumps(patient)))
    return catalog, state, rx, session


def history(visits: int) -> list[dict[str, Any]]:
    """One patient's weekly visits: per visit, bytes written and CPU seconds."""
    from schemas.events import parse_session_event
    from schemas.reference import Prescription
    from workers.enrich import rules, session_archive
    from workers.enrich.processor import PatientStore

    catalog, state, rx, session = _world()
    table: dict[bytes, bytes] = {}
    store = PatientStore(table, 6)
    key = "bench:patient"
    first_day = date(2025, 1, 6)
    out = []
    for n in range(1, visits + 1):
        day = first_day + timedelta(weeks=n - 1)
        if n % RX_VISITS == 1:  # a renewal, issued the day before its first visit
            renewed = {
                **rx,
                "prescription_id": f"{rx['prescription_id']}-{n // RX_VISITS}",
                "issued_on": (day - timedelta(days=1)).isoformat(),
                "visits_authorized": RX_VISITS,
            }
            state = rules.with_prescription(
                state, renewed["prescription_id"], Prescription.parse_json(json.dumps(renewed))
            )
        body = {
            **session,
            "session_id": f"w{n:04d}",
            "event_id": f"00000000-0000-4000-8000-{n:012d}",
            "date_of_service": day.isoformat(),
            "occurred_at": f"{day.isoformat()}T17:00:00Z",
        }
        raw_event = json.dumps(body, separators=(",", ":")).encode()
        event = parse_session_event(raw_event)
        now = datetime.combine(day + timedelta(days=1), day_time(9), tzinfo=UTC)
        cpu = time.process_time()
        step = rules.on_session_completed(
            state, event, catalog, now, source=f"sessions.completed:0:{n}"
        )
        before = dict(table)
        store.put(key, step.state)
        cpu = time.process_time() - cpu
        written = b"".join(v for k, v in table.items() if before.get(k) != v)
        outcome = type(step.outcomes[0]).__name__ if step.outcomes else "none"
        out.append(
            {
                "visit": n,
                "bytes": len(written),
                "event_bytes": len(raw_event),
                "cpu_s": cpu,
                "outcome": outcome,
            }
        )
        # what the next session reads: the stored bytes, parsed again
        state = session_archive.read(key, table[key.encode()], table).state
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=max(CHECKPOINTS), help="longest history")
    parser.add_argument("--runs", type=int, default=9, help="runs; CPU figures are medians")
    args = parser.parse_args(argv)
    runs = [history(args.visits) for _ in range(args.runs)]
    first = runs[0]
    outcomes = {r["outcome"] for r in first}
    base_cpu = median([run[min(BASELINE_VISITS, args.visits) - 1]["cpu_s"] for run in runs])
    rows, figures = [], []
    for n in [c for c in CHECKPOINTS if c <= args.visits]:
        written = first[:n]
        mean_bytes = sum(r["bytes"] for r in written) / n
        event_bytes = sum(r["event_bytes"] for r in written) / n
        cpu = median([run[n - 1]["cpu_s"] for run in runs])
        rows.append(
            [
                n,
                f"{written[-1]['bytes']:,}",
                f"{mean_bytes:,.0f}",
                f"{mean_bytes / event_bytes:.1f}",
                f"{cpu * 1e6:,.0f}",
                f"{cpu / base_cpu:.2f}",
            ]
        )
        figures.append(
            {
                "visits": n,
                "bytes_written_by_this_visit": written[-1]["bytes"],
                "mean_bytes_written_per_visit": round(mean_bytes),
                "ratio_to_event_bytes": round(mean_bytes / event_bytes, 2),
                "cpu_us_this_visit": round(cpu * 1e6),
                "cpu_ratio_to_baseline": round(cpu / base_cpu, 2),
            }
        )
    print(
        table(
            [
                "history (visits)",
                "bytes this visit writes",
                "mean bytes a visit",
                "x event bytes",
                "CPU µs this visit",
                f"x visit {BASELINE_VISITS}",
            ],
            rows,
        )
    )
    print(f"outcomes: {', '.join(sorted(outcomes))}")
    result = {
        "machine": machine(),
        "baseline": f"event bytes; CPU of visit {BASELINE_VISITS}",
        "runs": args.runs,
        "outcomes": sorted(outcomes),
        "histories": figures,
    }
    emit("patient_state", result)
    return result


if __name__ == "__main__":
    main()
