"""Fakes of the engine's own ports (no mocks)."""

from __future__ import annotations

from workers.runtime.records import Outgoing


class FakeSink:
    """Collects what a processor sends; ``fail_sends``/``fail_delivers`` make the
    next N calls raise like a producer whose broker is away."""

    def __init__(self, fail_sends: int = 0, fail_delivers: int = 0) -> None:
        self.sent: list[Outgoing] = []
        self.delivered: list[Outgoing] = []
        self.fail_sends = fail_sends
        self.fail_delivers = fail_delivers

    async def send(self, record: Outgoing) -> None:
        if self.fail_sends:
            self.fail_sends -= 1
            raise ConnectionError("broker unavailable")
        self.sent.append(record)

    async def deliver(self, record: Outgoing) -> None:
        if self.fail_delivers:
            self.fail_delivers -= 1
            raise ConnectionError("broker unavailable")
        self.delivered.append(record)

    def on(self, topic: str) -> list[Outgoing]:
        return [r for r in [*self.sent, *self.delivered] if r.topic == topic]


class FakeClock:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


class FakeCatalog:
    """Clinic/therapist/payer lookups from dicts (the enrichment Catalog port)."""

    def __init__(self, clinics=(), therapists=(), payers=()) -> None:  # type: ignore[no-untyped-def]
        self.clinics = {c.clinic_id: c for c in clinics}
        self.therapists = {t.key: t for t in therapists}
        self.payers = {p.payer_id: p for p in payers}

    def clinic(self, clinic_id: str):  # type: ignore[no-untyped-def]
        return self.clinics.get(clinic_id)

    def therapist(self, therapist_key: str):  # type: ignore[no-untyped-def]
        return self.therapists.get(therapist_key)

    def payer(self, payer_id: str):  # type: ignore[no-untyped-def]
        return self.payers.get(payer_id)
