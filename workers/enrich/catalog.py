"""Clinic, therapist and payer lookups over the mirrored reference topics.

A record that does not satisfy its contract, or that names a provider with an
invalid NPI, is treated as unknown (it was also refused on ``ref.rejected`` or
dead-lettered by the processor that consumes the topic).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError

from schemas.base import Versioned
from schemas.reference import Clinic, Payer, Therapist
from workers.enrich.rules import provider_problem

M = TypeVar("M", bound=Versioned)

CATALOG_TOPICS: dict[str, type[Versioned]] = {
    "ref.clinics": Clinic,
    "ref.therapists": Therapist,
    "ref.payers": Payer,
}


def parse_reference(topic: str, raw: bytes | dict[str, Any]) -> Versioned | None:
    model = CATALOG_TOPICS[topic]
    try:
        if isinstance(raw, bytes):
            record = model.parse_json(raw)
        else:
            record = model.model_validate(raw, strict=False)
    except ValidationError:
        return None
    if isinstance(record, Clinic | Therapist) and provider_problem(record) is not None:
        return None
    return record


class ReferenceCatalog:
    """The latest record per key of each catalogue topic, parsed on first use."""

    def __init__(self) -> None:
        self._raw: dict[tuple[str, str], bytes] = {}
        self._parsed: dict[tuple[str, str], Versioned | None] = {}

    def apply(self, topic: str, key: bytes, value: bytes | None) -> None:
        k = (topic, key.decode("utf-8", errors="replace"))
        self._parsed.pop(k, None)
        if value is None:
            self._raw.pop(k, None)
        else:
            self._raw[k] = value

    def _get(self, topic: str, key: str) -> Versioned | None:
        k = (topic, key)
        if k not in self._parsed:
            raw = self._raw.get(k)
            self._parsed[k] = None if raw is None else parse_reference(topic, raw)
        return self._parsed[k]

    def clinic(self, clinic_id: str) -> Clinic | None:
        rec = self._get("ref.clinics", clinic_id)
        return rec if isinstance(rec, Clinic) else None

    def therapist(self, therapist_key: str) -> Therapist | None:
        rec = self._get("ref.therapists", therapist_key)
        return rec if isinstance(rec, Therapist) else None

    def payer(self, payer_id: str) -> Payer | None:
        rec = self._get("ref.payers", payer_id)
        return rec if isinstance(rec, Payer) else None

    def __len__(self) -> int:
        return len(self._raw)


class OverlayCatalog:
    """A catalogue view in which one record is newer than the mirror may be yet."""

    def __init__(self, base: ReferenceCatalog, topic: str, key: str, record: Versioned | None):
        self._base = base
        self._topic = topic
        self._key = key
        self._record = record

    def _pick(self, topic: str, key: str, found: Any) -> Any:
        if topic == self._topic and key == self._key and self._record is not None:
            return self._record
        return found

    def clinic(self, clinic_id: str) -> Clinic | None:
        rec = self._pick("ref.clinics", clinic_id, self._base.clinic(clinic_id))
        return rec if isinstance(rec, Clinic) else None

    def therapist(self, therapist_key: str) -> Therapist | None:
        rec = self._pick("ref.therapists", therapist_key, self._base.therapist(therapist_key))
        return rec if isinstance(rec, Therapist) else None

    def payer(self, payer_id: str) -> Payer | None:
        rec = self._pick("ref.payers", payer_id, self._base.payer(payer_id))
        return rec if isinstance(rec, Payer) else None
