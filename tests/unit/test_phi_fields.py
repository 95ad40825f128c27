"""Every personal field of every contract is marked PHI, so the masked views of dead
letters and work queues hide it -- a new field cannot be forgotten."""

from __future__ import annotations

import re

from schemas.phi import contracts, is_phi, phi_field_names
from workers.ops.dead_letter_review import masked

#: Field names that hold a person's data wherever they appear.
PERSONAL = re.compile(
    r"^(first_name|last_name|middle_name|name|birth_date|sex|address|line1|line2|city|"
    r"postal_code|phone|email|member_id|ssn|diagnosis_codes|diagnosis_regions|"
    r"accident_date|accident_state|claim_number|prior_authorization|referral_number|"
    r"number|date_of_service|service_date|service_date_end|notes|subscriber_name|"
    r"patient_name|insured|patient|subscriber)$"
)
#: Fields whose name looks personal but whose value is not a person's data, and why.
_ORGANISATION = "an organisation's or a provider's name, not a patient's"
NOT_PERSONAL: dict[str, str] = {
    "schemas.adjudication.BillingProviderReceived.name": _ORGANISATION,
    "schemas.adjudication.PayerContact.name": "the payer's EDI support desk",
    "schemas.adjudication.PayerContact.phone": "the payer's EDI support desk",
    "schemas.adjudication.PayerContact.email": "the payer's EDI support desk",
    "schemas.adjudication.PayerReceived.name": _ORGANISATION,
    "schemas.claims.BillingProvider.name": _ORGANISATION,
    "schemas.claims.BillingProvider.address": "the clinic's address (2010AA)",
    "schemas.claims.PayerParty.name": _ORGANISATION,
    "schemas.claims.Provider.name": "a therapist or prescriber (provider data)",
    "schemas.claims.Submitter.name": _ORGANISATION,
    "schemas.claims.TradingPartner.name": _ORGANISATION,
    "schemas.reference.Clinic.name": _ORGANISATION,
    "schemas.reference.Clinic.address": "the clinic's address",
    "schemas.reference.Clinic.phone": "the clinic's phone",
    "schemas.reference.Payer.name": _ORGANISATION,
    "schemas.reference.Prescriber.name": "a physician (provider data)",
    "schemas.reference.Therapist.name": "a therapist (provider data)",
    "schemas.remittance.Payee.name": _ORGANISATION,
    "schemas.remittance.Payer.name": _ORGANISATION,
}


def unmarked() -> list[str]:
    out = []
    for cls in contracts():
        for field in cls.model_fields:
            where = f"{cls.__module__}.{cls.__qualname__}.{field}"
            if PERSONAL.match(field) and not is_phi(cls, field) and where not in NOT_PERSONAL:
                out.append(where)
    return out


def test_every_personal_field_is_marked_phi() -> None:
    assert unmarked() == []


def test_the_masked_view_hides_every_marked_field_at_any_depth() -> None:
    names = phi_field_names()
    assert {"birth_date", "member_id", "diagnosis_codes", "accident_date"} <= names
    payload = {
        "session": {"date_of_service": "2026-03-02", "clinic_id": "c1"},
        "patient": {"name": {"first_name": "Z"}, "sex": "F"},
        "coverage": {"related_cause": {"accident_date": "2026-01-01", "claim_number": "PIP1"}},
        "prescription": {"diagnosis_codes": ["M54.50"], "prior_authorization": "PA-1"},
    }
    shown = masked(payload)
    text = str(shown)
    for secret in ("2026-03-02", "'F'", "2026-01-01", "PIP1", "M54.50", "PA-1", "'Z'"):
        assert secret not in text, secret
    assert shown["session"]["clinic_id"] == "c1"
