"""Billable sessions -> 837P claim models (pure).

* **Claim identity.**  One claim per billing provider, patient, coverage and date
  of service (identity ``<clinic_id>:<patient_id>:<coverage_id>:<date>``; with a
  payer that counts units per rendering therapist, ``:<therapist_id>`` too): the
  day is one unit count (:mod:`workers.pricing.day`), so all of a patient's visits
  of a day under one coverage are one claim, priced together when it is
  assembled.
* **Patient control number (CLM01).**  A short clinic prefix (the clinic's
  ``claim_prefix``, else the first letters and digits of its id) followed by a
  base-32 hash of the claim identity: deterministic (identical under replay),
  at most 18 characters, and unique across all clinics (the identity includes
  the clinic).  Replacements and voids keep it.
* **Line control numbers (REF*6R).**  ``<CLM01>-<version>-<line>``: unique per
  line of every version; payers echo them on the 835.
* **Who is who.**  Billing provider = the clinic; rendering = the therapist;
  referring = the prescribing physician; the patient is the subscriber when the
  coverage is their own or they have their own member id, otherwise the
  subscriber is the policy holder (a parent, or the employer for workers' comp)
  and the patient gets loop 2000C.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

from schemas.billing import BillableSession, DroppedService, money
from schemas.claims import (
    BillingProvider,
    Claim,
    ClaimAttachment,
    OtherPayer,
    PatientLoop,
    PayerParty,
    PersonOrOrganisation,
    Provider,
    RelatedCauses,
    RelationshipCode,
    ServiceLine,
    Subscriber,
)
from schemas.common import PersonName
from schemas.reference import Clinic, Coverage, Payer
from workers.pricing import day
from workers.pricing.code_lists import default_code_lists
from workers.pricing.session import prescription_caps

RELATIONSHIP_CODES: dict[str, RelationshipCode] = {
    "self": "18",
    "spouse": "01",
    "child": "19",
    "employee": "20",
    "other": "G8",
}
CAUSE_CODES: dict[str, Literal["AA", "EM", "OA"]] = {
    "auto_accident": "AA",
    "employment": "EM",
    "other_accident": "OA",
}
PRIORITY: dict[int, Literal["P", "S", "T"]] = {1: "P", 2: "S", 3: "T"}


def claim_identity(billable: BillableSession) -> str:
    """The day a session belongs to: billing provider (clinic), patient, coverage and
    date of service, and the therapist when the payer pools units per therapist."""
    enriched = billable.enriched
    identity = (
        f"{billable.clinic_id}:{billable.patient_id}:{enriched.coverage.coverage_id}:"
        f"{billable.date_of_service.isoformat()}"
    )
    payer = enriched.payer
    if payer is not None and payer.unit_pool == "rendering-provider":
        identity += f":{enriched.therapist.therapist_id}"
    return identity


def clinic_prefix(clinic: Clinic) -> str:
    if clinic.claim_prefix:
        return clinic.claim_prefix
    letters = re.sub(r"[^A-Z0-9]", "", clinic.clinic_id.upper())
    return (letters or "C")[:4]


def patient_control_number(clinic: Clinic, identity: str) -> str:
    digest = hashlib.sha256(identity.encode("utf-8")).digest()
    tail = base64.b32encode(digest).decode("ascii").rstrip("=")[:13]
    return f"{clinic_prefix(clinic)}{tail}"


def line_control_number(pcn: str, version: int, line_number: int) -> str:
    return f"{pcn}-{version}-{line_number}"


def _person(name: PersonName) -> PersonOrOrganisation:
    return PersonOrOrganisation(
        kind="person",
        last_or_organisation_name=name.last_name,
        first_name=name.first_name,
        middle_name=name.middle_name,
    )


def subscriber_and_patient(
    billable: BillableSession, coverage: Coverage, filing: str
) -> tuple[Subscriber, PatientLoop | None]:
    patient = billable.enriched.patient
    claim_no = coverage.related_cause.claim_number if coverage.related_cause else None
    responsibility = PRIORITY.get(coverage.priority, "P")
    if coverage.relationship == "self" or coverage.member_id is not None:
        return (
            Subscriber(
                name=_person(patient.name),
                member_id=coverage.member_id,
                group_number=coverage.group_number,
                payer_responsibility=responsibility,
                filing_indicator=filing,
                relationship="18",
                birth_date=patient.birth_date,
                sex=patient.sex,
                address=patient.address,
                property_casualty_claim_number=claim_no,
            ),
            None,
        )
    holder = coverage.subscriber
    assert holder is not None  # the Coverage contract requires it
    if holder.organisation_name is not None:
        name = PersonOrOrganisation(
            kind="organisation", last_or_organisation_name=holder.organisation_name
        )
    else:
        assert holder.name is not None
        name = _person(holder.name)
    subscriber = Subscriber(
        name=name,
        member_id=holder.member_id,
        group_number=coverage.group_number,
        payer_responsibility=responsibility,
        filing_indicator=filing,
        relationship=None,
        birth_date=holder.birth_date,
        sex=holder.sex,
        address=holder.address,
    )
    loop = PatientLoop(
        relationship=RELATIONSHIP_CODES[coverage.relationship],
        name=_person(patient.name),
        birth_date=patient.birth_date,
        sex=patient.sex,
        address=patient.address,
        property_casualty_claim_number=claim_no,
    )
    return subscriber, loop


def other_payer_of(
    billable: BillableSession, coverage: Coverage, payer: Payer
) -> OtherPayer | None:
    """The next coverage as loops 2320/2330 of the primary claim (None: no member id)."""
    filing = coverage.filing_indicator or payer.default_filing_indicator
    subscriber, patient = subscriber_and_patient(billable, coverage, filing)
    if subscriber.member_id is None:
        return None
    relationship = patient.relationship if patient is not None else "18"
    return OtherPayer(
        responsibility=subscriber.payer_responsibility,
        relationship=relationship,
        group_number=coverage.group_number,
        filing_indicator=filing,
        subscriber_name=subscriber.name,
        member_id=subscriber.member_id,
        payer_name=payer.name,
        payer_id=payer.edi_payer_id,
        payer_ref=payer.payer_id,
        receiver_id=payer.receiver_id,
    )


def _merged_diagnoses(sources: Sequence[BillableSession]) -> list[str]:
    merged: list[str] = []
    for src in sources:
        for code in src.diagnosis_codes:
            if code not in merged and len(merged) < 12:
                merged.append(code)
    return merged


class UnbillableDay(ValueError):
    """The day's visits together earn no billable unit (the message says why)."""


def visit_order(billable: BillableSession) -> tuple[datetime, str]:
    """Visits of a day in the order they happened (the clinic's completion time, then
    its session id), whatever order they arrived in."""
    return billable.enriched.session.occurred_at, billable.session_id


def _region_first(source: BillableSession, service: day.Service) -> list[str]:
    """The visit's diagnoses, those of the service's own body regions first, when the
    prescription says which regions each diagnosis concerns (else as they are)."""
    codes = list(source.diagnosis_codes)
    rx = source.enriched.prescription
    regions = {region for _, region in service.portions if region}
    if rx is None or not rx.diagnosis_regions or not regions:
        return codes
    mapped = {c.upper().replace(".", ""): set(r) for c, r in rx.diagnosis_regions.items()}
    own = [c for c in codes if mapped.get(c.upper().replace(".", ""), set()) & regions]
    return own + [c for c in codes if c not in own]


def price_claim_day(sources: Sequence[BillableSession]) -> tuple[day.DayPriced, list[str]]:
    """The day's lines priced together (:mod:`workers.pricing.day`), and the claim's
    diagnoses; each line points at the diagnoses of the visits that had its code."""
    ordered = sorted(sources, key=visit_order)
    first = ordered[0].enriched
    lists = default_code_lists()
    services: list[day.Service] = []
    unbilled: list[DroppedService] = []
    caps: list[tuple[int, str]] = []
    for visit, src in enumerate(ordered):
        done, dropped = day.services_of(src.enriched, visit, lists)
        services += done
        unbilled += dropped
        caps += [c for c in prescription_caps(src.enriched) if c not in caps]
    diagnoses = _merged_diagnoses(ordered)
    pointers_of: dict[str, list[int]] = {}
    by_region: set[str] = set()
    for service in services:
        found = pointers_of.setdefault(service.code, [])
        codes = _region_first(ordered[service.visit], service)
        if codes != ordered[service.visit].diagnosis_codes:
            by_region.add(service.code)
        for code in codes:
            number = diagnoses.index(code) + 1 if code in diagnoses else None
            if number is not None and number not in found:
                found.append(number)
    for code, numbers in pointers_of.items():
        if code not in by_region:
            numbers.sort()
    rules = day.rules_for(
        first.payer, first.clinic, lists, first.session.date_of_service, prescription_caps=caps
    )
    priced = day.price_day(
        services,
        rules,
        first.session.date_of_service,
        pointers=list(range(1, min(len(diagnoses), day.MAX_POINTERS) + 1)),
        pointers_of=pointers_of,
    )
    return replace(priced, dropped=(*unbilled, *priced.dropped)), diagnoses


def assemble_claim(
    sources: Sequence[BillableSession],
    *,
    version: int = 1,
    frequency: Literal["1", "7", "8"] = "1",
    replaces: str | None = None,
    payer_claim_number: str | None = None,
) -> Claim:
    """One claim from the billable sessions of one claim identity (one day), its
    lines priced for the whole day."""
    if not sources:
        raise ValueError("a claim needs at least one billable session")
    ordered = sorted(sources, key=visit_order)
    first = ordered[0]
    identities = {claim_identity(s) for s in ordered}
    if len(identities) != 1:
        raise ValueError("all sessions of a claim must share its identity")
    enriched = first.enriched
    clinic, payer, coverage = enriched.clinic, enriched.payer, enriched.coverage
    if payer is None or not first.billed_to_payer:
        raise ValueError(f"session {first.session_key} is not billed to a payer")
    pcn = patient_control_number(clinic, identities.pop())
    filing = coverage.filing_indicator or payer.default_filing_indicator
    subscriber, patient_loop = subscriber_and_patient(first, coverage, filing)
    priced, diagnoses = price_claim_day(ordered)
    if priced.problems:
        raise ValueError("; ".join(p.message for p in priced.problems))
    if not priced.lines:
        why = "; ".join(
            f"{d.code or d.techniques[0].technique}: {d.reason}" for d in priced.dropped
        )
        raise UnbillableDay(f"the day's visits earn no billable unit ({why})")
    lines = [
        ServiceLine(
            line_number=bl.line_number,
            procedure=bl.code,
            modifiers=list(bl.modifiers),
            charge=bl.charge,
            units=bl.units,
            diagnosis_pointers=bl.diagnosis_pointers or [1],
            service_date=first.date_of_service,
            line_control_number=line_control_number(pcn, version, bl.line_number),
            expected_allowed=bl.expected_allowed,
            derivation=bl.derivation,
        )
        for bl in priced.lines
    ]
    if len(lines) > 50:
        raise ValueError(f"claim {pcn} would have {len(lines)} lines (at most 50)")
    expected_values = [ln.expected_allowed for ln in lines if ln.expected_allowed is not None]
    cause = coverage.related_cause
    related = None
    if cause is not None:
        related = RelatedCauses(
            codes=[CAUSE_CODES[cause.cause]],
            state=cause.accident_state if cause.cause == "auto_accident" else None,
            accident_date=cause.accident_date,
        )
    rx = enriched.prescription
    therapist = enriched.therapist
    return Claim.new(
        claim_id=f"{pcn}-{version}",
        patient_control_number=pcn,
        version=version,
        frequency=frequency,
        replaces=replaces,
        payer_claim_number=payer_claim_number,
        session_keys=[s.session_key for s in ordered],
        clinic_id=clinic.clinic_id,
        patient_id=first.patient_id,
        receiver_id=payer.receiver_id,
        payer_id=payer.payer_id,
        billing_provider=BillingProvider(
            name=clinic.name,
            npi=clinic.npi,
            tax_id=clinic.tax_id,
            taxonomy_code=clinic.taxonomy_code,
            address=clinic.address,
            contact_phone=clinic.phone,
        ),
        subscriber=subscriber,
        patient=patient_loop,
        payer=PayerParty(name=payer.name, payer_id=payer.edi_payer_id),
        rendering=Provider(
            name=_person(therapist.name),
            npi=therapist.npi,
            taxonomy_code=therapist.taxonomy_code,
            license_number=therapist.license_number if payer.sends_rendering_license else None,
        ),
        referring=Provider(name=_person(rx.prescriber.name), npi=rx.prescriber.npi)
        if rx is not None
        else None,
        place_of_service=first.enriched.session.place_of_service,
        related_causes=related,
        # the destination payer's own authorization; a prescription's number is the
        # fallback for records made before authorizations were kept per payer
        prior_authorization=_authorization_number(ordered) or (
            rx.prior_authorization if rx else None
        ),
        referral_number=rx.referral_number if rx else None,
        initial_treatment_date=min(
            (s.enriched.first_visit_date for s in ordered if s.enriched.first_visit_date),
            default=None,
        ),
        payer_wants_initial_treatment_date=payer.sends_initial_treatment_date,
        payer_wants_billing_taxonomy=payer.sends_billing_taxonomy,
        attachments=[
            ClaimAttachment(
                report_type=rule.report_type,
                transmission=rule.transmission,
                control_number=None
                if rule.transmission == "AA"
                else f"{pcn}-{version}-{rule.report_type}",
            )
        ]
        if (rule := payer.attachment) is not None and rule.transmission != "EL"
        else [],
        diagnosis_codes=diagnoses,
        lines=lines,
        total_charge=money(sum((ln.charge for ln in lines), Decimal(0))),
        expected_allowed_total=money(sum(expected_values, Decimal(0)))
        if len(expected_values) == len(lines)
        else None,
        other_payers=_other_payers(first),
        dropped=list(priced.dropped),
    )


def _other_payers(billable: BillableSession) -> list[OtherPayer]:
    """The next coverage as the claim's other payer (loops 2320/2330), if there is one."""
    enriched = billable.enriched
    if enriched.next_coverage is None or enriched.next_payer is None:
        return []
    other = other_payer_of(billable, enriched.next_coverage, enriched.next_payer)
    return [other] if other is not None else []


def new_version(
    claim: Claim,
    frequency: Literal["1", "7", "8"],
    payer_claim_number: str | None,
    lines: Sequence[ServiceLine] | None = None,
    diagnosis_codes: Sequence[str] | None = None,
) -> Claim:
    """A replacement (7) or void (8) of ``claim``: same CLM01, next version, whole claim
    resent (never negative charges), line control numbers of the new version.

    Frequency 1 is the resend of a claim the payer's front door rejected: the
    payer never took the first one in, so the next version is a new original
    (no REF*F8, replaces nothing) with the same CLM01."""
    version = claim.version + 1
    pcn = claim.patient_control_number
    source_lines = list(lines) if lines is not None else claim.lines
    renumbered = [
        ln.model_copy(
            update={
                "line_number": i,
                "line_control_number": line_control_number(pcn, version, i),
            }
        )
        for i, ln in enumerate(source_lines, start=1)
    ]
    expected = [ln.expected_allowed for ln in renumbered if ln.expected_allowed is not None]
    changed = claim.model_copy(
        update={
            "claim_id": f"{pcn}-{version}",
            "version": version,
            "frequency": frequency,
            "replaces": None if frequency == "1" else claim.claim_id,
            "payer_claim_number": None if frequency == "1" else payer_claim_number,
            "lines": renumbered,
            "diagnosis_codes": list(diagnosis_codes or claim.diagnosis_codes),
            "total_charge": money(sum((ln.charge for ln in renumbered), Decimal(0))),
            "expected_allowed_total": money(sum(expected, Decimal(0)))
            if len(expected) == len(renumbered)
            else None,
        }
    )
    # re-validate: edited lines must still satisfy the contract (pointers, counts)
    return Claim.model_validate(changed.model_dump(), strict=False)


def _authorization_number(sessions: Sequence[BillableSession]) -> str | None:
    """The payer's authorization the day's visits were billed under (the first one named)."""
    return next(
        (s.enriched.authorization.number for s in sessions if s.enriched.authorization),
        None,
    )
