"""A small demo end to end on the real broker: every message accounted for."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from edi.validate import validate_x12
from edi.x835 import parse_835
from tests.broker_support import TopicReader
from tests.x12_second_opinion import second_opinion_270, second_opinion_276, second_opinion_277
from workers.demo.run import run_demo
from workers.demo.synthetic import generate
from workers.runtime.settings import Settings


def count(bootstrap: str, topic: str, where=lambda m: True) -> int:
    reader = TopicReader(bootstrap, topic)
    try:
        return len([m for m in reader.settle(quiet=1.0) if where(m)])
    finally:
        reader.close()


def demo_topics(settings: Settings) -> set[str]:
    from workers.runtime.admin import admin_client

    client = admin_client(settings)
    try:
        return {t for t in client.list_topics() if t.startswith(settings.topic_prefix + "demo")}
    finally:
        client.close()


def test_a_small_demo_accounts_for_every_message(bootstrap: str, tmp_path: Path) -> None:
    from kafka.admin import NewTopic

    from workers.runtime.admin import admin_client, delete_topics_with_prefix

    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix="e2e.")
    # what an old demo run left behind, and a run that may still be going
    recent = (datetime.now(UTC) - timedelta(seconds=90)).strftime(
        "e2e.demo%Y%m%d%H%M%S.sessions.completed"
    )
    old = "e2e.demo20200101000000.sessions.completed"
    client = admin_client(settings)
    try:
        client.create_topics(
            [NewTopic(t, 1, 1) for t in (old, recent) if t not in client.list_topics()]
        )
    finally:
        client.close()
    deadline = time.monotonic() + 60  # a new topic reaches the metadata a little later
    while not {old, recent} <= demo_topics(settings):
        assert time.monotonic() < deadline, "the planted topics never appeared"
        time.sleep(0.5)
    try:
        result = run_demo(
            settings, clinics=2, sessions=80, seed=11, out_dir=tmp_path / "demo", keep_broker=True
        )
        out = result.out_dir
        summary = json.loads((out / "summary.json").read_text())
        left = demo_topics(settings)
        deadline = time.monotonic() + 60  # a deletion reaches the metadata a little later
        while old in left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = demo_topics(settings)
        assert old not in left, "an earlier demo's topics are deleted before a run"
        assert recent in left, "a run younger than the time limit is left alone"
        assert any(t.startswith(summary["topic_prefix"]) for t in left), "this run's stay"
        _check_demo(bootstrap, summary, out)
    finally:
        delete_topics_with_prefix(settings, "e2e.demo")  # the broker outlives the test


def _check_demo(bootstrap: str, summary: dict, out: Path) -> None:
    assert summary["consistent"], summary["problems"]
    s, c, r = summary["sessions"], summary["claims"], summary["remits"]

    # every received session that is not a duplicate ends in exactly one outcome
    assert s["pending"] == 0
    finals = ("billed", "self_pay", "cancelled", "held", "rejected", "dead_lettered")
    assert s["received"] == s["duplicates"] + sum(s[k] for k in finals)
    data = generate(clinics=2, sessions=80, seed=11)
    assert s["received"] == data.expected["completed_events"] + 1  # + the late visit
    assert s["duplicates"] == data.expected["resends"]
    assert s["dead_lettered"] == data.expected["malformed"]
    assert s["cancelled"] == 1 and s["held"] > 0 and s["rejected"] > 0 and s["self_pay"] > 0

    # over original claims: what is owed adds up to what was charged
    money = {k: Decimal(v) for k, v in c.items() if isinstance(v, str)}
    ar = {k: Decimal(v) for k, v in summary["ar"].items()}
    assert money["charges"] == (
        money["paid"]
        + money["contractual_adjustments"]
        + money["patient_responsibility"]
        + ar["insurance_outstanding"]
        + ar["written_off"]
        - ar["insurance_credits"]
    )
    originals = c["count"] - summary["cases"]["secondary_claims"]  # a secondary: same visits
    assert c["sessions"] == s["billed"] and originals <= s["billed"] and c["denied"] > 0

    # the figures agree with the topics themselves
    prefix = summary["topic_prefix"]
    assert (
        count(
            bootstrap,
            prefix + "sessions.completed",
            lambda m: b"session.cancelled" not in (m.value or b""),
        )
        == s["received"]
    )
    assert count(bootstrap, prefix + "sessions.duplicates") == s["duplicates"]
    assert count(bootstrap, prefix + "sessions.completed.dlq") == s["dead_lettered"]
    def carries(transaction: str):
        return lambda m: m.value is not None and m.json.get("transaction") == transaction

    assert count(bootstrap, prefix + "edi.outbound", carries("837")) == c["files"]
    # the inquiries were announced on the same topic, for the partners' mailboxes
    assert count(bootstrap, prefix + "edi.outbound", carries("270")) >= 1
    assert count(bootstrap, prefix + "edi.outbound", carries("276")) == 1
    assert count(bootstrap, prefix + "remits.unmatched") == r["unmatched"] == 0

    # the files: every 837 and every 835 validates with pyx12, every 835 balances
    x837 = sorted((out / "837").iterdir())
    x835 = sorted((out / "835").iterdir())
    eobs = sorted((out / "eob").iterdir())  # the auto insurer pays by paper check
    assert len(x837) == c["files"] and len(x835) == r["files"]
    assert len(x835) + len(eobs) == len(x837) and r["paper_eob_files"] == len(eobs) == 1
    for path in x837 + x835:
        report = validate_x12(path.read_text())
        assert report.ok, (path.name, [str(f) for f in report.findings][:3])
    from tests.x12_second_opinion import second_opinion_837  # x12sdk, independent of pyx12

    assert {p.name: second_opinion_837(p.read_text()) for p in x837} == {p.name: [] for p in x837}
    statuses = []
    for path in x835:
        for remittance in parse_835(path.read_bytes()):
            assert remittance.balance.ok, (path.name, remittance.balance.errors)
            statuses += [claim.status_code for claim in remittance.claims]
    assert "22" in statuses, "one reversal with its correction"

    # each case a billing company meets every week happened at least once
    cases = summary["cases"]
    assert all(n >= 1 for n in cases.values()), cases
    assert cases["replacement_claims"] == 1 and cases["reversals"] >= 2
    _check_replacement_names_the_current_payer_number(x837, x835)
    _check_front_door_edits(x837)

    # every provider-level adjustment is linked to a claim, paired or on the work queue
    assert r["plb_in_flight"] == 0
    assert r["plb_linked"] + r["plb_on_work_queue"] <= r["provider_adjustments"]
    assert (out / "report.html").read_text().count("<table>") == 10

    # the bank's file: every credit matched but the one with no 835; one 835 unfunded
    dep = summary["deposits"]
    assert dep["files"] == len(list((out / "deposits").iterdir())) == 1
    assert dep["deposits"] == dep["matched"] + dep["unremitted"]
    assert (dep["unfunded"], dep["unremitted"]) == (1, 1)
    assert Decimal(dep["amount_matched"]) > 0

    # every coverage the engine saw was asked about, and every question answered: one
    # answer with a visit limit (active), one rejection; nobody inactive
    el = summary["eligibility"]
    assert el["inquiries"] == el["responses"] > 0
    assert el["responses"] == el["active"] + el["inactive"] + el["rejected"]
    assert el["rejected"] >= 1 and el["inactive"] == 0, el
    assert len(list((out / "270").iterdir())) == len(list((out / "271").iterdir())) > 0
    assert all(second_opinion_270(p.read_text()) == [] for p in (out / "270").iterdir())

    # the payer sat on one claim: a 276 asked, the 277 asked for records, and the claim
    # waits on the status work queue for a person to send them
    cs = summary["claim_status"]
    assert cs == {"inquiries": 1, "responses": 1, "work_items": 1}, cs
    (asked,) = (out / "276").iterdir()
    (answered,) = (out / "277-status").iterdir()
    assert second_opinion_276(asked.read_text()) == []
    assert second_opinion_277(answered.read_text()) == []

    # every file went through the partners' SFTP mailboxes on the demo's loopback
    # server: each 837, 270 and 276 the engine announced was uploaded (and recorded on
    # edi.deliveries), every answer the payers left there fetched and taken in
    mb = summary["mailboxes"]
    assert mb["uploaded_837"] == c["files"] and mb["uploaded_276"] == 1
    assert mb["uploaded_270"] == len(list((out / "270").iterdir()))
    assert mb["uploaded"] == mb["uploaded_837"] + mb["uploaded_270"] + mb["uploaded_276"]
    assert mb["not_uploaded"] == mb["not_fetched"] == mb["delivery_work_items"] == 0
    # a 999 and a 277CA per 837, an 835 per 837 paid electronically, a 271 per 270, a 277
    assert mb["answers_left_by_payers"] == 2 * c["files"] + r["files"] + mb["uploaded_270"] + 1
    uploaded = count(
        bootstrap,
        prefix + "edi.deliveries",
        lambda m: m.value is not None and m.json["status"] == "uploaded",
    )
    assert uploaded == mb["uploaded"]
    assert not (out / "sftp").exists() and (out / "mailbox.log").is_file()
    # every exchanged file kept in demo-out is owner-only, whatever the server made of it
    kept = [p for d in ("837", "999", "277", "835", "270", "271", "276", "277-status")
            for p in (out / d).iterdir()]  # fmt: skip
    assert kept and {oct(p.stat().st_mode & 0o777) for p in kept} == {oct(0o600)}

    # every self-pay and HSA session has its superbill
    assert summary["superbills"] == s["self_pay"] == len(list((out / "superbills").iterdir()))

    # the front door answered every 837 with a 999 and a 277CA; every claim accepted
    front = summary["front_door"]
    assert front["files"] == c["files"] and front["claims"] >= c["count"]
    assert front["accepted"] == front["claims"]
    for kind in ("999", "277"):
        acks = sorted((out / kind).iterdir())
        assert len(acks) == c["files"]
        for path in acks:
            assert validate_x12(path.read_text()).ok, path.name


def _check_replacement_names_the_current_payer_number(x837: list[Path], x835: list[Path]) -> None:
    """The late visit's day was paid, reversed and paid again under a new payer claim
    number; its replacement claim (frequency 7) names that new number in REF*F8."""
    replacement = None
    for path in x837:
        segments = [seg.strip() for seg in path.read_text().split("~")]
        for n, seg in enumerate(segments):
            if seg.startswith("CLM*") and seg.split("*")[5].endswith(":7"):
                pcn = seg.split("*")[1]
                ref = next(s for s in segments[n:] if s.startswith("REF*F8*"))
                replacement = (pcn, ref.split("*")[2])
    assert replacement is not None, "no replacement claim was sent"
    pcn, named = replacement
    answers = [
        seg.strip().split("*")
        for path in x835
        for seg in path.read_text().split("~")
        if seg.strip().startswith(f"CLP*{pcn}*")
    ]
    reversed_numbers = [clp[7] for clp in answers if clp[2] == "22"]
    paid_numbers = [clp[7] for clp in answers if clp[2] != "22"]
    # paid, reversed and paid again; then the replacement's answer
    assert len(paid_numbers) >= 3 and paid_numbers[0] in reversed_numbers
    assert named == paid_numbers[1] != paid_numbers[0]


def _claims_of(path: Path) -> list[tuple[str, list[str]]]:
    """Each claim of an 837 as (its payer's id (2010BB), its segments from CLM on)."""
    out: list[tuple[str, list[str]]] = []
    payer, claim = "", None
    for seg in (s.strip() for s in path.read_text().split("~")):
        if seg.startswith(("HL*", "SE*")):
            if claim is not None:
                out.append((payer, claim))
            claim = None
        elif seg.startswith("NM1*PR*") and claim is None:
            payer = seg.split("*")[9]
        elif seg.startswith("CLM*"):
            claim = []
        if claim is not None:
            claim.append(seg)
    return out


def _check_front_door_edits(x837: list[Path]) -> None:
    """What a clearinghouse checks beyond pyx12, on the demo's own files."""
    from datetime import datetime as dt

    from schemas.code_sets.icd10cm import status

    payers = {payer for path in x837 for payer, _ in _claims_of(path)}
    assert {"WCSTATE01", "AUTOPIP01", "BLUECMS01", "ACME01"} <= payers
    for path in x837:
        segments = [seg.strip() for seg in path.read_text().split("~") if seg.strip()]
        billing = segments.index(next(s for s in segments if s.startswith("NM1*85*")))
        street, city = segments[billing + 1], segments[billing + 2]
        assert street.startswith("N3*") and "BOX" not in street.upper()
        assert len(city.split("*")[3]) == 9, f"{path.name}: billing ZIP is not ZIP+4"
        for payer, claim in _claims_of(path):
            refs = {s.split("*")[1] for s in claim if s.startswith("REF*")}
            if payer in ("WCSTATE01", "AUTOPIP01"):
                assert "0B" in refs, f"{path.name}: {payer} claim without the licence"
            if payer == "WCSTATE01":
                assert "G1" in refs and any(s.startswith("PWK*B3*FX") for s in claim)
            if payer in ("BLUECMS01", "WCSTATE01"):
                assert not any(s.startswith("SV1*HC:97010") for s in claim), "a bundled line"
            dos = dt.strptime(
                next(s for s in claim if s.startswith("DTP*472")).split("*")[3][:8], "%Y%m%d"
            ).date()
            hi = next(s for s in claim if s.startswith("HI*"))
            for code in (part.split(":")[1] for part in hi.split("*")[1:]):
                assert status(code, dos) in ("billable", "stale-unknown"), (path.name, code)
