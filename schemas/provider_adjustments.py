"""Provider-level adjustments (835 ``PLB``) on their way to the claims they name.

A PLB item is not claim money by itself: interest (``L6``) is payer income, a
forward balance (``FB``) is withheld in one remittance and returned in another,
and only a recoupment (``WO``, ``72``, ``WU``) takes back money paid on a claim.
What each reason code means is data (``data/plb_reasons.json``).

Each item gets an id (``<remittance id>/<position>``) and travels on the internal
topic ``remits.plb`` to the claim its reference names -- our claim number
(CLP01), else the payer's claim number (CLP07 of any payment posted) -- and
is linked there.  An item that names no claim we know is raised on the
``remits.provider-adjustments`` work queue, with amount, reason and file, until
an operator links it to a claim or dismisses it.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import AwareDatetime, Discriminator, Field, StringConstraints, TypeAdapter

from schemas.base import Contract, Versioned
from schemas.remittance import ProviderAdjustment

PlbKind = Literal["interest", "recoupment", "forward-balance", "other"]
LinkedBy = Literal["claim-number", "payer-claim-number", "operator"]


_KINDS: dict[str, PlbKind] = {
    "interest": "interest",
    "recoupment": "recoupment",
    "forward-balance": "forward-balance",
}


@lru_cache(maxsize=1)
def _codes() -> dict[str, dict[str, str]]:
    raw = resources.files("schemas").joinpath("data/plb_reasons.json").read_text("utf-8")
    codes: dict[str, dict[str, str]] = json.loads(raw)["codes"]
    return codes


def plb_kind(reason: str) -> PlbKind:
    """What a PLB reason code means for the money (an unknown code: ``other``)."""
    return _KINDS.get(_codes().get(reason, {}).get("kind", "other"), "other")


def plb_text(reason: str) -> str:
    return _codes().get(reason, {}).get("text", reason)


class ProviderAdjustmentItem(Contract):
    """One PLB adjustment with where it came from."""

    plb_id: str = Field(description="<remittance id>/<position of the item in the PLBs>.")
    remittance_id: str
    payer_id: str | None
    payer_name: str | None = None
    payment_date: dt.date | None = Field(default=None, description="BPR16, the payment's date.")
    file_name: str
    adjustment: ProviderAdjustment

    @property
    def kind(self) -> PlbKind:
        return plb_kind(self.adjustment.reason)


class PlbRoute(Versioned):
    """An item on its way (``remits.plb``, key: the claim number it is sent to look up).

    ``target`` set: the key is the claim to link it to (found through the payer's
    claim number); unset: the key is the item's reference, tried as our claim
    number, then as a payer's claim number."""

    event_type: Literal["remit.plb-route"] = "remit.plb-route"
    item: ProviderAdjustmentItem
    target: str | None = None
    linked_by: LinkedBy = "claim-number"


class PayerClaimNumberSeen(Versioned):
    """The index of payers' claim numbers (``remits.plb``, key: the payer's number)."""

    event_type: Literal["remit.payer-claim-number"] = "remit.payer-claim-number"
    payer_claim_number: str
    payer_id: str | None
    patient_control_number: str


PLB_MESSAGE: TypeAdapter[PlbRoute | PayerClaimNumberSeen] = TypeAdapter(
    Annotated[PlbRoute | PayerClaimNumberSeen, Discriminator("event_type")]
)


def parse_plb_message(raw: bytes | str) -> PlbRoute | PayerClaimNumberSeen:
    return PLB_MESSAGE.validate_json(raw)


class ProviderAdjustmentUnlinked(Versioned):
    """A PLB item that names no claim we know (work queue ``remits.provider-adjustments``,
    key: the item's id; a tombstone once it was linked or dismissed)."""

    event_type: Literal["remit.plb-unlinked"] = "remit.plb-unlinked"
    item: ProviderAdjustmentItem
    kind: PlbKind
    reason_text: str
    message: str
    raised_at: AwareDatetime


class LinkProviderAdjustmentCommand(Versioned):
    """Link a PLB item from the work queue to a claim (``remits.commands``, key: the claim)."""

    event_type: Literal["remit.command"] = "remit.command"
    action: Literal["link-plb"]
    patient_control_number: str
    item: ProviderAdjustmentItem
    reason: Annotated[str, StringConstraints(min_length=3, max_length=200)]
    requested_by: str | None = None
    requested_at: AwareDatetime
