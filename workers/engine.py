"""The engine's composition root: its stream processors and the app a worker runs.

Every processor the engine has is listed here with the ``register`` function of
its stage, imported directly; :func:`build_app` builds the faust app for one
worker mode (a processor name, or ``all``) from typed settings, registers the
chosen processors on a :class:`~workers.runtime.app.Wiring`, and adds what
every worker runs beside them (the runtime's services and the operations
dashboard).  :func:`run_worker` is ``claims worker NAME|all``.

Each mode is one faust app and therefore one consumer group: ``claims-enrich``,
``claims-units``, ... or ``claims-all``.  State is *not* per group: every
table's changelog is a catalogue topic with a fixed name, so any mode recovers
the same state.  Consumer positions *are* per group, so when a group starts
with no committed position on a source topic, the positions of the other mode
are handed over before it joins (:func:`workers.runtime.worker.hand_over_positions`).
Never run both modes at once against the same topics: each would process every
message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from workers.claims import processor as claims
from workers.deposits import processor as deposits
from workers.eligibility import processor as eligibility
from workers.enrich import processor as enrich
from workers.ops import dashboard
from workers.remits import processor as reconcile
from workers.runtime.admin import ensure_leader_topic, ensure_topics, leader_topic
from workers.runtime.app import Wiring, add_runtime_services, new_wiring
from workers.runtime.connection import BrokerUnavailable, check_connection
from workers.runtime.logging import configure_logging
from workers.runtime.settings import Settings
from workers.runtime.worker import execute, hand_over_positions
from workers.units import processor as units

if TYPE_CHECKING:
    import faust

log = structlog.stdlib.get_logger("claims.worker")


@dataclass(frozen=True)
class ProcessorDef:
    name: str
    description: str
    register: Callable[[Wiring], None]
    sources: tuple[str, ...]  # logical topics it consumes (for position hand-over)


#: Every stream processor the engine runs, in pipeline order.
PROCESSORS: dict[str, ProcessorDef] = {}


def processor(defn: ProcessorDef) -> ProcessorDef:
    PROCESSORS[defn.name] = defn
    return defn


def register_enrich(w: Wiring) -> None:
    """Sessions checked against prescriptions and coverage, and the 270s asked about
    those coverages (one worker: both read ``ref.patients`` and ``sessions.completed``)."""
    enrich.register(w)
    eligibility.register(w)


processor(
    ProcessorDef(
        "enrich",
        "validates sessions.completed and checks prescriptions and coverage; "
        "asks payers about new coverages with 270s",
        register_enrich,
        (
            "sessions.completed",
            "ref.clinics",
            "ref.therapists",
            "ref.payers",
            "ref.patients",
            "ref.prescriptions",
            "ref.authorizations",
            "state.enrich.prescriptions-by-patient",
            "state.enrich.wakeups",
        ),
    )
)


processor(
    ProcessorDef(
        "units",
        "turns enriched sessions into billable lines with charges (sessions.enriched)",
        units.register,
        ("sessions.enriched",),
    )
)


processor(
    ProcessorDef(
        "claims",
        "assembles, batches, validates and writes 837P files (charges.billable)",
        claims.register,
        ("charges.billable", "charges.self-pay", "claims.commands", "state.claims.ticks"),
    )
)


def register_reconcile(w: Wiring) -> None:
    """The money that comes back: 835 payments posted to claims, and bank deposits
    matched to the 835s they pay (one worker; both read ``remits.835.inbound``)."""
    reconcile.register(w)
    deposits.register(w)


processor(
    ProcessorDef(
        "reconcile",
        "posts 835 claim payments to submitted claims (remits.835.inbound, claims.submitted) "
        "and matches bank deposits to 835s (deposits.inbound)",
        register_reconcile,
        (
            "claims.submitted",
            "remits.835.inbound",
            "remits.plb",
            "remits.commands",
            "deposits.inbound",
            "deposits.match",
        ),
    )
)


def resolve(names: Sequence[str]) -> list[ProcessorDef]:
    if list(names) == ["all"]:
        return list(PROCESSORS.values())
    unknown = [n for n in names if n not in PROCESSORS]
    if unknown:
        raise KeyError(
            f"unknown processor {', '.join(unknown)}; known: {', '.join(PROCESSORS)} or all"
        )
    return [PROCESSORS[n] for n in names]


def build_app(settings: Settings, names: Sequence[str]) -> tuple[faust.App, Wiring]:
    """Build the faust app for a worker mode (one processor name, or ``all``)."""
    defs = resolve(names)
    mode = "all" if list(names) == ["all"] else "_".join(d.name for d in defs)
    wiring = new_wiring(settings, mode)
    for defn in defs:
        defn.register(wiring)
    add_runtime_services(wiring)
    dashboard.register(wiring.app, settings, wiring.metrics)
    return wiring.app, wiring


def other_mode_groups(settings: Settings, names: Sequence[str]) -> list[str]:
    if list(names) == ["all"]:
        return [settings.group_id(n) for n in PROCESSORS]
    return [settings.group_id("all")]


def run_worker(settings: Settings, names: Sequence[str], *, create_topics: bool = True) -> None:
    """Run processors until SIGTERM/SIGINT; never returns normally."""
    configure_logging(settings.log_level, settings.log_format)
    defs = resolve(names)
    try:
        check_connection(settings)
    except BrokerUnavailable as exc:
        # a supervisor restarts the worker; its log says why in one line
        log.error("cannot use the Kafka broker", cause=exc.cause, detail=exc.message)
        raise SystemExit(3) from None
    if create_topics:
        reports = ensure_topics(settings)
        bad = [r for r in reports if r.status == "mismatch"]
        for r in bad:
            log.error("topic does not match the catalogue", topic=r.physical, detail=r.detail)
        if bad:
            raise SystemExit(2)
    app, wiring = build_app(settings, names)
    if create_topics and ensure_leader_topic(settings, str(app.conf.id)):
        log.info("leader topic created", topic=leader_topic(str(app.conf.id)))
    sources = sorted({s for d in defs for s in d.sources})
    moved = hand_over_positions(
        settings, wiring.consumer_group, other_mode_groups(settings, names), sources
    )
    if moved:
        log.info("consumer positions handed over", group=wiring.consumer_group, topics=moved)
    log.info(
        "worker starting",
        mode=wiring.mode,
        group=wiring.consumer_group,
        processors=[d.name for d in defs],
        bootstrap=settings.kafka_bootstrap_servers,
        web_port=settings.web_port if settings.web_enabled else None,
        pid=os.getpid(),
    )
    execute(app, settings)
