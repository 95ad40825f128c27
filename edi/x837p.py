"""X12 837 Professional claims (005010X222A1) from :class:`schemas.claims.Claim` models.

:func:`render_837p` is pure: claims, a trading partner, the reserved control
numbers and a creation time in, one :class:`~schemas.claims.RenderedFile` out.
One call writes one interchange (``ISA``..``IEA``) holding one functional group
(``GS*HC``..``GE``) holding one transaction set (``ST*837``..``SE``):

* header: ``BHT*0019*00*<reference>*<CCYYMMDD>*<HHMM>*CH`` (the reference is
  ISA13 as 9 digits followed by ST02, so it is unique whenever the control
  numbers are), 1000A submitter with ``PER``, 1000B receiver;
* one 2000A billing-provider ``HL`` per distinct billing provider (claims
  sharing a provider share its ``HL``; claims are grouped under their provider
  in the order each provider first appears), with ``PRV*BI`` only when the
  partner asks for it, then 2010AA ``NM1*85`` / ``N3`` / ``N4`` / ``REF*EI`` and
  ``PER`` when the provider has a contact phone;
* per claim a 2000B subscriber ``HL`` (``SBR``, 2010BA, 2010BB), a 2000C
  patient ``HL`` when the patient is not the subscriber, then 2300 ``CLM`` with
  its dates, references and ``HI``, 2310A referring and 2310B rendering
  providers, and a 2400 loop per service line.

Segments follow the order of the implementation guide (e.g. ``DTP*454`` before
``DTP*439``; ``REF*9F``, ``REF*G1``, ``REF*F8``).  Money is written with two
decimals (``45.00``), dates as D8 (``CCYYMMDD``).  ``SE01``, the ``HL`` ids and
parent links are computed from the segments actually written.

Text values
-----------
Leading and trailing white space is removed from every value.  Characters
outside the X12 extended character set (printable ASCII for 5010) are
transliterated, case preserved: accents are dropped (``José`` -> ``Jose``,
``Ö`` -> ``O``), a few letters are spelled out (``ß`` -> ``ss``, ``Æ`` -> ``AE``,
``Ø`` -> ``O``, ``Ł`` -> ``L``), typographic quotes and dashes become their
ASCII forms, control characters and other white space become a space, and
anything else that has no ASCII form (CJK, emoji, ...) is **removed**.  Every
changed element is listed in :attr:`RenderedFile.transliterations` by claim,
loop and element, never by value.  A required value left empty by this is an
error.

Reading
-------
:func:`read_837p` goes the other way for a payer: it streams any well-formed
005010X222 837P (ours or not, any delimiters, several interchanges) into
:class:`~schemas.adjudication.ClaimReceived` objects, one per ``CLM``, with the
envelope ids, billing provider, payer, subscriber, patient (2000C), claim
facts and lines.  Loops a payer does not need here (2310 providers, 2320/2330
other payers, 2420 line providers, ...) are skipped.  A file it cannot read
raises :class:`X837Error` (or the segment reader's lexical and envelope
errors), located by segment ordinal and byte offset, naming the element and
never quoting a value.

Errors
------
Rendering either returns a complete file or raises :class:`ClaimRenderError`
(a :class:`~edi.segments.X12RenderError`) and returns nothing.  Its message
names the claim's patient control number (CLM01) and the loop and element, but
never a value: a value that still holds one of the partner's delimiters after
transliteration (so a name with ``*``, ``~`` or ``:`` can never inject a
segment), a value too long for its element, and inputs the renderer relies on
(receiver, line numbering, diagnosis pointers, totals, frequency and payer
claim number, related causes, subscriber and patient details) are all refused.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Final

from pydantic import ValidationError

from edi.elements import ascii_digits, read_amount, read_count
from edi.envelope import CONTROL_SEGMENTS, EnvelopeChecker
from edi.envelope_writer import EnvelopeWriter
from edi.segments import (
    Delimiters,
    Element,
    EncodingErrors,
    Segment,
    Source,
    X12Error,
    X12RenderError,
    read_segments,
)
from schemas.adjudication import (
    BillingProviderReceived,
    ClaimReceived,
    Interchange837,
    LineReceived,
    PatientReceived,
    PayerReceived,
    SubscriberReceived,
)
from schemas.base import describe_errors
from schemas.claims import (
    BillingProvider,
    CasAdjustment,
    Claim,
    ControlNumbers,
    LineAdjudication,
    OtherPayer,
    PatientLoop,
    PersonOrOrganisation,
    Provider,
    RenderedFile,
    ServiceLine,
    Subscriber,
    TradingPartner,
)
from schemas.common import Address
from schemas.remittance import Adjustment

__all__ = [
    "IMPLEMENTATION_GUIDE",
    "MAX_CLAIMS_PER_TRANSACTION",
    "MAX_DIAGNOSES",
    "MAX_LINES",
    "MAX_PRIOR_ADJUSTMENTS_PER_LINE",
    "ClaimRenderError",
    "X837Error",
    "cob_balance_problems",
    "read_837p",
    "render_837p",
    "transliterate",
]

#: GS08 and ST03 of every file written here.
IMPLEMENTATION_GUIDE: Final = "005010X222A1"
#: Service lines per claim (2400 repeats at most 50 times).
MAX_LINES: Final = 50
#: Diagnosis codes per claim (HI01..HI12).
MAX_DIAGNOSES: Final = 12
#: Related-cause codes per claim actually usable in CLM11 (CLM11-3 is "not used").
MAX_RELATED_CAUSES: Final = 2


class ClaimRenderError(X12RenderError):
    """A claim (or the trading partner) cannot be written as a valid 837P.

    ``patient_control_number`` is the CLM01 of the claim at fault, ``None`` when
    the problem is the partner or the call itself.  The message names the loop
    and element but never quotes a value.
    """

    def __init__(self, message: str, *, patient_control_number: str | None = None) -> None:
        self.patient_control_number = patient_control_number
        super().__init__(message)


# --- transliteration ------------------------------------------------------------------

#: Letters and signs NFKD does not decompose into ASCII.
_SPELLED: Final[dict[str, str]] = {
    "ß": "ss",
    "ẞ": "SS",
    "Æ": "AE",
    "æ": "ae",
    "Œ": "OE",
    "œ": "oe",
    "Ø": "O",
    "ø": "o",
    "Ł": "L",
    "ł": "l",
    "Đ": "D",
    "đ": "d",
    "Ð": "D",
    "ð": "d",
    "Þ": "Th",
    "þ": "th",
    "\u0131": "i",
    "Ħ": "H",
    "ħ": "h",
    "ĸ": "k",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": ",",
    "\u201b": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2010": "-",
    "\u2011": "-",
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\u00ab": '"',
    "\u00bb": '"',
}


def _is_x12(value: str) -> bool:
    """Only printable ASCII: the 5010 extended character set."""
    return value.isascii() and value.isprintable()


def _ascii_form(char: str) -> str:
    """The ASCII text for one character outside the set (``""`` when there is none)."""
    spelled = _SPELLED.get(char)
    if spelled is not None:
        return spelled
    if char.isspace() or unicodedata.category(char) == "Cc":
        return " "
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if " " <= c <= "~")


def transliterate(value: str) -> tuple[str, int]:
    """``value`` in the X12 extended character set, and how many characters changed.

    Case is preserved; characters without an ASCII form are removed (see the
    module docstring).  Delimiters are not touched here: they are refused when
    the segment is written.
    """
    if _is_x12(value):
        return value, 0
    parts: list[str] = []
    changed = 0
    for char in value:
        if " " <= char <= "~":
            parts.append(char)
        else:
            changed += 1
            parts.append(_ascii_form(char))
    return "".join(parts), changed


# --- formatting -------------------------------------------------------------------------


def _d8(day: date) -> str:
    return day.isoformat().replace("-", "")


def _hhmm(when: datetime) -> str:
    return f"{when.hour:02d}{when.minute:02d}"


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


#: (min, max) length of the free-text elements we fill, by segment id and position,
#: where the claim contracts allow more (or less) than the implementation guide.
_LENGTHS: Final[dict[str, dict[int, tuple[int, int]]]] = {
    "NM1": {3: (1, 60), 4: (1, 35), 5: (1, 25), 9: (2, 80)},
    "N3": {1: (1, 55), 2: (1, 55)},
    "N4": {1: (2, 30)},
    "REF": {2: (1, 50)},
    "PER": {2: (1, 60), 4: (1, 256), 6: (1, 256)},
    "SBR": {3: (1, 50)},
    "CLM": {1: (1, 38)},
}
_NO_LENGTHS: Final[dict[int, tuple[int, int]]] = {}


# --- the segment writer -----------------------------------------------------------------


class _Writer:
    """Cleans values, puts context on every error and writes through ``envelope``."""

    __slots__ = ("envelope", "loop", "pcn", "transliterations")

    def __init__(self, envelope: EnvelopeWriter) -> None:
        self.envelope = envelope
        self.transliterations: list[str] = []
        self.pcn: str | None = None
        self.loop = "envelope"

    def at(self, loop: str, pcn: str | None = None) -> None:
        """Name the loop (and claim) that the next segments belong to."""
        self.loop = loop
        if pcn is not None:
            self.pcn = pcn

    def where(self) -> str:
        return f"claim {self.pcn}, loop {self.loop}" if self.pcn else f"loop {self.loop}"

    def error(self, reason: str) -> ClaimRenderError:
        return ClaimRenderError(f"{self.where()}: {reason}", patient_control_number=self.pcn)

    def segment(self, segment_id: str, *elements: Element) -> None:
        """Clean, check and render one segment (``elements[0]`` is element 1)."""
        lengths = _LENGTHS.get(segment_id, _NO_LENGTHS)
        cleaned: list[Element] = []
        for index, value in enumerate(elements, start=1):
            if value is None:
                cleaned.append(None)
            elif isinstance(value, str):
                cleaned.append(self._text(segment_id, index, value, lengths.get(index)))
            else:
                cleaned.append(
                    [self._part(segment_id, index, n, p) for n, p in enumerate(value, 1)]
                )
        try:
            self.envelope.segment(segment_id, *cleaned)
        except X12RenderError as exc:
            raise self.error(exc.reason) from None

    def _text(self, segment_id: str, index: int, value: str, limits: tuple[int, int] | None) -> str:
        text = value.strip()
        if not _is_x12(text) or not text:
            text = self._transliterated(value, f"{segment_id}{index:02d}")
        if limits is not None and not limits[0] <= len(text) <= limits[1]:
            raise self.error(
                f"{segment_id}{index:02d} must be {limits[0]} to {limits[1]} characters long "
                f"(it has {len(text)})"
            )
        return text

    def _part(self, segment_id: str, index: int, n: int, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        if not _is_x12(text) or not text:
            text = self._transliterated(value, f"{segment_id}{index:02d}-{n}")
        return text

    def _transliterated(self, value: str, ref: str) -> str:
        """The slow path: ``value`` has characters outside the set, or only white space."""
        text, changed = transliterate(value)
        text = text.strip()
        if changed:
            self.transliterations.append(
                f"{self.where()}, {ref}: {changed} character(s) outside the X12 "
                "extended character set transliterated or removed"
            )
        if value and not text:
            raise self.error(
                f"{ref} is empty once white space and characters outside the X12 set are removed"
            )
        return text


# --- input checks -----------------------------------------------------------------------


def _claim_error(claim: Claim, reason: str) -> ClaimRenderError:
    pcn = claim.patient_control_number
    return ClaimRenderError(f"claim {pcn}: {reason}", patient_control_number=pcn)


def _check_lines(claim: Claim) -> None:
    lines = claim.lines
    if not 1 <= len(lines) <= MAX_LINES:
        raise _claim_error(claim, f"a claim has 1 to {MAX_LINES} service lines")
    diagnoses = len(claim.diagnosis_codes)
    if not 1 <= diagnoses <= MAX_DIAGNOSES:
        raise _claim_error(claim, f"a claim has 1 to {MAX_DIAGNOSES} diagnosis codes")
    control_numbers: set[str] = set()
    for position, line in enumerate(lines, start=1):
        where = f"lines[{position - 1}]"
        if line.line_number != position:
            raise _claim_error(claim, f"{where}.line_number must be {position} (lines in order)")
        for pointer in line.diagnosis_pointers:
            if not 1 <= pointer <= diagnoses:
                raise _claim_error(
                    claim, f"{where}.diagnosis_pointers: must be between 1 and {diagnoses}"
                )
        if len(set(line.diagnosis_pointers)) != len(line.diagnosis_pointers):
            raise _claim_error(claim, f"{where}.diagnosis_pointers: repeated pointer")
        if line.line_control_number in control_numbers:
            raise _claim_error(claim, f"{where}.line_control_number: not unique in the claim")
        control_numbers.add(line.line_control_number)
    if sum((line.charge for line in lines), Decimal(0)) != claim.total_charge:
        raise _claim_error(claim, "total_charge: must equal the sum of the line charges")


def _check_frequency(claim: Claim) -> None:
    if claim.frequency in ("7", "8") and claim.payer_claim_number is None:
        raise _claim_error(claim, "payer_claim_number: required for a replacement (7) or void (8)")
    if claim.frequency == "1" and claim.payer_claim_number is not None:
        raise _claim_error(
            claim, "payer_claim_number: only sent with a replacement (7) or void (8)"
        )


def _check_related_causes(claim: Claim) -> None:
    causes = claim.related_causes
    if causes is None:
        return
    codes = causes.codes
    if len(codes) > MAX_RELATED_CAUSES or len(set(codes)) != len(codes):
        raise _claim_error(
            claim, f"related_causes.codes: 1 to {MAX_RELATED_CAUSES} different codes (CLM11-1/2)"
        )
    if "AA" in codes and causes.state is None:
        raise _claim_error(claim, "related_causes.state: required with AA (auto accident)")
    if "AA" not in codes and causes.state is not None:
        raise _claim_error(claim, "related_causes.state: only sent with AA (auto accident)")
    if ("AA" in codes or "OA" in codes) and causes.accident_date is None:
        raise _claim_error(claim, "related_causes.accident_date: required with AA or OA")


def _check_parties(claim: Claim) -> None:
    subscriber = claim.subscriber
    if subscriber.member_id is None:
        raise _claim_error(claim, "subscriber.member_id: required (2010BA NM109)")
    patient = claim.patient
    if patient is None:
        if subscriber.relationship not in (None, "18"):
            raise _claim_error(
                claim, "subscriber.relationship: must be 18 when there is no patient loop"
            )
        if subscriber.name.kind != "person":
            raise _claim_error(
                claim, "subscriber.name.kind: the subscriber is the patient, so a person"
            )
        missing = [
            name for name in ("address", "birth_date", "sex") if getattr(subscriber, name) is None
        ]
        if missing:
            raise _claim_error(
                claim,
                f"subscriber.{missing[0]}: required when the patient is the subscriber",
            )
    else:
        if subscriber.relationship == "18":
            raise _claim_error(
                claim, "subscriber.relationship: 18 (self) contradicts the patient loop"
            )
        if patient.relationship == "18":
            raise _claim_error(claim, "patient.relationship: must not be 18 (PAT01)")
        if patient.name.kind != "person":
            raise _claim_error(claim, "patient.name.kind: must be person (NM1*QC*1)")
    if claim.referring is not None and claim.referring.name.kind != "person":
        raise _claim_error(claim, "referring.name.kind: must be person (NM1*DN*1)")


#: CAS groups and reasons per CAS segment (2320 and 2430 hold one CAS per group code).
_CAS_GROUPS: Final = 5
_CAS_REASONS: Final = 6


def cob_balance_problems(claim: Claim) -> list[str]:
    """Where an adjudicated other payer (2320/2430) does not balance against the claim.

    Per 2430: the line's charge = the payer's paid amount + its adjustments; per
    2320: the claim's charge = paid (AMT*D) + claim adjustments + line adjustments.
    """
    problems: list[str] = []
    charges = {ln.line_number: ln.charge for ln in claim.lines}
    for other in claim.other_payers:
        if other.paid is None:
            continue
        line_adjusted = Decimal(0)
        for adj in other.lines:
            adjusted = sum((a.amount for a in adj.adjustments), Decimal(0))
            line_adjusted += adjusted
            charge = charges.get(adj.line_number)
            if charge is None:
                problems.append(f"2430 of {other.payer_id}: claim has no line {adj.line_number}")
            elif charge != adj.paid + adjusted:
                problems.append(
                    f"line {adj.line_number}: charge {charge} != paid {adj.paid} + "
                    f"adjustments {adjusted} by {other.payer_id}"
                )
        claim_adjusted = sum((a.amount for a in other.claim_adjustments), Decimal(0))
        if claim.total_charge != other.paid + claim_adjusted + line_adjusted:
            problems.append(
                f"claim: charge {claim.total_charge} != paid {other.paid} + adjustments "
                f"{claim_adjusted + line_adjusted} by {other.payer_id}"
            )
    return problems


def _check_cas(claim: Claim, adjustments: Sequence[CasAdjustment], where: str) -> None:
    groups: dict[str, int] = {}
    for a in adjustments:
        groups[a.group] = groups.get(a.group, 0) + 1
    if len(groups) > _CAS_GROUPS or any(n > _CAS_REASONS for n in groups.values()):
        raise _claim_error(claim, f"{where}: at most 6 reasons per CAS group code")


def _check_other_payers(claim: Claim) -> None:
    for n, other in enumerate(claim.other_payers):
        where = f"other_payers[{n}]"
        _check_cas(claim, other.claim_adjustments, f"{where}.claim_adjustments")
        if other.paid is None and (other.claim_adjustments or other.lines):
            raise _claim_error(claim, f"{where}.paid: adjustments need the paid amount (AMT*D)")
        for adj in other.lines:
            _check_cas(claim, adj.adjustments, f"{where}.lines[{adj.line_number}]")
        if len({a.line_number for a in other.lines}) != len(other.lines):
            raise _claim_error(claim, f"{where}.lines: one 2430 per line and payer")
    if claim.subscriber.payer_responsibility in {o.responsibility for o in claim.other_payers}:
        raise _claim_error(claim, "other_payers: a payer responsibility (SBR01) is used twice")
    problems = cob_balance_problems(claim)
    if problems:
        raise _claim_error(claim, "other payer does not balance: " + "; ".join(problems))


def _check_claims(claims: Sequence[Claim], partner: TradingPartner) -> None:
    if not claims:
        raise ClaimRenderError("an 837 needs at least one claim")
    seen_pcn: set[str] = set()
    for claim in claims:
        if claim.receiver_id != partner.receiver_id:
            raise _claim_error(claim, "receiver_id: differs from the trading partner's")
        if claim.patient_control_number in seen_pcn:
            raise _claim_error(claim, "patient_control_number: twice in one file")
        seen_pcn.add(claim.patient_control_number)
        _check_lines(claim)
        _check_frequency(claim)
        _check_related_causes(claim)
        _check_parties(claim)
        _check_other_payers(claim)


def _delimiters(partner: TradingPartner) -> Delimiters:
    try:
        return Delimiters(
            element=partner.element_separator,
            component=partner.component_separator,
            repetition=partner.repetition_separator,
            segment=partner.segment_terminator,
        )
    except X12Error as exc:
        raise ClaimRenderError(f"trading partner {partner.receiver_id}: {exc.reason}") from None


def _check_envelope_ids(partner: TradingPartner) -> None:
    ids = {
        "ISA05": partner.isa_sender_qualifier,
        "ISA06": partner.isa_sender_id,
        "ISA07": partner.isa_receiver_qualifier,
        "ISA08": partner.isa_receiver_id,
        "GS02": partner.gs_sender_code,
        "GS03": partner.gs_receiver_code,
    }
    for ref, value in ids.items():
        if not _is_x12(value) or value != value.strip():
            raise ClaimRenderError(
                f"trading partner {partner.receiver_id}: {ref} must be printable ASCII "
                "without leading or trailing spaces"
            )


# --- loops ----------------------------------------------------------------------------------


def _nm1(
    writer: _Writer,
    entity: str,
    name: PersonOrOrganisation,
    qualifier: str | None = None,
    identifier: str | None = None,
) -> None:
    """NM1 of a person (NM102 = 1, with first and middle names) or an organisation (2)."""
    elements: list[Element] = [entity, "1" if name.kind == "person" else "2"]
    elements.append(name.last_or_organisation_name)
    if name.kind == "person":
        elements += [name.first_name, name.middle_name]
    if qualifier is not None:
        elements += [None] * (7 - len(elements)) + [qualifier, identifier]
    writer.segment("NM1", *elements)


def _organisation(writer: _Writer, entity: str, name: str, qualifier: str, identifier: str) -> None:
    writer.segment("NM1", entity, "2", name, None, None, None, None, qualifier, identifier)


def _address(writer: _Writer, address: Address) -> None:
    writer.segment("N3", address.line1, address.line2)
    writer.segment("N4", address.city, address.state, address.postal_code)


def _header(
    writer: _Writer, partner: TradingPartner, numbers: ControlNumbers, when: datetime
) -> None:
    writer.at("header")
    reference = f"{numbers.interchange:09d}{numbers.transaction:04d}"
    writer.segment("BHT", "0019", "00", reference, _d8(when.date()), _hhmm(when), "CH")
    submitter = partner.submitter
    writer.at("1000A")
    _organisation(writer, "41", submitter.name, "46", submitter.id)
    contacts: list[Element] = []
    if submitter.contact_phone is not None:
        contacts += ["TE", submitter.contact_phone]
    if submitter.contact_email is not None:
        contacts += ["EM", submitter.contact_email]
    if not contacts:
        raise writer.error("PER03/PER04: the submitter needs a contact phone or e-mail")
    writer.segment("PER", "IC", submitter.contact_name, *contacts)
    writer.at("1000B")
    _organisation(writer, "40", partner.name, "46", partner.receiver_code)


def _billing_provider(
    writer: _Writer,
    provider: BillingProvider,
    hl: int,
    partner: TradingPartner,
    taxonomy_wanted: bool = False,
) -> None:
    writer.at("2000A")
    writer.segment("HL", str(hl), None, "20", "1")
    if partner.send_billing_taxonomy or taxonomy_wanted:
        writer.segment("PRV", "BI", "PXC", provider.taxonomy_code)
    writer.at("2010AA")
    _organisation(writer, "85", provider.name, "XX", provider.npi)
    _address(writer, provider.address)
    writer.segment("REF", "EI", provider.tax_id)
    if provider.contact_phone is not None:
        writer.segment("PER", "IC", None, "TE", provider.contact_phone)


def _subscriber(writer: _Writer, claim: Claim, hl: int, parent: int) -> None:
    subscriber: Subscriber = claim.subscriber
    is_patient = claim.patient is None
    writer.at("2000B")
    writer.segment("HL", str(hl), str(parent), "22", "0" if is_patient else "1")
    relationship = "18" if is_patient else None
    filing = subscriber.filing_indicator
    skipped = [None] * 5  # SBR04..SBR08
    writer.segment(
        "SBR",
        subscriber.payer_responsibility,
        relationship,
        subscriber.group_number,
        *skipped,
        filing,
    )
    writer.at("2010BA")
    _nm1(writer, "IL", subscriber.name, "MI", subscriber.member_id)
    if is_patient:  # checked: address, birth date and sex are present
        assert subscriber.address is not None
        assert subscriber.birth_date is not None
        _address(writer, subscriber.address)
        writer.segment("DMG", "D8", _d8(subscriber.birth_date), subscriber.sex)
    if subscriber.property_casualty_claim_number is not None:
        writer.segment("REF", "Y4", subscriber.property_casualty_claim_number)
    writer.at("2010BB")
    _organisation(writer, "PR", claim.payer.name, "PI", claim.payer.payer_id)


def _patient(writer: _Writer, patient: PatientLoop, hl: int, parent: int) -> None:
    writer.at("2000C")
    writer.segment("HL", str(hl), str(parent), "23", "0")
    writer.segment("PAT", patient.relationship)
    writer.at("2010CA")
    _nm1(writer, "QC", patient.name)
    _address(writer, patient.address)
    writer.segment("DMG", "D8", _d8(patient.birth_date), patient.sex)
    if patient.property_casualty_claim_number is not None:
        writer.segment("REF", "Y4", patient.property_casualty_claim_number)


def _related_causes(claim: Claim) -> Element:
    """CLM11: the codes in CLM11-1/2 (CLM11-3 is not used), the state in CLM11-4."""
    causes = claim.related_causes
    if causes is None:
        return None
    codes: Sequence[str | None] = [*causes.codes, None, None][:3]
    return [*codes, causes.state]


def _claim_information(writer: _Writer, claim: Claim, partner: TradingPartner) -> None:
    writer.at("2300")
    location = (claim.place_of_service, "B", claim.frequency)
    total = _money(claim.total_charge)
    pcn = claim.patient_control_number
    causes = _related_causes(claim)
    writer.segment("CLM", pcn, total, None, None, location, "Y", "A", "Y", "Y", None, causes)
    wanted = partner.send_initial_treatment_date or claim.payer_wants_initial_treatment_date
    if wanted and claim.initial_treatment_date is not None:
        writer.segment("DTP", "454", "D8", _d8(claim.initial_treatment_date))
    if claim.related_causes is not None and claim.related_causes.accident_date is not None:
        writer.segment("DTP", "439", "D8", _d8(claim.related_causes.accident_date))
    for attachment in claim.attachments:
        if attachment.control_number is None:
            writer.segment("PWK", attachment.report_type, attachment.transmission)
        else:
            writer.segment(
                "PWK", attachment.report_type, attachment.transmission, None, None, "AC",
                attachment.control_number,
            )  # fmt: skip
    if claim.referral_number is not None:
        writer.segment("REF", "9F", claim.referral_number)
    if claim.prior_authorization is not None:
        writer.segment("REF", "G1", claim.prior_authorization)
    if claim.frequency != "1":
        writer.segment("REF", "F8", claim.payer_claim_number)
    codes = claim.diagnosis_codes
    writer.segment("HI", ("ABK", codes[0]), *[("ABF", code) for code in codes[1:]])


def _providers(writer: _Writer, claim: Claim) -> None:
    referring: Provider | None = claim.referring
    if referring is not None:
        writer.at("2310A")
        _nm1(writer, "DN", referring.name, "XX", referring.npi)
    rendering = claim.rendering
    if rendering is not None and rendering.npi != claim.billing_provider.npi:
        writer.at("2310B")
        _nm1(writer, "82", rendering.name, "XX", rendering.npi)
        if rendering.taxonomy_code is not None:
            writer.segment("PRV", "PE", "PXC", rendering.taxonomy_code)
        if rendering.license_number is not None:
            writer.segment("REF", "0B", rendering.license_number)


def _cas_segments(writer: _Writer, adjustments: Sequence[CasAdjustment]) -> None:
    """One CAS per group code, its reasons in order (checked: at most six)."""
    groups: dict[str, list[CasAdjustment]] = {}
    for a in adjustments:
        groups.setdefault(a.group, []).append(a)
    for group, items in groups.items():
        elements: list[Element] = [group]
        for a in items:
            quantity = f"{a.quantity.normalize():f}" if a.quantity is not None else None
            elements += [a.reason, _money(a.amount), quantity]
        writer.segment("CAS", *elements)


def _other_payer(writer: _Writer, other: OtherPayer) -> None:
    writer.at("2320")
    skipped = [None] * 5  # SBR04..SBR08
    writer.segment(
        "SBR", other.responsibility, other.relationship, other.group_number, *skipped,
        other.filing_indicator,
    )  # fmt: skip
    _cas_segments(writer, other.claim_adjustments)
    if other.paid is not None:
        writer.segment("AMT", "D", _money(other.paid))
    writer.segment("OI", None, None, "Y", None, None, "Y")
    writer.at("2330A")
    _nm1(writer, "IL", other.subscriber_name, "MI", other.member_id)
    writer.at("2330B")
    _organisation(writer, "PR", other.payer_name, "PI", other.payer_id)
    if other.adjudicated_on is not None and not other.lines:
        writer.segment("DTP", "573", "D8", _d8(other.adjudicated_on))
    if other.prior_authorization is not None:
        writer.segment("REF", "G1", other.prior_authorization)
    if other.referral_number is not None:
        writer.segment("REF", "9F", other.referral_number)
    if other.payer_claim_number is not None:
        writer.segment("REF", "F8", other.payer_claim_number)


def _line_adjudication(writer: _Writer, payer_id: str, adj: LineAdjudication) -> None:
    writer.at("2430")
    procedure = ("HC", adj.procedure, *adj.modifiers)
    units = f"{adj.units.normalize():f}"
    writer.segment("SVD", payer_id, _money(adj.paid), procedure, None, units)
    _cas_segments(writer, adj.adjustments)
    writer.segment("DTP", "573", "D8", _d8(adj.adjudicated_on))


def _service_line(writer: _Writer, number: int, line: ServiceLine) -> None:
    writer.segment("LX", str(number))
    procedure = ("HC", line.procedure, *line.modifiers)
    pointers = [str(pointer) for pointer in line.diagnosis_pointers]
    charge = _money(line.charge)
    writer.segment("SV1", procedure, charge, "UN", str(line.units), None, None, pointers)
    writer.segment("DTP", "472", "D8", _d8(line.service_date))
    writer.segment("REF", "6R", line.line_control_number)


def _claim(writer: _Writer, claim: Claim, partner: TradingPartner, parent: int, hl: int) -> int:
    """Loops 2000B..2400 of one claim; returns the last HL id used."""
    writer.at("2000B", claim.patient_control_number)
    subscriber_hl = hl + 1
    _subscriber(writer, claim, subscriber_hl, parent)
    last_hl = subscriber_hl
    if claim.patient is not None:
        last_hl += 1
        _patient(writer, claim.patient, last_hl, subscriber_hl)
    _claim_information(writer, claim, partner)
    _providers(writer, claim)
    for other in claim.other_payers:
        _other_payer(writer, other)
    for number, line in enumerate(claim.lines, start=1):
        writer.at(f"2400 (line {number})")
        _service_line(writer, number, line)
        for other in claim.other_payers:
            for adj in other.lines:
                if adj.line_number == line.line_number:
                    _line_adjudication(writer, other.payer_id, adj)
    return last_hl


def _by_billing_provider(claims: Iterable[Claim]) -> list[list[Claim]]:
    """Claims grouped by billing provider, providers in order of first appearance."""
    groups: dict[BillingProvider, list[Claim]] = {}
    for claim in claims:
        groups.setdefault(claim.billing_provider, []).append(claim)
    return list(groups.values())


# --- the file ----------------------------------------------------------------------------


def _open_envelope(
    writer: _Writer, partner: TradingPartner, numbers: ControlNumbers, when: datetime
) -> None:
    """ISA, GS and ST (ST02 the transaction number, at least 4 digits)."""
    envelope = writer.envelope
    try:
        envelope.open_interchange(
            sender_id=partner.isa_sender_id,
            receiver_id=partner.isa_receiver_id,
            control_number=numbers.interchange,
            created_at=when,
            sender_qualifier=partner.isa_sender_qualifier,
            receiver_qualifier=partner.isa_receiver_qualifier,
            usage=partner.usage,
        )
    except X12RenderError as exc:
        raise ClaimRenderError(f"trading partner {partner.receiver_id}: {exc.reason}") from None
    try:
        envelope.open_group(
            "HC",
            sender_code=partner.gs_sender_code,
            receiver_code=partner.gs_receiver_code,
            control_number=numbers.group,
            guide=IMPLEMENTATION_GUIDE,
        )
        envelope.open_transaction("837", numbers.transaction, IMPLEMENTATION_GUIDE)
    except X12RenderError as exc:
        raise writer.error(exc.reason) from None


def _body(writer: _Writer, claims: Sequence[Claim], partner: TradingPartner) -> None:
    """The 2000A loops, each followed by the claims of its billing provider."""
    hl = 0
    for provider_claims in _by_billing_provider(claims):
        hl += 1
        provider_hl = hl
        writer.at("2000A", provider_claims[0].patient_control_number)
        _billing_provider(
            writer,
            provider_claims[0].billing_provider,
            provider_hl,
            partner,
            taxonomy_wanted=any(c.payer_wants_billing_taxonomy for c in provider_claims),
        )
        for claim in provider_claims:
            hl = _claim(writer, claim, partner, provider_hl, hl)


def render_837p(
    claims: Sequence[Claim],
    partner: TradingPartner,
    numbers: ControlNumbers,
    created_at: datetime,
) -> RenderedFile:
    """One 837P interchange holding ``claims``, for ``partner``, numbered by ``numbers``.

    ``created_at`` must be timezone-aware; its own local date and time go into
    ISA09/ISA10, GS04/GS05 and BHT04/BHT05.  ``segment_count`` of the result
    counts every segment of the file (ISA..IEA).  Raises
    :class:`ClaimRenderError` (and returns nothing) when any claim cannot be
    written correctly.
    """
    if created_at.tzinfo is None or created_at.utcoffset() is None:
        raise ClaimRenderError("created_at must be timezone-aware")
    delimiters = _delimiters(partner)
    _check_envelope_ids(partner)
    _check_claims(claims, partner)
    envelope = EnvelopeWriter(delimiters, line_break=partner.line_break_after_segment)
    writer = _Writer(envelope)
    _open_envelope(writer, partner, numbers, created_at)
    _header(writer, partner, numbers, created_at)
    _body(writer, claims, partner)
    envelope.close_transaction()
    envelope.close_group()
    envelope.close_interchange()
    return RenderedFile(
        text=envelope.text(),
        control_numbers=numbers,
        claim_count=len(claims),
        segment_count=envelope.segment_count,
        transliterations=writer.transliterations,
        created_at=created_at,
    )


# --- reading ----------------------------------------------------------------------------
#
# :func:`read_837p` is the other direction: what a payer needs from an 837P, as
# :class:`schemas.adjudication.ClaimReceived` objects, one per CLM, streamed.


class X837Error(X12Error):
    """An 837P that cannot be read: a segment out of place, a bad amount or date, not an 837P.

    Located at the segment (ordinal and byte offset); the message names the
    element, never its value.
    """


#: GS08/ST03 prefix of every professional claim version we read (X222A1, X222A2, ...).
_PROFESSIONAL: Final = "005010X222"
#: Claims (CLM) in one transaction set: the guide's recommended maximum.  A claim
#: holds at most :data:`MAX_LINES` service lines (the guide's repeat count for 2400).
MAX_CLAIMS_PER_TRANSACTION: Final = 5000
#: Adjustments (CAS triples) read from a line's first 2430 loop: five CAS of six each.
MAX_PRIOR_ADJUSTMENTS_PER_LINE: Final = 30
#: LX01 is N0 1/6.
_LX01_DIGITS: Final = 6


def read_837p(
    source: Source, *, encoding_errors: EncodingErrors = "replace"
) -> Iterator[ClaimReceived]:
    """The claims of an 837P (bytes, a binary file or chunks), in file order, streamed.

    Reads our own files and any well-formed 005010X222 (A1 or A2) 837P: several
    interchanges, groups and transaction sets, any delimiters.  Envelopes are
    checked as in :mod:`edi.envelope`.  Raises :class:`~edi.segments.X12SyntaxError`
    or :class:`~edi.segments.X12EnvelopeError` for lexical and envelope problems
    and :class:`X837Error` for an 837P that cannot be read (another transaction
    set or implementation guide, a claim outside a subscriber loop, a line
    without ``SV1`` or service date, an amount or date that is not one, a
    required name or id missing); all carry the segment's ordinal and offset.
    """
    segments = read_segments(source, encoding_errors=encoding_errors)
    return _Reader().run(segments)


def _amount(segment: Segment, n: int, name: str, *, positive: bool = False) -> Decimal:
    """Element ``n`` as a decimal that is not negative (or, with ``positive``, above zero)."""
    value = read_amount(segment, n, name, X837Error)
    if value < 0 or (positive and value == 0):
        raise X837Error.at(segment, f"{name} must be {'positive' if positive else 'zero or more'}")
    return value


def _d8_date(text: str) -> date | None:
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _optional(segment: Segment, n: int) -> str | None:
    return segment.element(n).strip() or None


def _name(segment: Segment, what: str) -> PersonOrOrganisation:
    """NM102..NM105 as a person (NM102 = 1) or an organisation."""
    last = segment.element(3).strip()
    if not last:
        raise X837Error.at(segment, f"NM103 ({what} name) is missing")
    try:
        if segment.element(2) == "2":
            return PersonOrOrganisation(kind="organisation", last_or_organisation_name=last)
        return PersonOrOrganisation(
            kind="person",
            last_or_organisation_name=last,
            first_name=_optional(segment, 4),
            middle_name=_optional(segment, 5),
        )
    except ValidationError as exc:  # e.g. longer than the 60 characters a name may have
        problems = "; ".join(describe_errors(exc, limit=3))
        raise X837Error.at(segment, f"NM1 ({what} name) cannot be read: {problems}") from None


def _display_name(name: PersonOrOrganisation) -> str:
    """An organisation's name, or a person's as ``Last First``."""
    parts = [name.last_or_organisation_name, name.first_name]
    return " ".join(part for part in parts if part)


class _Line:
    """A 2400 loop being read."""

    __slots__ = ("collecting", "control", "dates", "lx", "nested", "prior", "prior_paid", "sv1")

    def __init__(self, lx: Segment) -> None:
        self.lx = lx
        self.sv1: dict[str, object] | None = None
        self.dates: tuple[date, date | None] | None = None
        self.control: str | None = None
        self.nested = False  # inside a 2410/2420/2430 loop of this line
        self.prior_paid: Decimal | None = None  # the first 2430 (the payer before)
        self.prior: list[Adjustment] = []  # its CAS
        self.collecting = False  # inside that first 2430

    def build(self) -> LineReceived:
        if self.sv1 is None:
            raise X837Error.at(self.lx, "the service line has no SV1")
        if self.dates is None:
            raise X837Error.at(self.lx, "the service line has no DTP*472 service date")
        text = self.lx.element(1)
        if not ascii_digits(text):
            raise X837Error.at(self.lx, "LX01 must be a positive number")
        number = read_count(self.lx, 1, "LX01", _LX01_DIGITS, X837Error)
        if number < 1:
            raise X837Error.at(self.lx, "LX01 must be a positive number")
        start, end = self.dates
        return LineReceived(
            line_number=number,
            **self.sv1,  # type: ignore[arg-type]  # pydantic validates the dict's values at run time
            service_date=start,
            service_date_end=end,
            line_control_number=self.control,
            prior_paid=self.prior_paid,
            prior_adjustments=tuple(self.prior),
        )


class _Claim:
    """A 2300 loop being read."""

    __slots__ = ("clm", "fields", "line", "lines", "section")


    def __init__(self, clm: Segment, fields: dict[str, object]) -> None:
        self.clm = clm
        self.fields = fields
        self.lines: list[LineReceived] = []
        self.line: _Line | None = None
        self.section = "2300"  # or 2310 (providers) / 2320 (other payers) before the lines

    def end_line(self) -> None:
        if self.line is not None:
            self.lines.append(self.line.build())
            self.line = None

    def start_line(self, lx: Segment) -> None:
        self.end_line()
        if len(self.lines) >= MAX_LINES:
            raise X837Error.at(lx, f"a claim with more than {MAX_LINES} service lines")
        self.line = _Line(lx)


class _Reader:
    """The 837P state machine over one stream of segments."""

    def __init__(self) -> None:
        self.checker = EnvelopeChecker()
        self.isa: Segment | None = None
        self.gs: Segment | None = None
        self.envelope: Interchange837 | None = None
        self.level = ""  # HL03 of the current hierarchical level
        self.in_billing_provider = False  # in 2010AA (not 2010AB/AC)
        self.provider: dict[str, object] = {}
        self.subscriber: dict[str, object] = {}
        self.payer: PayerReceived | None = None
        self.patient: dict[str, object] | None = None
        self.claim: _Claim | None = None
        self.claims = 0  # claims of the current transaction set
        self.handlers = {
            "HL": self._hl,
            "NM1": self._nm1,
            "SBR": self._sbr,
            "PAT": self._pat,
            "REF": self._ref,
            "CLM": self._clm,
            "LX": self._lx,
            "SV1": self._sv1,
            "DTP": self._dtp,
            "SVD": self._svd,
            "CAS": self._cas,
            "LIN": self._nested,
        }

    def run(self, segments: Iterable[Segment]) -> Iterator[ClaimReceived]:
        checker = self.checker
        handlers = self.handlers
        for segment in segments:
            sid = segment.id
            if sid in CONTROL_SEGMENTS:
                if sid in ("SE", "ST"):
                    yield from self._finish_claim()
                checker.control(segment)
                getattr(self, f"_{sid.lower()}")(segment)
                continue
            checker.body(segment)
            if sid in ("HL", "CLM"):
                yield from self._finish_claim()
            handler = handlers.get(sid)
            if handler is not None:
                handler(segment)
        checker.finish()

    # --- envelope

    def _isa(self, segment: Segment) -> None:
        self.isa = segment

    def _iea(self, segment: Segment) -> None:
        self.isa = None

    def _gs(self, segment: Segment) -> None:
        if segment.element(1) != "HC":
            raise X837Error.at(segment, "GS01: this functional group is not claims (HC)")
        if not segment.element(8).startswith(_PROFESSIONAL):
            raise X837Error.at(segment, "GS08: not a 005010X222 professional claim group")
        self.gs = segment

    def _ge(self, segment: Segment) -> None:
        self.gs = None

    def _st(self, segment: Segment) -> None:
        if segment.element(1) != "837":
            raise X837Error.at(segment, "ST01: this transaction set is not an 837")
        guide = segment.element(3)
        if guide and not guide.startswith(_PROFESSIONAL):
            raise X837Error.at(segment, "ST03: not a 005010X222 professional claim")
        isa, gs = self.isa, self.gs
        assert isa is not None and gs is not None  # the envelope checker saw them
        self.envelope = Interchange837(
            isa_sender_qualifier=isa.element(5).strip(),
            isa_sender_id=isa.element(6).strip(),
            isa_receiver_qualifier=isa.element(7).strip(),
            isa_receiver_id=isa.element(8).strip(),
            interchange_control_number=isa.element(13).strip(),
            usage=isa.element(15).strip(),
            gs_sender_code=gs.element(2),
            gs_receiver_code=gs.element(3),
            group_control_number=gs.element(6),
            created=_d8_date(gs.element(4)),
            implementation_guide=gs.element(8),
            transaction_control_number=segment.element(2),
        )
        self.level = ""
        self.claims = 0
        self.provider, self.subscriber, self.payer, self.patient = {}, {}, None, None

    def _se(self, segment: Segment) -> None:
        self.envelope = None

    # --- hierarchy (2000A/B/C)

    def _hl(self, segment: Segment) -> None:
        level = segment.element(3)
        self.level = level
        self.in_billing_provider = False
        if level == "20":
            self.provider, self.subscriber, self.payer, self.patient = {}, {}, None, None
        elif level == "22":
            self.subscriber, self.payer, self.patient = {}, None, None
        elif level == "23":
            self.patient = {}

    def _nm1(self, segment: Segment) -> None:
        claim = self.claim
        if claim is not None:
            if claim.line is not None:
                claim.line.nested = True
            elif claim.section == "2300":
                claim.section = "2310"
            return
        entity, level = segment.element(1), self.level
        self.in_billing_provider = entity == "85" and level == "20"
        if self.in_billing_provider:
            self.provider = {
                "name": _display_name(_name(segment, "billing provider")),
                "npi": _optional(segment, 9) if segment.element(8) == "XX" else None,
                "tax_id": self.provider.get("tax_id"),
            }
        elif entity == "IL" and level == "22":
            self.subscriber["name"] = _name(segment, "subscriber")
            if segment.element(8) in ("MI", "II"):
                self.subscriber["member_id"] = _optional(segment, 9)
        elif entity == "PR" and level == "22":
            payer_id = _optional(segment, 9)
            if payer_id is None:
                raise X837Error.at(segment, "NM109 (payer id) is missing")
            name = _display_name(_name(segment, "payer"))
            self.payer = PayerReceived(name=name, id=payer_id)
        elif entity == "QC" and level == "23" and self.patient is not None:
            self.patient["name"] = _name(segment, "patient")

    def _sbr(self, segment: Segment) -> None:
        if self.claim is not None:
            self.claim.section = "2320"  # other subscriber information
            return
        if self.level != "22":
            raise X837Error.at(segment, "SBR outside a subscriber (HL 22) loop")
        self.subscriber.update(
            payer_responsibility=segment.element(1),
            relationship=_optional(segment, 2),
            group_number=_optional(segment, 3),
            filing_indicator=_optional(segment, 9),
        )

    def _pat(self, segment: Segment) -> None:
        if self.patient is not None and self.claim is None:
            self.patient["relationship"] = _optional(segment, 1)

    def _ref(self, segment: Segment) -> None:
        qualifier = segment.element(1)
        claim = self.claim
        if claim is None:
            first_or_preferred = qualifier == "EI" or self.provider.get("tax_id") is None
            if self.in_billing_provider and qualifier in ("EI", "SY") and first_or_preferred:
                self.provider["tax_id"] = _optional(segment, 2)
            return
        line = claim.line
        if line is not None:
            if qualifier == "6R" and not line.nested:
                line.control = _optional(segment, 2)
        elif claim.section == "2300":
            if qualifier == "F8":
                claim.fields["payer_claim_number"] = _optional(segment, 2)
            elif qualifier == "G1":
                claim.fields["prior_authorization"] = _optional(segment, 2)

    # --- claims (2300) and lines (2400)

    def _clm(self, segment: Segment) -> None:
        if self.level not in ("22", "23"):
            raise X837Error.at(segment, "CLM outside a subscriber or patient loop")
        pcn = segment.element(1)
        if not pcn:
            raise X837Error.at(segment, "CLM01 (patient control number) is missing")
        self.claims += 1
        if self.claims > MAX_CLAIMS_PER_TRANSACTION:
            raise X837Error.at(
                segment,
                f"a transaction set with more than {MAX_CLAIMS_PER_TRANSACTION:,} claims",
            )
        location = segment.components(5)
        if len(location) < 3 or not location[0] or not location[2]:
            raise X837Error.at(segment, "CLM05 needs the place of service and the frequency")
        self.claim = _Claim(
            segment,
            {
                "patient_control_number": pcn,
                "total_charge": _amount(segment, 2, "CLM02"),
                "place_of_service": location[0],
                "frequency": location[2],
            },
        )

    def _lx(self, segment: Segment) -> None:
        claim = self.claim
        if claim is None:
            raise X837Error.at(segment, "LX outside a claim")
        claim.start_line(segment)

    def _sv1(self, segment: Segment) -> None:
        claim = self.claim
        line = claim.line if claim is not None else None
        if line is None:
            raise X837Error.at(segment, "SV1 outside a service line")
        procedure = segment.components(1)
        if len(procedure) < 2 or not procedure[0] or not procedure[1]:
            raise X837Error.at(segment, "SV101 needs a qualifier and a procedure code")
        line.sv1 = {
            "qualifier": procedure[0],
            "procedure": procedure[1],
            "modifiers": tuple(m for m in procedure[2:6] if m),
            "charge": _amount(segment, 2, "SV102"),
            "unit_basis": _optional(segment, 3),
            "units": _amount(segment, 4, "SV104", positive=True),
        }

    def _dtp(self, segment: Segment) -> None:
        claim = self.claim
        line = claim.line if claim is not None else None
        if line is None or line.nested or segment.element(1) != "472":
            return
        fmt, raw = segment.element(2), segment.element(3)
        first, _, second = raw.partition("-")
        start = _d8_date(first)
        end = _d8_date(second) if fmt == "RD8" else None
        if start is None or (fmt == "RD8" and end is None) or fmt not in ("D8", "RD8"):
            raise X837Error.at(segment, "DTP03 (service date) is not a D8 date or RD8 range")
        line.dates = (start, end if end != start else None)

    def _nested(self, segment: Segment) -> None:
        claim = self.claim
        if claim is not None and claim.line is not None:
            claim.line.nested = True
            claim.line.collecting = False

    def _svd(self, segment: Segment) -> None:
        """2430: a payer before this one adjudicated the line (the first one is read)."""
        self._nested(segment)
        line = self.claim.line if self.claim is not None else None
        if line is None or line.prior_paid is not None:
            return
        line.prior_paid = _amount(segment, 2, "SVD02")
        line.collecting = True

    def _cas(self, segment: Segment) -> None:
        """A CAS of the first 2430 (claim-level CAS in 2320 are not read)."""
        line = self.claim.line if self.claim is not None else None
        if line is None or not line.collecting:
            return
        group = segment.element(1)
        for n in range(2, 19, 3):
            reason = segment.element(n)
            if not reason:
                break
            if len(line.prior) >= MAX_PRIOR_ADJUSTMENTS_PER_LINE:
                raise X837Error.at(
                    segment,
                    "a prior payer's adjudication (2430) with more than "
                    f"{MAX_PRIOR_ADJUSTMENTS_PER_LINE} adjustments",
                )
            amount = read_amount(segment, n + 1, f"CAS{n + 1:02d}", X837Error)
            line.prior.append(Adjustment(group=group, reason=reason, amount=amount))

    def _finish_claim(self) -> Iterator[ClaimReceived]:
        claim = self.claim
        if claim is None:
            return
        self.claim = None
        claim.end_line()
        yield self._build(claim)

    def _build(self, claim: _Claim) -> ClaimReceived:
        clm = claim.clm
        if not claim.lines:
            raise X837Error.at(clm, "the claim has no service lines")
        if not self.provider:
            raise X837Error.at(clm, "the claim has no billing provider (2010AA NM1*85)")
        if self.payer is None:
            raise X837Error.at(clm, "the claim has no payer (2010BB NM1*PR)")
        if "name" not in self.subscriber or "payer_responsibility" not in self.subscriber:
            raise X837Error.at(clm, "the claim has no subscriber (SBR and 2010BA NM1*IL)")
        patient = None
        if self.level == "23":
            if self.patient is None or "name" not in self.patient:
                raise X837Error.at(clm, "the patient loop has no NM1*QC")
            patient = PatientReceived(**self.patient)  # type: ignore[arg-type]  # pydantic validates the dict's values at run time
        assert self.envelope is not None
        try:
            return ClaimReceived(
                envelope=self.envelope,
                billing_provider=BillingProviderReceived(**self.provider),  # type: ignore[arg-type]  # pydantic validates the dict's values at run time
                payer=self.payer,
                subscriber=SubscriberReceived(**self.subscriber),  # type: ignore[arg-type]  # pydantic validates the dict's values at run time
                patient=patient,
                lines=tuple(claim.lines),
                **claim.fields,  # type: ignore[arg-type]  # pydantic validates the dict's values at run time
            )
        except ValidationError as exc:
            problems = "; ".join(describe_errors(exc, limit=3))
            raise X837Error.at(clm, f"the claim cannot be read: {problems}") from None
