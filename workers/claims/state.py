"""The claims stage's state: its changelog-backed tables seen as models.

``ClaimsState`` wraps the tables ``claims.sources`` (each billable session the
stage took, by session key: pending until a claim record names it, then that
claim's source), ``claims.pending`` (new versions of claims sent, waiting for
their batch; sessions' entries written before ``claims.sources`` existed),
``claims.records`` (every claim sent, by patient control number; each names its
sources and sessions instead of copying them, and is read back whole; its claim
follows it unescaped: :mod:`workers.claims.stored_records`),
``claims.references`` (the reference copies, such as a clinic with its price
list, that the entries of ``claims.sources`` name instead of holding:
:mod:`workers.claims.kept_sources`), ``claims.sessions`` (session key -> patient
control number: no longer written; read for claims recorded before the records
named their sessions),
``claims.sequences`` (the last control number per receiver) and
``claims.transmissions`` (each 837 file sent), and keeps derived indexes that
are rebuilt after every recovery: the claimed sessions, pending batches per
partition, parsed entries, and a summary per batch so an arrival can tell whether
its batch is due without reading it.  ``PartnerCatalog`` is the trading-partner
mirror.

No decisions are made here: what to store comes from
:mod:`workers.claims.lifecycle` and :mod:`workers.claims.filing`.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from schemas.billing import BillableSession
from schemas.claims import TradingPartner
from schemas.state import ClaimRecord, PendingEntry, Transmission
from workers.claims import batching, filing, kept_sources, lifecycle, stored_records
from workers.claims.claimed import index_of_claimed
from workers.runtime.codec import encode_compact
from workers.runtime.partitioning import partition_for


def _answers_claim_status(value: bytes) -> bool:
    """``answers_claim_status`` of a ``ref.payers`` record (default: it answers)."""
    try:
        data = json.loads(value)
    except ValueError:
        return True
    return not (isinstance(data, dict) and data.get("answers_claim_status") is False)


#: how many claims' sources are kept parsed (the table keeps them all as bytes)
SOURCES_KEPT = 4096


class PartnerCatalog:
    """Trading partners mirrored from ``ref.partners`` (invalid records are unknown)."""

    def __init__(self) -> None:
        self._raw: dict[str, bytes] = {}
        self._parsed: dict[str, TradingPartner | None] = {}
        #: payers (our payer ids) whose reference says they do not answer 276s
        self.silent_payers: set[str] = set()

    def apply(self, topic: str, key: bytes, value: bytes | None) -> None:
        k = key.decode("utf-8", errors="replace")
        if topic == "ref.payers":  # only whether the payer answers 276 inquiries
            self.silent_payers.discard(k)
            if value is not None and not _answers_claim_status(value):
                self.silent_payers.add(k)
            return
        self._parsed.pop(k, None)
        if value is None:
            self._raw.pop(k, None)
        else:
            self._raw[k] = value

    def get(self, receiver_id: str) -> TradingPartner | None:
        if receiver_id not in self._parsed:
            raw = self._raw.get(receiver_id)
            try:
                self._parsed[receiver_id] = TradingPartner.parse_json(raw) if raw else None
            except ValueError:
                self._parsed[receiver_id] = None
        return self._parsed[receiver_id]


class ClaimsState:
    """The claims tables as models, plus a derived index of pending batches."""

    def __init__(
        self,
        pending: Any,
        records: Any,
        sessions: Any,
        sequences: Any,
        parts: int,
        transmissions: Any = None,
        sources: Any = None,
        references: Any = None,
    ):
        self.pending, self.records, self.sessions, self.sequences = (
            pending,
            records,
            sessions,
            sequences,
        )
        self.transmissions = transmissions if transmissions is not None else {}
        #: session key -> the pending entry a billable session arrived as (with the
        #: charges.billable message); it stays once claimed, as the claim's source
        self.sources = sources if sources is not None else {}
        #: reference copies (clinic, payer, therapist) the sources name instead of
        #: holding them (:mod:`workers.claims.kept_sources`)
        self.references = references if references is not None else {}
        self.partitions = parts
        # partition -> (receiver, batch key) -> pending keys
        self._index: dict[int, dict[tuple[str, str], set[str]]] = defaultdict(dict)
        # pending key -> (the table's bytes, parsed): a batch is checked on every
        # arrival, so its entries are parsed once, not once per arrival
        self._parsed: dict[str, tuple[bytes, PendingEntry]] = {}
        # pending key -> the billable session it holds, as parsed when it arrived
        self._billable: dict[str, BillableSession] = {}
        # partition -> patient control numbers of records with changes waiting
        self._waiting: dict[int, set[str]] = {}
        # (receiver, batch key) -> its claim count and oldest arrival, so an arrival
        # checks its batch without reading it (built from the table when first asked)
        self._summaries: dict[tuple[str, str], batching.BatchSummary] = {}
        # session key -> the patient control number of the claim that claims it: kept
        # as steps and releases name sessions, rebuilt from the records'
        # ``session_keys`` after a recovery (no index table is written per session)
        self._claimed: dict[str, str] = {}
        # pending keys whose entry lives in the sources table (a session's, since
        # 2026-12); the rest (versions, older sessions) live in the pending table
        self._in_sources: set[str] = set()
        # session key -> (the sources table's bytes, its charges.billable message): the
        # sources of the records read lately (a claim's answers come close together)
        self._source_text: OrderedDict[str, tuple[bytes, str]] = OrderedDict()

    @staticmethod
    def pending_key(entry: PendingEntry, entry_id: str) -> str:
        return f"{entry.receiver_id}|{entry.batch_key}|{entry_id}"

    def add_pending(
        self, key: str, entry: PendingEntry, billable: BillableSession | None = None
    ) -> None:
        part = partition_for(entry.receiver_id, self.partitions)
        if entry.kind == "session":
            session_key = _entry_id(key)
            packed = kept_sources.pack(entry, part)
            for ref_key, copy in packed.references.items():
                if self.references.get(ref_key) is None:  # written once per partition
                    self.references[ref_key] = copy
            raw = packed.value
            self.sources[session_key.encode()] = raw
            self._in_sources.add(key)
            if entry.source_json is not None:
                self._remember_source(session_key, raw, entry.source_json)
        else:
            raw = encode_compact(entry)
            self.pending[key.encode()] = raw
        self._parsed[key] = (raw, entry)
        if billable is not None:
            self._billable[key] = billable
        else:
            self._billable.pop(key, None)
        batch = (entry.receiver_id, entry.batch_key)
        self._index[part].setdefault(batch, set()).add(key)
        summary = self._summaries.get(batch)
        if summary is not None:
            summary.add(key, entry)

    def drop_pending(self, key: str) -> None:
        """The entry leaves without a claim (withdrawn, refused, a day of no units)."""
        if key in self._in_sources:
            self.sources.pop(_entry_id(key).encode(), None)
        self._unindex(key)

    def claim_pending(self, key: str) -> None:
        """The entry left in a file: a session's entry stays in the sources table as
        its claim's source (the claim record names the session); an entry of the
        pending table leaves it."""
        self._unindex(key)

    def _unindex(self, key: str) -> None:
        receiver, batch_key, _ = key.split("|", 2)
        if key in self._in_sources:
            self._in_sources.discard(key)
        else:
            self.pending.pop(key.encode(), None)
        self._parsed.pop(key, None)
        self._billable.pop(key, None)
        part = partition_for(receiver, self.partitions)
        keys = self._index[part].get((receiver, batch_key))
        summary = self._summaries.get((receiver, batch_key))
        if summary is not None:
            summary.remove(key)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._index[part][(receiver, batch_key)]
                self._summaries.pop((receiver, batch_key), None)

    def has_pending(self, key: str) -> bool:
        return key in self._in_sources or self.pending.get(key.encode()) is not None

    def _raw_entry(self, key: str) -> bytes | None:
        table, table_key = (
            (self.sources, _entry_id(key)) if key in self._in_sources else (self.pending, key)
        )
        raw: bytes | None = table.get(table_key.encode())
        return raw

    def batches(self, partition: int) -> list[tuple[str, str]]:
        return sorted(self._index[partition])

    def pending_of(self, receiver: str, batch_key: str) -> list[tuple[str, PendingEntry]]:
        part = partition_for(receiver, self.partitions)
        out = []
        for key in sorted(self._index[part].get((receiver, batch_key), ())):
            raw = self._raw_entry(key)
            if raw is not None:
                out.append((key, self._entry(key, raw)))
        return out

    def is_due(
        self,
        receiver: str,
        batch_key: str,
        partner: TradingPartner,
        when: datetime,
        exact: bool = False,
    ) -> bool:
        """:func:`batching.is_due` for a pending batch, from its kept summary
        (``exact``: the summary is first built again from the table)."""
        summary = None if exact else self._summaries.get((receiver, batch_key))
        if summary is None:
            summary = batching.BatchSummary()
            for key, entry in self.pending_of(receiver, batch_key):
                summary.add(key, entry)
            if not len(summary):
                self._summaries.pop((receiver, batch_key), None)
                return False
            self._summaries[(receiver, batch_key)] = summary
        return summary.due(partner, when)

    def billable_of(self, key: str, entry: PendingEntry) -> BillableSession:
        """The billable session a pending entry holds (parsed once, when it arrived)."""
        cached = self._billable.get(key)
        if cached is not None:
            return cached
        billable = BillableSession.parse_json(entry.source_json or "")
        self._billable[key] = billable
        return billable

    def _entry(self, key: str, raw: bytes) -> PendingEntry:
        """The parsed entry, from the memo while the table holds the same bytes."""
        cached = self._parsed.get(key)
        if cached is not None and (cached[0] is raw or cached[0] == raw):
            return cached[1]
        entry = kept_sources.unpack(raw, self.references)
        self._parsed[key] = (raw, entry)
        return entry

    def pending_for_session(self, receiver: str, session_key: str) -> str | None:
        part = partition_for(receiver, self.partitions)
        for (rcv, _batch), keys in self._index[part].items():
            if rcv != receiver:
                continue
            for key in keys:
                if key.endswith("|" + session_key):
                    return key
        return None

    def record(self, pcn: str) -> ClaimRecord | None:
        """The claim record, with the sources it keeps in the sources table read in
        (``sources_json`` whole, as the lifecycle works on it)."""
        raw = self.records.get(pcn.encode())
        return self._with_sources(stored_records.decode(raw)) if raw else None

    def put_record(self, record: ClaimRecord) -> None:
        """Store a record; each source that is its session's entry in the sources
        table is kept there and named (``source_keys``), not copied."""
        stored = self._without_sources(record)
        self.records[record.patient_control_number.encode()] = stored_records.encode(stored)
        self._index_waiting(record)

    def _source_of(self, session_key: str) -> str | None:
        """The charges.billable message a session's entry in the sources table holds."""
        raw = self.sources.get(session_key.encode())
        if raw is None:
            return None
        cached = self._source_text.get(session_key)
        if cached is not None and (cached[0] is raw or cached[0] == raw):
            self._source_text.move_to_end(session_key)
            return cached[1]
        text = kept_sources.source_text(raw, self.references)
        if text is not None:
            self._remember_source(session_key, raw, text)
        return text

    def _remember_source(self, session_key: str, raw: bytes, text: str) -> None:
        self._source_text[session_key] = (raw, text)
        self._source_text.move_to_end(session_key)
        while len(self._source_text) > SOURCES_KEPT:
            self._source_text.popitem(last=False)

    def _with_sources(self, record: ClaimRecord) -> ClaimRecord:
        if not record.source_keys:
            return record
        kept = []
        for session_key in record.source_keys:
            text = self._source_of(session_key)
            if text is None:  # the table lost what the record names: never dropped so
                raise RuntimeError(
                    f"claim {record.patient_control_number}: a source is missing "
                    "from the sources table"
                )
            kept.append(text)
        update = {"sources_json": [*kept, *record.sources_json], "source_keys": []}
        return record.model_copy(update=update)

    def _without_sources(self, record: ClaimRecord) -> ClaimRecord:
        record = self._with_sources(record)  # a record as stored: whole first
        if not record.sources_json:
            return record
        held: dict[str, str] = {}
        for session_key in record.session_keys:
            text = self._source_of(session_key)
            if text is not None:
                held.setdefault(text, session_key)
        keys: list[str] = []
        inline: list[str] = []
        for text in record.sources_json:
            found = held.get(text)
            if found is not None and found not in keys:
                keys.append(found)
            else:
                inline.append(text)
        return record.model_copy(update={"source_keys": keys, "sources_json": inline})

    def _index_waiting(self, record: ClaimRecord) -> None:
        part = partition_for(record.receiver_id, self.partitions)
        waiting = self._waiting.setdefault(part, set())
        if record.waiting and record.changes_overdue_at is None:
            waiting.add(record.patient_control_number)
        else:
            waiting.discard(record.patient_control_number)

    def waiting_records(self, partition: int) -> list[ClaimRecord]:
        """Records of the partition with changes waiting for the payer's claim number
        (not yet reported overdue)."""
        found = [self.record(pcn) for pcn in sorted(self._waiting.get(partition, ()))]
        return [r for r in found if r is not None]

    def follow_up_records(self, partition: int) -> list[ClaimRecord]:
        """Submitted records of the partition with no 835 yet (candidates for a 276)."""
        found = []
        for raw in list(self.records.values()):
            if raw is None or b'"remitted_at":"' in stored_records.head(raw):
                continue  # remitted (a record at its default leaves the field out)
            record = stored_records.decode(raw)
            mine = partition_for(record.receiver_id, self.partitions) == partition
            if mine and record.status == "submitted":
                found.append(self._with_sources(record))
        return found

    async def rebuild_waiting(self) -> None:
        """After a recovery: the records with changes waiting, and the sessions each
        record claims, from the records table."""
        self._waiting.clear()
        self._claimed.clear()
        for raw in list(self.records.values()):
            if raw is None:
                continue
            if b'"waiting":[{' in stored_records.head(raw):  # none: left out, or []
                self._index_waiting(stored_records.decode(raw))
        self._claimed.update(index_of_claimed(list(self.records.values())))

    def transmission(self, receiver: str, interchange: int) -> Transmission | None:
        raw = self.transmissions.get(Transmission.key_of(receiver, interchange).encode())
        return Transmission.parse_json(raw) if raw else None

    def put_transmission(self, sent: Transmission) -> None:
        key = Transmission.key_of(sent.receiver_id, sent.interchange).encode()
        self.transmissions[key] = encode_compact(sent)

    def claim_of_session(self, session_key: str) -> str | None:
        """The claim (patient control number) a session is placed on, if any."""
        pcn = self._claimed.get(session_key)
        if pcn is not None:
            return pcn
        raw = self.sessions.get(session_key.encode())  # written before the upgrade
        return raw.decode() if raw else None

    def sequence(self, receiver: str) -> int:
        raw = self.sequences.get(receiver.encode())
        return int(raw) if raw else 0

    def reserve_sequence(self, receiver: str, last: int) -> Awaitable[Any]:
        """Record the last control number used for ``receiver``; what it returns
        completes when the broker has the record in the changelog.  A file is
        written only after that (no file exists with numbers a restart would hand
        out again); the file is rendered and checked meanwhile.

        Only this one changelog record is waited for (flushing the whole producer
        made every 837 file wait for every buffered output and table write).
        """
        key, value = receiver.encode(), str(last).encode()
        table = self.sequences
        send_changelog = getattr(table, "send_changelog", None)
        if send_changelog is None:  # a plain mapping (unit tests): nothing to wait for
            table[key] = value
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done
        # what ``table[key] = value`` does, keeping hold of the changelog record
        sent: Awaitable[Any] = send_changelog(table.partition_for_key(key), key, value)
        table.data[key] = value
        return sent

    def apply(self, step: lifecycle.Step) -> None:
        """Store what a lifecycle step changed."""
        for record in step.records:
            self.put_record(record)
        for key in step.dropped:
            self.drop_pending(key)
        for key, entry, billable in step.pending:
            self.add_pending(key, entry, billable)
        self._index_sessions(step.sessions)

    def apply_release(self, release: filing.Release) -> None:
        """Store what a written file changed: its entries stop pending (a session a
        claim took stays as that claim's source; anything else leaves)."""
        for key in release.released_keys:
            if key in self._in_sources and _entry_id(key) in release.sessions:
                self.claim_pending(key)
            else:
                self.drop_pending(key)
        for record in release.records:
            self.put_record(record)
        self._index_sessions(release.sessions)
        self.put_transmission(release.transmission)

    def _index_sessions(self, sessions: dict[str, str]) -> None:
        # the stored records name these sessions too (``session_keys``): the index is
        # kept in memory only, rebuilt from the records after a recovery
        self._claimed.update(sessions)

    async def rebuild(self) -> None:
        """After a recovery, everything derived from the tables: which sessions each
        record claims (first: a session's entry in the sources table is pending only
        while no record claims it), the records with changes waiting, and the
        pending batches."""
        await self.rebuild_waiting()
        await self.rebuild_index()

    async def rebuild_index(self) -> None:
        self._index.clear()
        self._summaries.clear()
        self._parsed.clear()
        self._billable.clear()
        self._in_sources.clear()
        self._source_text.clear()
        for raw_key in list(self.pending.keys()):
            key = raw_key.decode()
            receiver, batch_key, _ = key.split("|", 2)
            part = partition_for(receiver, self.partitions)
            self._index[part].setdefault((receiver, batch_key), set()).add(key)
        for raw_key, raw in list(self.sources.items()):
            session_key = raw_key.decode()
            if raw is None or session_key in self._claimed:
                continue  # a claim's source, no longer pending
            entry = kept_sources.unpack(raw, self.references)
            key = self.pending_key(entry, session_key)
            self._in_sources.add(key)
            self._parsed[key] = (raw, entry)
            part = partition_for(entry.receiver_id, self.partitions)
            self._index[part].setdefault((entry.receiver_id, entry.batch_key), set()).add(key)


def _entry_id(pending_key: str) -> str:
    """The session key (or claim id) a pending key ends with."""
    return pending_key.split("|", 2)[2]
