"""What a payer reads from an 837P, and what an 835 says beyond the canonical remittance.

Two families of models, both used by the payer simulator
(:mod:`workers.payer_sim`) and by :mod:`edi.x837p` / :mod:`edi.x835`:

* :class:`ClaimReceived` -- the light view of one 837P claim that a payer needs
  to adjudicate it: the envelope it came in (:class:`Interchange837`), the
  billing provider, payer, subscriber, patient (only when the 837 has a 2000C
  loop), the claim facts (CLM01, total charge, place of service, frequency,
  ``REF*F8``, ``REF*G1``) and its lines (:class:`LineReceived`).  Read with
  :func:`edi.x837p.read_837p`.
* :class:`RemittanceDetails` -- what :func:`edi.x835.render_835` writes that the
  canonical :class:`~schemas.remittance.Remittance` does not hold (it is the
  model of what the engine *reads* from an 835): the payer's address and
  technical contact (both required by the guide), bank details of an ACH
  payment, the production date, and per claim the patient and insured names,
  facility code, frequency, dates, claim-level remarks and per line the
  allowed amount.  :class:`RemittanceAdvice` pairs a remittance with them.

Money is :class:`~decimal.Decimal` (a string with two decimals in JSON), never
a float; quantities (units) are decimals too.  Names are kept as the 837 gives
them: these models hold patient data, so they never go into logs or errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from schemas.base import PHI, Contract
from schemas.claims import PersonOrOrganisation
from schemas.remittance import Adjustment, Amount, Quantity, Remittance

__all__ = [
    "BankDetails",
    "BillingProviderReceived",
    "ClaimDetails",
    "ClaimReceived",
    "Interchange837",
    "LineReceived",
    "NameDetails",
    "PatientReceived",
    "PayerContact",
    "PayerReceived",
    "PostalAddress",
    "RemittanceAdvice",
    "RemittanceDetails",
    "ServiceDetails",
    "SubscriberReceived",
]

#: A text element as read from X12 (never empty).
Text = Annotated[str, StringConstraints(min_length=1)]


# --- the 837P, as a payer reads it ------------------------------------------------------


class Interchange837(Contract):
    """The envelope a claim came in: ISA, GS and ST identifiers (values trimmed)."""

    isa_sender_qualifier: str
    isa_sender_id: str
    isa_receiver_qualifier: str
    isa_receiver_id: str
    interchange_control_number: str = Field(description="ISA13 as written (9 digits).")
    usage: str = Field(description="ISA15: T test, P production.")
    gs_sender_code: str
    gs_receiver_code: str
    group_control_number: str = Field(description="GS06.")
    created: dt.date | None = Field(description="GS04, None when it is not a valid date.")
    implementation_guide: str = Field(description="GS08, e.g. 005010X222A1.")
    transaction_control_number: str = Field(description="ST02.")


class BillingProviderReceived(Contract):
    """Loop 2010AA: name, NPI (NM109 when NM108 is XX) and tax id (REF*EI, else REF*SY)."""

    name: Text
    npi: str | None = None
    tax_id: str | None = None


class PayerReceived(Contract):
    """Loop 2010BB: the payer's name and id (NM109, qualifier PI or XV)."""

    name: Text
    id: Text


class SubscriberReceived(Contract):
    """Loops 2000B/2010BA: SBR and the subscriber's name and member id."""

    name: Annotated[PersonOrOrganisation, PHI]
    member_id: Annotated[str | None, PHI] = Field(
        default=None, description="NM109 (qualifier MI or II)."
    )
    payer_responsibility: str = Field(description="SBR01: P, S, T, ...")
    relationship: str | None = Field(default=None, description="SBR02: 18 when self.")
    group_number: str | None = None
    filing_indicator: str | None = Field(default=None, description="SBR09.")


class PatientReceived(Contract):
    """Loops 2000C/2010CA, present only when the patient is not the subscriber."""

    name: Annotated[PersonOrOrganisation, PHI]
    relationship: str | None = Field(default=None, description="PAT01.")


class LineReceived(Contract):
    """One 2400 service line."""

    line_number: int = Field(ge=1, description="LX01.")
    qualifier: str = Field(description="SV101-1, HC for CPT/HCPCS.")
    procedure: Text
    modifiers: tuple[str, ...] = ()
    charge: Amount
    unit_basis: str | None = Field(default=None, description="SV103: UN units, MJ minutes.")
    units: Quantity
    service_date: Annotated[dt.date, PHI]
    service_date_end: Annotated[dt.date | None, PHI] = Field(
        default=None, description="Second date of an RD8 range (DTP*472), when it differs."
    )
    line_control_number: str | None = Field(default=None, description="REF*6R.")
    prior_paid: Amount | None = Field(
        default=None, description="2430 SVD02: what the payer before this one paid on the line."
    )
    prior_adjustments: tuple[Adjustment, ...] = Field(
        default=(), description="2430 CAS: that payer's adjustments of the line."
    )


class ClaimReceived(Contract):
    """One 837P claim as a payer adjudicates it (see the module docstring)."""

    envelope: Interchange837
    billing_provider: BillingProviderReceived
    payer: PayerReceived
    subscriber: Annotated[SubscriberReceived, PHI]
    patient: Annotated[PatientReceived | None, PHI] = None
    patient_control_number: Text = Field(description="CLM01.")
    total_charge: Amount = Field(description="CLM02.")
    place_of_service: str = Field(description="CLM05-1.")
    frequency: str = Field(description="CLM05-3: 1 original, 7 replacement, 8 void.")
    payer_claim_number: str | None = Field(default=None, description="REF*F8.")
    prior_authorization: Annotated[str | None, PHI] = Field(default=None, description="REF*G1.")
    lines: tuple[LineReceived, ...]

    @property
    def patient_name(self) -> PersonOrOrganisation:
        """The patient: the 2000C patient when there is one, else the subscriber."""
        return self.patient.name if self.patient is not None else self.subscriber.name


# --- what an 835 says beyond the canonical remittance ---------------------------------


class PostalAddress(Contract):
    """N3/N4."""

    line1: Annotated[Annotated[str, StringConstraints(min_length=1, max_length=55)], PHI]
    line2: Annotated[Annotated[str, StringConstraints(min_length=1, max_length=55)] | None, PHI] = (
        None
    )
    city: Annotated[Annotated[str, StringConstraints(min_length=2, max_length=30)], PHI]
    state: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    postal_code: Annotated[Annotated[str, StringConstraints(pattern=r"^[0-9]{5}([0-9]{4})?$")], PHI]


class PayerContact(Contract):
    """1000A ``PER*BL`` (payer technical contact, required): a name and one way to reach it."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^[0-9]{10}$")] | None = None
    email: Annotated[str, StringConstraints(min_length=3, max_length=80)] | None = None
    url: Annotated[str, StringConstraints(min_length=3, max_length=80)] | None = None


class BankDetails(Contract):
    """BPR05..BPR15 of an ACH payment (CCP format, ABA routing numbers, DA accounts)."""

    payer_routing_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")]
    payer_account_number: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,35}$")]
    payee_routing_number: Annotated[str, StringConstraints(pattern=r"^[0-9]{9}$")]
    payee_account_number: Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,35}$")]


class NameDetails(Contract):
    """An NM1 of loop 2100: person (NM102 1) or organisation (2), with an optional id."""

    entity_type: Literal["1", "2"]
    last_name: Annotated[Text, PHI]
    first_name: Annotated[str | None, PHI] = None
    middle_name: Annotated[str | None, PHI] = None
    id_qualifier: str | None = Field(default=None, description="NM108, e.g. MI.")
    identifier: str | None = Field(default=None, description="NM109.")


class ServiceDetails(Contract):
    """What one 2110 loop says beyond :class:`~schemas.remittance.ServicePayment`."""

    allowed: Amount | None = Field(default=None, description="AMT*B6.")
    service_date_end: Annotated[dt.date | None, PHI] = Field(
        default=None, description="With a range: DTM*150/151 are written instead of DTM*472."
    )


class ClaimDetails(Contract):
    """What one 2100 loop says beyond :class:`~schemas.remittance.ClaimPayment`."""

    patient: Annotated[NameDetails | None, PHI] = Field(
        default=None, description="NM1*QC (required)."
    )
    insured: Annotated[NameDetails | None, PHI] = Field(
        default=None, description="NM1*IL, when the insured is not the patient."
    )
    facility_code: str | None = Field(default=None, description="CLP08 (place of service).")
    frequency: str | None = Field(default=None, description="CLP09.")
    claim_remarks: tuple[str, ...] = Field(
        default=(), max_length=5, description="MOA03..MOA07 (claim-level RARCs)."
    )
    statement_from: dt.date | None = Field(default=None, description="DTM*232.")
    statement_to: dt.date | None = Field(default=None, description="DTM*233.")
    received: dt.date | None = Field(default=None, description="DTM*050.")
    services: tuple[ServiceDetails, ...] = Field(
        default=(), description="One per service line, in order (or none)."
    )


class RemittanceDetails(Contract):
    """What one 835 transaction says beyond :class:`~schemas.remittance.Remittance`.

    ``claims`` has one entry per claim of the remittance, in the same order, or
    is empty (then the required patient name is written without a name).
    """

    payer_address: PostalAddress | None = None
    payer_contact: PayerContact = PayerContact()
    payee_address: PostalAddress | None = None
    bank: BankDetails | None = None
    production_date: dt.date | None = Field(default=None, description="DTM*405.")
    claims: tuple[ClaimDetails, ...] = ()


class RemittanceAdvice(Contract):
    """One 835 transaction set to write: the canonical remittance and its details."""

    remittance: Remittance
    details: RemittanceDetails = RemittanceDetails()
