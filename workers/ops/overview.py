"""The operations picture, folded from the topics (pure: messages in, figures out).

:class:`Overview` is fed every message of the topics below, in order, and keeps
only the latest state per session, claim and payment.  The dashboard tails the
topics into one; the ``claims queue`` commands read them once.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from workers.runtime.topics import DLQ_SUFFIX

#: topic -> the processor whose output it is (for throughput)
OUTPUTS = {
    "sessions.completed": "clinics (in)",
    "sessions.enriched": "enrich",
    "charges.billable": "units",
    "claims.submitted": "claims",
    "claims.adjudicated": "reconcile",
}
TOPICS = (
    "sessions.completed",
    "sessions.enriched",
    "sessions.held",
    "sessions.rejected",
    "sessions.cancelled",
    "charges.billable",
    "claims.submitted",
    "claims.adjudicated",
    "claims.denied",
    "claims.rejections",
    "claims.changes-waiting",
    "claims.status-attention",
    "claims.cob-review",
    "claims.write-offs",
    "remits.unmatched",
    "remits.provider-adjustments",
    "claims.attachments",
    "remits.review",
    "deposits.unfunded",
    "deposits.unremitted",
    "partners.delivery-failed",
    "ops.dead-letters.status",
)
#: The business work queues (``claims queue list``), in the order they are shown.
WORK_QUEUES = (
    "sessions.held",
    "sessions.rejected",
    "claims.denied",
    "claims.rejections",
    "claims.changes-waiting",
    "claims.status-attention",
    "claims.cob-review",
    "remits.unmatched",
    "remits.provider-adjustments",
    "claims.attachments",
    "remits.review",
    "deposits.unfunded",
    "deposits.unremitted",
    "partners.delivery-failed",
)
AGING = (("0-30", 0, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, 10**6))


def _newer(body: dict[str, Any], known: Item | None) -> bool:
    """Whether ``body`` is a later decision on its session than ``known``: by the
    decision numbers when both carry one, else the one read later wins."""
    if known is None:
        return True
    new, old = body.get("decision"), known.body.get("decision")
    return new is None or old is None or new >= old


@dataclass
class Item:
    id: str
    topic: str
    body: dict[str, Any]


@dataclass
class Overview:
    dead_letters: dict[str, dict[str, str]] = field(default_factory=dict)
    dlq_status: dict[str, str] = field(default_factory=dict)
    held: dict[str, Item] = field(default_factory=dict)
    rejected: dict[str, Item] = field(default_factory=dict)
    conflicts: dict[str, Item] = field(default_factory=dict)
    enriched_sessions: set[str] = field(default_factory=set)
    #: per session: the decision number it was enriched with (a later hold wins)
    enriched_decision: dict[str, int] = field(default_factory=dict)
    cancelled_sessions: set[str] = field(default_factory=set)
    paid_claims: set[str] = field(default_factory=set)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    postings: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted_ids: set[str] = field(default_factory=set)
    denied: dict[str, Item] = field(default_factory=dict)
    rejections: dict[str, Item] = field(default_factory=dict)
    changes_waiting: dict[str, Item] = field(default_factory=dict)
    #: claims a 277 status response says need a person (a tombstone settles one)
    status_attention: dict[str, Item] = field(default_factory=dict)
    cob_review: dict[str, Item] = field(default_factory=dict)
    #: per claim: the lines written off (None: the whole claim)
    written_off: dict[str, set[str | None]] = field(default_factory=dict)
    #: per claim: when its latest version was sent (an appeal resubmits)
    last_sent: dict[str, str] = field(default_factory=dict)
    unmatched: dict[str, Item] = field(default_factory=dict)
    #: PLB items that name no claim we know (key: item id; a tombstone closes one)
    provider_adjustments: dict[str, Item] = field(default_factory=dict)
    #: documents announced in a claim's PWK, not yet recorded as sent
    attachments: dict[str, Item] = field(default_factory=dict)
    #: 835 files posted despite envelope faults, not yet reviewed (key: sha256)
    reviews: dict[str, Item] = field(default_factory=dict)
    #: 835s with no deposit and deposits with no 835 (key: remittance / deposit id)
    unfunded: dict[str, Item] = field(default_factory=dict)
    unremitted: dict[str, Item] = field(default_factory=dict)
    #: 837 files not delivered to their partner's mailbox (key: receiver|interchange)
    delivery_failed: dict[str, Item] = field(default_factory=dict)
    outputs: Counter[str] = field(default_factory=Counter)
    recent: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def apply(
        self,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None = None,
        timestamp_ms: int | None = None,
    ) -> None:
        item_id = f"{topic}:{partition}:{offset}"
        if topic.endswith(DLQ_SUFFIX):
            info = {
                k[len("claims.dlq.") :]: v.decode("utf-8", "replace")
                for k, v in (headers or [])
                if k.startswith("claims.dlq.")
            }
            info.pop("error.stacktrace", None)
            self.dead_letters[item_id] = info
            return
        if topic == "ops.dead-letters.status":
            if key is not None:
                status = json.loads(value)["status"] if value else "open"
                self.dlq_status[key.decode()] = status
            return
        if topic in OUTPUTS:
            self.outputs[topic] += 1
            if timestamp_ms:
                stamps = self.recent[topic]
                stamps.append(timestamp_ms / 1000)
                if len(stamps) > 5000:
                    del stamps[: len(stamps) - 5000]
        if value is None:
            if topic == "claims.rejections" and key is not None:
                self.rejections.pop(key.decode(), None)  # closed without resending
            if topic == "claims.changes-waiting" and key is not None:
                self.changes_waiting.pop(key.decode(), None)  # the changes were sent
            if topic == "claims.status-attention" and key is not None:
                self.status_attention.pop(key.decode(), None)  # a later 277 or an 835
            if topic == "remits.provider-adjustments" and key is not None:
                self.provider_adjustments.pop(key.decode(), None)  # linked, paired, dismissed
            if topic == "claims.attachments" and key is not None:
                self.attachments.pop(key.decode(), None)  # recorded as sent
            if topic == "remits.review" and key is not None:
                self.reviews.pop(key.decode(), None)  # reviewed
            if topic == "deposits.unfunded" and key is not None:
                self.unfunded.pop(key.decode(), None)  # its deposit was matched
            if topic == "deposits.unremitted" and key is not None:
                self.unremitted.pop(key.decode(), None)  # its 835 was matched
            if topic == "partners.delivery-failed" and key is not None:
                self.delivery_failed.pop(key.decode(), None)  # uploaded since
            return
        try:
            body = json.loads(value)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        self._fold(topic, item_id, body)

    def _fold(self, topic: str, item_id: str, body: dict[str, Any]) -> None:
        """Remember items and what resolves them; which items are current is decided when
        asked, so the order the topics are read in does not matter."""
        item = Item(item_id, topic, body)
        if topic == "sessions.held":
            if _newer(body, self.held.get(body["session_key"])):
                self.held[body["session_key"]] = item
        elif topic == "sessions.rejected":
            if body.get("reason") == "conflicting-duplicate":
                self.conflicts[item_id] = item
            elif _newer(body, self.rejected.get(body["session_key"])):
                self.rejected[body["session_key"]] = item
        elif topic == "sessions.enriched" and body.get("event_type") == "session.enriched":
            self.enriched_sessions.add(body["session_key"])
            decision = body.get("decision") or 0
            key = body["session_key"]
            self.enriched_decision[key] = max(decision, self.enriched_decision.get(key, 0))
        elif topic == "sessions.cancelled":
            self.cancelled_sessions.add(body["session_key"])
        elif topic == "claims.submitted":
            pcn = body["patient_control_number"]
            self.last_sent[pcn] = max(self.last_sent.get(pcn, ""), body["submitted_at"])
            previous = self.claims.get(pcn)
            first = (
                min(body["submitted_at"], previous["first_submitted"])
                if previous
                else (body["submitted_at"])
            )
            if previous is None or body["version"] >= previous["version"]:
                self.claims[pcn] = {
                    "version": body["version"],
                    "frequency": body["frequency"],
                    "clinic": body["clinic_id"],
                    "payer": body["payer_id"],
                    "charge": body["charge_total"],
                    "first_submitted": first,
                }
            else:
                previous["first_submitted"] = first
        elif topic == "claims.adjudicated":
            pcn = body["patient_control_number"]
            latest = self.postings.get(pcn)
            if latest is None or body["posting"]["posted_at"] >= latest["posting"]["posted_at"]:
                self.postings[pcn] = body
            self.posted_ids.add(body["posting"]["posting_id"])
            if body["posting"]["category"] not in ("denied", "reversed"):
                self.paid_claims.add(pcn)
        elif topic == "claims.denied":
            line = body.get("line_control_number") or "claim"
            self.denied[f"{body['posting_id']}/{line}"] = item
        elif topic == "claims.write-offs":
            written = body["write_off"]
            lines = self.written_off.setdefault(body["patient_control_number"], set())
            lines.add(written.get("line_control_number"))
        elif topic == "claims.cob-review":
            self.cob_review[body["patient_control_number"]] = item
        elif topic == "claims.rejections":
            self.rejections[body["patient_control_number"]] = item
        elif topic == "claims.changes-waiting":
            self.changes_waiting[body["patient_control_number"]] = item
        elif topic == "claims.status-attention":
            self.status_attention[body["patient_control_number"]] = item
        elif topic == "remits.unmatched":
            self.unmatched[body["posting_id"]] = item
        elif topic == "remits.provider-adjustments":
            self.provider_adjustments[body["item"]["plb_id"]] = item
        elif topic == "claims.attachments":
            self.attachments[body["control_number"]] = item
        elif topic == "remits.review":
            self.reviews[body["file_sha256"]] = item
        elif topic == "deposits.unfunded":
            self.unfunded[body["remittance"]["remittance_id"]] = item
        elif topic == "deposits.unremitted":
            self.unremitted[body["deposit"]["deposit_id"]] = item
        elif topic == "partners.delivery-failed":
            self.delivery_failed[f"{body['receiver_id']}|{body['interchange']}"] = item

    def _denial_open(self, body: dict[str, Any]) -> bool:
        """A denial is open until the claim is sent again (an appeal), written off (the
        whole claim or the line), or -- a whole-claim denial -- paid."""
        pcn = body["patient_control_number"]
        written = self.written_off.get(pcn, set())
        if None in written or body.get("line_control_number") in written:
            return False
        if self.last_sent.get(pcn, "") > body["denied_at"]:
            return False
        return not (body.get("scope", "claim") == "claim" and pcn in self.paid_claims)

    def _latest(self, key: str) -> str:
        """Held or rejected, whichever was decided last: by the session's decision
        numbers, else by timestamps (never by read order)."""
        held, rejected = self.held.get(key), self.rejected.get(key)
        if held is None:
            return "rejected"
        if rejected is None:
            return "held"
        h, r = held.body.get("decision"), rejected.body.get("decision")
        if h is not None and r is not None:
            return "held" if h > r else "rejected"
        later_hold = held.body.get("checked_at", "") > rejected.body.get("rejected_at", "")
        return "held" if later_hold else "rejected"

    def _settled(self, key: str, item: Item) -> bool:
        """Enriched or cancelled after the decision ``item`` records."""
        if key in self.cancelled_sessions:
            return True
        if key not in self.enriched_sessions:
            return False
        decided = item.body.get("decision")
        return decided is None or self.enriched_decision.get(key, 0) > decided

    # --- views ------------------------------------------------------------------------
    def open_dead_letters(self) -> dict[str, dict[str, str]]:
        return {
            k: v
            for k, v in self.dead_letters.items()
            if self.dlq_status.get(k, "open") != "resolved"
        }

    def queue(self, name: str) -> list[Item]:
        if name == "sessions.held":
            return [
                i
                for k, i in self.held.items()
                if not self._settled(k, i) and self._latest(k) == "held"
            ]
        if name == "sessions.rejected":
            return [
                *(
                    i
                    for k, i in self.rejected.items()
                    if not self._settled(k, i) and self._latest(k) == "rejected"
                ),
                *self.conflicts.values(),
            ]
        if name == "claims.denied":
            return [i for i in self.denied.values() if self._denial_open(i.body)]
        if name == "claims.cob-review":
            return [
                i
                for k, i in self.cob_review.items()
                if None not in self.written_off.get(k, set())
                and self.last_sent.get(k, "") <= i.body["raised_at"]
            ]
        if name == "claims.rejections":
            # open until a later version of the claim is submitted (the resend)
            return [
                i
                for k, i in self.rejections.items()
                if self.claims.get(k, {}).get("version", 0) <= i.body["version"]
            ]
        if name == "remits.unmatched":
            return [i for k, i in self.unmatched.items() if k not in self.posted_ids]
        if name == "claims.changes-waiting":
            return list(self.changes_waiting.values())
        if name == "claims.status-attention":
            return list(self.status_attention.values())
        if name == "remits.provider-adjustments":
            return list(self.provider_adjustments.values())
        if name == "claims.attachments":
            return list(self.attachments.values())
        if name == "remits.review":
            return list(self.reviews.values())
        if name == "deposits.unfunded":
            return list(self.unfunded.values())
        if name == "deposits.unremitted":
            return list(self.unremitted.values())
        if name == "partners.delivery-failed":
            return list(self.delivery_failed.values())
        raise KeyError(name)

    def summary(self, today: date | None = None, now: float | None = None) -> dict[str, Any]:
        day = today or datetime.now(UTC).date()
        moment = now if now is not None else datetime.now(UTC).timestamp()
        dlq = Counter(
            (v.get("original.topic", ""), v.get("error.reason", ""))
            for v in self.open_dead_letters().values()
        )
        per_clinic: dict[str, dict[str, Decimal | int]] = defaultdict(
            lambda: {
                "claims": 0,
                "charges": Decimal(0),
                "paid": Decimal(0),
                "outstanding": Decimal(0),
            }
        )
        aging: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
            lambda: {name: Decimal(0) for name, _, _ in AGING}
        )
        for pcn, claim in self.claims.items():
            row = per_clinic[claim["clinic"]]
            charge = Decimal(0) if claim["frequency"] == "8" else Decimal(claim["charge"])
            post = self.postings.get(pcn)
            outstanding = Decimal(post["outstanding"]) if post else charge
            row["claims"] += 1
            row["charges"] += charge
            row["paid"] += Decimal(post["paid_total"]) if post else Decimal(0)
            row["outstanding"] += outstanding
            if outstanding > 0:
                age = (
                    day
                    - datetime.fromisoformat(claim["first_submitted"].replace("Z", "+00:00")).date()
                ).days
                bucket = next(n for n, lo, hi in AGING if lo <= age <= hi)
                aging[(claim["clinic"], claim["payer"])][bucket] += outstanding
        throughput = {
            OUTPUTS[t]: {
                "total": self.outputs[t],
                "per_minute": sum(1 for s in self.recent[t] if moment - s <= 60),
            }
            for t in OUTPUTS
        }
        return {
            "throughput": throughput,
            "dead_letters": [
                {"topic": t, "reason": r, "count": n} for (t, r), n in sorted(dlq.items())
            ],
            "dead_letters_total": sum(dlq.values()),
            "queues": {name: len(self.queue(name)) for name in WORK_QUEUES},
            "claims_by_clinic": [
                {"clinic": c, **{k: str(v) for k, v in row.items()}}
                for c, row in sorted(per_clinic.items())
            ],
            "aging": [
                {"clinic": c, "payer": p, **{k: str(v) for k, v in b.items()}}
                for (c, p), b in sorted(aging.items())
            ],
        }
