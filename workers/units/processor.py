"""The units processor: ``sessions.enriched`` -> ``charges.billable`` (sessions billed
to a payer, keyed by receiver) or ``charges.self-pay`` (self-pay and HSA sessions,
keyed by clinic; see :func:`schemas.billing.charges_route`).  Faust edge only.

Stateless: each enriched session is priced on its own by
:func:`workers.pricing.session.price_session`.  A redelivered session is priced
again to the same lines; the claims stage de-duplicates by session identity.
"""

from __future__ import annotations

import structlog

from schemas.billing import ChargesWithdrawn, charges_route
from schemas.outcomes import SessionRejected, SessionWithdrawn, parse_enriched_topic
from workers.pricing.code_lists import default_code_lists
from workers.pricing.session import price_session
from workers.runtime.app import Wiring
from workers.runtime.codec import decode, encode, encode_handoff
from workers.runtime.processing import Scope
from workers.runtime.records import Incoming, Outgoing

log = structlog.stdlib.get_logger("claims.units")

PROCESSOR = "units"


def register(w: Wiring) -> None:
    lists = default_code_lists()
    self_pay_policy = w.settings.units_self_pay_policy

    async def on_enriched(msg: Incoming, scope: Scope) -> list[Outgoing]:
        event = decode(parse_enriched_topic, msg.value)
        scope.bind(clinic_id=event.session_key.split(":", 1)[0], session_key=event.session_key)
        now = w.now()
        if isinstance(event, SessionWithdrawn):
            topic, key = charges_route(event.receiver_id, event.clinic_id, event.billed_to_payer)
            body = ChargesWithdrawn.new(
                session_key=event.session_key, receiver_id=event.receiver_id, withdrawn=event
            )
            w.metrics.outcome(PROCESSOR, "withdrawn")
            return [
                Outgoing(
                    topic,
                    key.encode(),
                    encode(body),
                    (("claims.event_type", b"ChargesWithdrawn"),),
                )
            ]
        patient = event.patient
        scope.add_phi(
            patient.name.first_name,
            patient.name.last_name,
            patient.birth_date.isoformat(),
            patient.address.line1,
            event.coverage.member_id,
        )
        priced = price_session(event, lists, now, self_pay_policy)
        if priced.billable is not None:
            b = priced.billable
            w.metrics.outcome(PROCESSOR, "billable")
            log.debug(  # counted in claims_outcomes_total; one line per session at debug
                "session priced",
                lines=len(b.lines),
                units=b.total_units,
                charge=str(b.charge_total),
                policy=b.policy,
            )
            topic, key = charges_route(b.receiver_id, b.clinic_id, b.billed_to_payer)
            return [
                Outgoing(
                    topic,
                    key.encode(),
                    encode_handoff(b),  # without fields at their default, as enriched
                    (("claims.event_type", b"BillableSession"),),
                )
            ]
        assert priced.reason is not None
        w.metrics.outcome(PROCESSOR, priced.reason)
        log.warning("session not billable", reason=priced.reason)
        rejected = SessionRejected.new(
            session_key=event.session_key,
            session=event.session,
            reason=priced.reason,
            message=priced.message,
            rejected_at=now,
            details={
                "problems": [p.model_dump(mode="json") for p in priced.problems],
                "dropped": [d.model_dump(mode="json") for d in priced.dropped],
            },
        )
        return [
            Outgoing(
                "sessions.rejected",
                msg.key,
                encode(rejected),
                (("claims.event_type", b"SessionRejected"),),
            )
        ]

    w.consume("sessions.enriched", PROCESSOR, on_enriched)
