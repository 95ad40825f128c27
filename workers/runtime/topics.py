"""The topic catalogue: every topic the engine reads or writes, declared once.

Names here are logical; the physical name is ``settings.topic(name)`` (the
configured prefix plus the logical name).  Every topic a processor consumes has
a dead-letter twin ``<name>.dlq`` with the same partition count, created with
it.  Patient-scoped topics share one partition count so that faust assigns
partition *n* of each of them to the same worker (co-partitioning): the
enrichment state of a patient lives beside the patient's sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from workers.runtime.settings import Settings

DAY_MS = 24 * 60 * 60 * 1000
DLQ_SUFFIX = ".dlq"
EVENTS_MS = 30 * DAY_MS  # raw events and outcomes
RECORDS_MS = 400 * DAY_MS  # what was billed and paid

Cleanup = Literal["delete", "compact", "compact,delete"]


@dataclass(frozen=True)
class TopicSpec:
    """One topic: what it carries, how it is keyed and how long it is kept."""

    name: str
    description: str
    key: str
    value: str
    cleanup: Cleanup = "delete"
    retention_ms: int | None = EVENTS_MS
    partitions: int | None = None  # None: settings.topic_partitions
    consumed: bool = False  # consumed by a processor, so it gets a dead-letter twin
    internal: bool = False  # engine state (changelogs, repartitions): not a public contract
    extra_config: dict[str, str] = field(default_factory=dict)

    @property
    def retention_class(self) -> str | None:
        """Which retention setting governs this topic (None: fixed, or compacted)."""
        if "delete" not in self.cleanup:
            return None
        if self.name.endswith(DLQ_SUFFIX):
            return "dead_letters"
        if self.name == "ops.audit":
            return "audit"
        if self.retention_ms == RECORDS_MS:
            return "records"
        if self.retention_ms == EVENTS_MS:
            return "events"
        return None

    def config(self) -> dict[str, str]:
        cfg: dict[str, str] = {"cleanup.policy": self.cleanup}
        if self.retention_ms is not None and "delete" in self.cleanup:
            cfg["retention.ms"] = str(self.retention_ms)
        if "compact" in self.cleanup:
            cfg.setdefault("min.cleanable.dirty.ratio", "0.1")
            cfg.setdefault("segment.ms", str(DAY_MS))
        cfg.update(self.extra_config)
        return cfg


def _dlq_of(spec: TopicSpec) -> TopicSpec:
    return TopicSpec(
        name=spec.name + DLQ_SUFFIX,
        description=f"Dead letters of {spec.name}: original key, value and headers "
        "plus claims.dlq.* headers (see workers/runtime/dead_letters.py).",
        key=spec.key,
        value="original bytes",
        cleanup="delete",
        retention_ms=90 * DAY_MS,
        partitions=spec.partitions,
    )


_SESSION_KEY = "<clinic_id>:<patient_id>"

BASE_TOPICS: tuple[TopicSpec, ...] = (
    # --- clinic events ------------------------------------------------------
    TopicSpec(
        "sessions.completed",
        "SessionCompleted and SessionCancelled events published by clinics.",
        _SESSION_KEY,
        "schemas.events:SessionCompleted | schemas.events:SessionCancelled",
        consumed=True,
    ),
    # --- reference data (log-compacted, latest value per key) -------------
    TopicSpec(
        "ref.clinics",
        "Clinics: billing provider identity and price lists.",
        "<clinic_id>",
        "schemas.reference:Clinic",
        cleanup="compact",
        retention_ms=None,
        consumed=True,
    ),
    TopicSpec(
        "ref.therapists",
        "Therapists (rendering providers).",
        "<clinic_id>:<therapist_id>",
        "schemas.reference:Therapist",
        cleanup="compact",
        retention_ms=None,
        consumed=True,
    ),
    TopicSpec(
        "ref.payers",
        "Payers: unit policy, code maps, fee schedules, rules.",
        "<payer_id>",
        "schemas.reference:Payer",
        cleanup="compact",
        retention_ms=None,
        consumed=True,
    ),
    TopicSpec(
        "ref.patients",
        "Patients: demographics and coverages.",
        _SESSION_KEY,
        "schemas.reference:Patient",
        cleanup="compact",
        retention_ms=None,
        consumed=True,
    ),
    TopicSpec(
        "ref.prescriptions",
        "Prescriptions (orders/referrals) for medical massage.",
        "<clinic_id>:<prescription_id>",
        "schemas.reference:Prescription",
        cleanup="compact",
        retention_ms=None,
        consumed=True,
    ),
    TopicSpec(
        "ref.authorizations",
        "Payers' prior authorizations of a patient's massage (visits or units in a date span).",
        "<clinic_id>:<authorization_id>",
        "schemas.reference:Authorization",
        cleanup="compact",
        retention_ms=None,
        consumed=True,
    ),
    TopicSpec(
        "ref.rejected",
        "Reference records refused by the engine, with reason codes.",
        "<same key as the source record>",
        "schemas.outcomes:ReferenceRejected",
    ),
    # --- enrichment outcomes ------------------------------------------------
    TopicSpec(
        "sessions.enriched",
        "Sessions that passed every check, with a snapshot of the data used.",
        _SESSION_KEY,
        "schemas.outcomes:SessionEnriched",
        consumed=True,
    ),
    TopicSpec(
        "sessions.held",
        "Sessions waiting for reference data or a covering prescription (work queue).",
        _SESSION_KEY,
        "schemas.outcomes:SessionHeld",
    ),
    TopicSpec(
        "sessions.rejected",
        "Sessions that cannot be billed as sent, with a reason code (work queue).",
        _SESSION_KEY,
        "schemas.outcomes:SessionRejected",
    ),
    TopicSpec(
        "sessions.duplicates",
        "Repeated deliveries of a session already processed (counted, not billed).",
        _SESSION_KEY,
        "schemas.outcomes:SessionDuplicate",
    ),
    TopicSpec(
        "sessions.cancelled",
        "Sessions withdrawn by their clinic, with their state when withdrawn.",
        _SESSION_KEY,
        "schemas.outcomes:SessionWithdrawn",
        consumed=True,
    ),
    TopicSpec(
        "prescriptions.attention",
        "Progress reports and renewals due to prescribing physicians, payers' "
        "authorizations about to run out (per counted visit), and visit limits a payer "
        "states in a 271.",
        "<clinic_id>:<prescription_id> | <clinic_id>:<authorization_id> | "
        "<clinic_id>:<patient_id>:<payer_id>",
        "schemas.outcomes:PrescriptionAttention | schemas.outcomes:AuthorizationAttention"
        " | schemas.outcomes:CoverageAttention",
        retention_ms=RECORDS_MS,
    ),
    # --- billing -------------------------------------------------------------
    TopicSpec(
        "charges.billable",
        "Billable lines of each session billed to a payer, with their derivation "
        "(BillableSession), and withdrawals of such sessions enriched earlier "
        "(ChargesWithdrawn). Before 2026-12 it also carried self-pay and HSA sessions, "
        "keyed self-pay:<clinic_id>.",
        "<receiver_id>",
        "schemas.billing:BillableSession | schemas.billing:ChargesWithdrawn",
        consumed=True,
    ),
    TopicSpec(
        "charges.self-pay",
        "Billable lines of each self-pay or HSA session (BillableSession, billed_to_payer "
        "false): the patient pays and gets a superbill; and withdrawals of such sessions "
        "(ChargesWithdrawn): the superbill is voided.",
        "<clinic_id>",
        "schemas.billing:BillableSession | schemas.billing:ChargesWithdrawn",
        consumed=True,
    ),
    TopicSpec(
        "ref.partners",
        "Trading partners (receivers of 837 files): envelope ids, delimiters, batch limits.",
        "<receiver_id>",
        "schemas.claims:TradingPartner",
        cleanup="compact",
        retention_ms=None,
    ),
    TopicSpec(
        "claims.commands",
        "Voids, corrections and payer claim numbers for submitted claims.",
        "<receiver_id>",
        "schemas.submission:ClaimCommand",
        consumed=True,
    ),
    TopicSpec(
        "claims.submitted",
        "Each claim version released in a validated 837P file.",
        "<patient control number>",
        "schemas.submission:ClaimSubmitted",
        retention_ms=RECORDS_MS,
        consumed=True,
    ),
    # --- acknowledgements -----------------------------------------------------
    TopicSpec(
        "acks.inbound",
        "999 transaction verdicts, 277CA/277 claim statuses and TA1 interchange verdicts, "
        "keyed by the receiver whose front door sent them (co-partitioned with "
        "charges.billable).",
        "<receiver_id>",
        "schemas.acknowledgements:TransactionAcknowledged | "
        "schemas.acknowledgements:ClaimStatusReceived | "
        "schemas.acknowledgements:InterchangeAcknowledged",
        consumed=True,
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "eligibility.responses",
        "What payers' 271s say about each coverage asked with a 270 (active or not on the "
        "date asked, plan dates, copay, deductible, visit limits, AAA rejections); compacted: "
        "the latest answer per coverage.",
        "<clinic_id>:<patient_id>:<payer_id>",
        "schemas.eligibility:EligibilityResponse",
        cleanup="compact",
        retention_ms=None,
        consumed=True,
    ),
    TopicSpec(
        "claims.acknowledged",
        "Each change of a claim's front-door status (sent, received, accepted, rejected).",
        "<patient control number>",
        "schemas.acknowledgements:ClaimFrontDoor",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "payments.patient",
        "What patients paid at the front desk (copays, payments), one per clinic and "
        "receipt; compacted, so a file loaded twice records each payment once.",
        "<clinic_id>:<reference>",
        "schemas.patient_ledger:PatientPayment",
        cleanup="compact",
        retention_ms=None,
    ),
    TopicSpec(
        "ledger.refunds",
        "Credit balances given back, to a patient or to a payer.",
        "<clinic_id>:<reference>",
        "schemas.patient_ledger:CreditRefund",
        cleanup="compact",
        retention_ms=None,
    ),
    TopicSpec(
        "claims.cob-review",
        "Claims a payer says it is not the primary for (CO-22, CO-109): fix the coverage "
        "order and bill the right payer as primary (work queue).",
        "<patient control number>",
        "schemas.reconciliation:ClaimCobReview",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "claims.write-offs",
        "Amounts written off on claims, with who and why (audited; a write-off never "
        "counts for more than is still open).",
        "<patient control number>",
        "schemas.reconciliation:ClaimWrittenOff",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "claims.changes-waiting",
        "Changes to sent claims still waiting for the payer's claim number after the "
        "replacement period (work queue; a tombstone once they were sent).",
        "<patient control number>",
        "schemas.submission:ClaimChangesWaiting",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "claims.attachments",
        "Documents sent claims announced in their PWK, to send to the payer (work queue; a "
        "tombstone once recorded as sent).",
        "<attachment control number>",
        "schemas.submission:AttachmentDue",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "claims.status-attention",
        "Claims a 277 status response says need a person: the payer asks for information, "
        "did not find the claim or rejected it (work queue; a tombstone once a later 277 "
        "or an 835 settles it).",
        "<patient control number>",
        "schemas.acknowledgements:ClaimStatusAttention",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "claims.rejections",
        "Claims the payer's front door rejected, with the reasons (work queue).",
        "<patient control number>",
        "schemas.acknowledgements:ClaimRejected",
        retention_ms=RECORDS_MS,
    ),
    # --- remittances ----------------------------------------------------------
    TopicSpec(
        "remits.835.inbound",
        "835 claim payments (key CLP01) and transaction summaries (key remittance id).",
        "<CLP01> | <remittance id>",
        "schemas.reconciliation:RemittanceClaim | schemas.reconciliation:RemittanceTransaction",
        consumed=True,
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "remits.plb",
        "Provider-level adjustments on their way to the claim they name, and the index of "
        "payers' claim numbers.",
        "<the claim number or reference to look up> | <payer's claim number>",
        "schemas.provider_adjustments:PlbRoute | schemas.provider_adjustments:PayerClaimNumberSeen",
        consumed=True,
        internal=True,
    ),
    TopicSpec(
        "remits.provider-adjustments",
        "Provider-level adjustments that name no claim we know, and forward balances waiting "
        "for their pair (work queue; a tombstone once linked, paired or dismissed).",
        "<PLB item id>",
        "schemas.provider_adjustments:ProviderAdjustmentUnlinked",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "remits.review",
        "835 files posted although their envelope had faults the reader forgave (wrong "
        "trailer counts or control numbers, an ISA not padded, a garbled segment id outside "
        "the claims): work queue, a tombstone once reviewed.",
        "<the file's sha256>",
        "schemas.reconciliation:RemittanceReview",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "remits.commands",
        "Operators' instructions to the reconciliation: assign an unmatched payment to its "
        "claim, write off what is open on a claim, link a provider-level adjustment to a claim.",
        "<the patient control number whose ledger it concerns>",
        "schemas.reconciliation:RemitCommand | schemas.reconciliation:WriteOffCommand | "
        "schemas.provider_adjustments:LinkProviderAdjustmentCommand",
        consumed=True,
    ),
    # --- deposits (ERA/EFT reassociation) ------------------------------------------
    TopicSpec(
        "deposits.inbound",
        "Credits to the provider's bank account, from BAI2 or CSV deposit files "
        "(`claims ingest deposits`).",
        "<deposit id>",
        "schemas.deposits:Deposit",
        consumed=True,
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "deposits.match",
        "Deposits and the 835 transactions that move money, on their way to the one "
        "partition where they are matched; and sweep ticks.",
        "<deposit id> | <remittance id> | tick",
        'schemas.deposits:Deposit | schemas.deposits:RemittanceToFund | {"tick": true}',
        partitions=1,
        consumed=True,
        internal=True,
    ),
    TopicSpec(
        "deposits.reconciled",
        "What became of each deposit: matched to its 835 transaction(s), with the rule, or "
        "not a payer's payment.",
        "<deposit id>",
        "schemas.deposits:DepositMatched | schemas.deposits:DepositNotFromPayer",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "deposits.unfunded",
        "835 transactions that say money was sent, with no deposit after "
        "CLAIMS_DEPOSITS_UNFUNDED_DAYS business days (work queue; a tombstone once matched).",
        "<remittance id>",
        "schemas.deposits:RemittanceUnfunded",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "deposits.unremitted",
        "Payers' deposits with no 835 after CLAIMS_DEPOSITS_UNREMITTED_DAYS business days "
        "(work queue; a tombstone once matched).",
        "<deposit id>",
        "schemas.deposits:DepositUnremitted",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "claims.adjudicated",
        "Each posting of a claim payment, with the claim's balance after it.",
        "<patient control number>",
        "schemas.reconciliation:ClaimAdjudicated",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "claims.denied",
        "Claims the payer paid nothing on, with reason and remark texts (work queue).",
        "<patient control number>",
        "schemas.reconciliation:ClaimDenied",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "remits.unmatched",
        "Claim payments with no submitted claim to post to (work queue).",
        "<CLP01>",
        "schemas.reconciliation:RemittanceUnmatched",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "documents.issued",
        "Superbills (self-pay and HSA sessions) and patient statements written to the outbox.",
        "<session key> | <clinic_id>:<patient_id>",
        "schemas.documents:SuperbillIssued | schemas.documents:SuperbillVoided | "
        "schemas.documents:PatientStatement",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "edi.outbound",
        "Each 837P file written to the outbox (name, control numbers, sha256).",
        "<receiver_id>",
        "schemas.submission:FileReleased",
        retention_ms=RECORDS_MS,
    ),
    TopicSpec(
        "edi.deliveries",
        "Where each 837 file's delivery to its partner's SFTP mailbox stands (pending, "
        "uploading, uploaded with the remote name and sent-at, failed).",
        "<receiver_id>|<interchange number>",
        "schemas.submission:FileDelivery",
        cleanup="compact",
        retention_ms=None,
    ),
    TopicSpec(
        "partners.delivery-failed",
        "837 files that could not be put into their partner's SFTP mailbox after the "
        "retries, or were refused (a changed host key): work queue, a tombstone once uploaded.",
        "<receiver_id>|<interchange number>",
        "schemas.submission:DeliveryFailed",
        retention_ms=RECORDS_MS,
    ),
    # --- operations ------------------------------------------------------------
    TopicSpec(
        "ops.dead-letters.status",
        "What became of each dead letter (replayed with a count, or resolved); key: its id.",
        "<dead-letter topic>:<partition>:<offset>",
        '{"status", "replays", "at", "by"}',
        cleanup="compact",
        retention_ms=None,
    ),
    TopicSpec(
        "ops.audit",
        "Operators' actions: replays, purges, retries, views of unmasked data.",
        "<operator>",
        "workers.ops.audit:AuditEvent",
        retention_ms=7 * 365 * DAY_MS,
    ),
    # --- engine state (explicitly named so every worker mode shares it) ----
    TopicSpec(
        "state.enrich.patients",
        "Changelog of the enrichment processor's per-patient state, stored in parts "
        "(workers.enrich.session_archive): the patient's profile (patient, "
        "prescriptions, authorizations, eligibility answers) under "
        "'<clinic_id>:<patient_id>|p', written when it changes, and the groups of "
        "settled session records a regular's state names under '...|h<n>'.",
        _SESSION_KEY,
        "schemas.state:PatientState",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.claims.pending",
        "Changelog of claims waiting for their batch.",
        "<receiver_id>|<billing NPI>|<session or claim id>",
        "schemas.state:PendingEntry",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.claims.records",
        "Changelog of submitted claims and their versions.  Since 2026-12-08 a value is "
        "'2', the record with current_json empty, and the claim's JSON after it "
        "(workers.claims.stored_records); older values are the record as JSON.",
        "<patient control number>",
        "schemas.state:ClaimRecord",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.claims.sessions",
        "Changelog of session -> patient control number, no longer written (the claim "
        "records name their sessions); read for claims recorded before 2026-12.",
        "<clinic_id>:<session_id>",
        "<patient control number> (text)",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.claims.sources",
        "Changelog of the billable sessions the claims stage took: pending until a claim "
        "takes them, then that claim's sources (claim records name them).  Since "
        "2026-12-08 a value is '2', the entry without its message, and the message with "
        "its reference copies named (workers.claims.kept_sources); older values are the "
        "entry as JSON.",
        "<clinic_id>:<session_id>",
        "schemas.state:PendingEntry",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.claims.references",
        "Changelog of the reference copies (clinic, payer, next payer, therapist as "
        "enrich used them) that the entries of state.claims.sources name instead of "
        "holding: each stored once per partition and version.",
        "p<partition>:<part>:<digest of the copy>",
        "the copy's JSON (a clinic, payer or therapist of schemas.outcomes:SessionEnriched)",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.claims.transmissions",
        "Changelog of the 837 files sent: the claim versions each carried (for 999s).",
        "<receiver_id>|<interchange number>",
        "schemas.state:Transmission",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.claims.sequences",
        "Changelog of the control-number sequence per receiver (ISA13/GS06/ST02).",
        "<receiver_id>",
        "<last reserved number> (text)",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.claims.ticks",
        "Batch-age ticks, one per partition.",
        "<partition-addressed>",
        '{"tick": true}',
        internal=True,
        consumed=True,
        retention_ms=1 * DAY_MS,
    ),
    TopicSpec(
        "state.reconcile.claims",
        "Changelog of each claim's ledger (versions, postings, waiting payments).",
        "<patient control number>",
        "schemas.reconciliation:ClaimLedger",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.reconcile.plb",
        "Changelog of the payers' claim numbers seen and of forward balances waiting for "
        "their pair.",
        "payer-claim-number:<number> | forward-balance:<payer>|<reference>",
        "{payer id: patient control number} | [ProviderAdjustmentItem]",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.reconcile.remittances",
        "Changelog of remittances received (duplicate detection).",
        "<remittance id>",
        "schemas.reconciliation:RemittanceTransaction",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.eligibility.asked",
        "Changelog of the eligibility stage: what was asked about each patient's "
        "coverages, with the latest patient record.",
        _SESSION_KEY,
        "schemas.state:EligibilityAsked",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.deposits.book",
        "Changelog of what waits to be matched: 835 transactions and payers' deposits.",
        "remittance:<remittance id> | deposit:<deposit id>",
        "schemas.deposits:OpenRemittance | schemas.deposits:OpenDeposit",
        cleanup="compact",
        retention_ms=None,
        partitions=1,
        internal=True,
    ),
    TopicSpec(
        "state.deposits.seen",
        "Changelog of the deposits and 835 transactions already decided (matched once).",
        "<deposit id> | <remittance id>",
        "matched | not-from-payer (text)",
        cleanup="compact",
        retention_ms=None,
        partitions=1,
        internal=True,
    ),
    TopicSpec(
        "state.enrich.prescription-index",
        "Changelog of prescription id -> patient (to route updates and deletions).",
        "<clinic_id>:<prescription_id>",
        "<clinic_id>:<patient_id> (text)",
        cleanup="compact",
        retention_ms=None,
        internal=True,
    ),
    TopicSpec(
        "state.enrich.prescriptions-by-patient",
        "Accepted prescriptions re-keyed by patient (repartition).",
        _SESSION_KEY,
        "schemas.reference:Prescription",
        internal=True,
        consumed=True,
        retention_ms=7 * DAY_MS,
    ),
    TopicSpec(
        "state.enrich.wakeups",
        "Re-evaluation triggers for held sessions (reference data arrived, hold sweeps).",
        "<partition-addressed>",
        "schemas.state:Wakeup",
        internal=True,
        consumed=True,
        retention_ms=1 * DAY_MS,
    ),
)


class Catalogue:
    """The catalogue bound to settings: physical names and partition counts."""

    def __init__(self, settings: Settings, topics: tuple[TopicSpec, ...] = BASE_TOPICS) -> None:
        self.settings = settings
        specs: dict[str, TopicSpec] = {}
        for spec in topics:
            specs[spec.name] = spec
            if spec.consumed:
                dlq = _dlq_of(spec)
                specs[dlq.name] = dlq
        self._specs = specs

    def __iter__(self) -> Iterator[TopicSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def spec(self, name: str) -> TopicSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"topic {name!r} is not in the catalogue") from None

    def physical(self, name: str) -> str:
        self.spec(name)
        return self.settings.topic(name)

    def logical(self, physical: str) -> str:
        prefix = self.settings.topic_prefix
        return physical[len(prefix) :] if prefix and physical.startswith(prefix) else physical

    def config(self, name: str) -> dict[str, str]:
        """The topic's configuration with the deployment's retention settings applied."""
        spec = self.spec(name)
        cfg = spec.config()
        klass = spec.retention_class
        if klass is not None:
            days = getattr(self.settings, f"retention_days_{klass}")
            cfg["retention.ms"] = str(int(days * DAY_MS))
        return cfg

    def partitions(self, name: str) -> int:
        return self.spec(name).partitions or self.settings.topic_partitions

    def dead_letter_topic(self, name: str) -> str:
        """Logical name of the dead-letter topic of a consumed topic."""
        dlq = name + DLQ_SUFFIX
        self.spec(dlq)
        return dlq

    def names(self) -> list[str]:
        return list(self._specs)
