"""The mailbox worker's memory: one small file per delivery and per fetched file.

``<state_dir>/mailboxes/<receiver>/deliveries/<interchange>.json`` holds the latest
:class:`~schemas.submission.FileDelivery` of an 837 transmission
(``<transaction>-<interchange>.json`` of a 270 or 276) and
``<state_dir>/mailboxes/<receiver>/fetched/<sha256>.json`` the
:class:`~schemas.state.MailboxFetch` of each file taken from the partner's download
directory.  Each is replaced atomically and fsynced before the worker acts on it
(before the upload starts, before a fetched file is renamed into the inbox), so
what it remembers survives a crash or a power cut.

Why files and not a compacted topic: the worker must *read its own write* at once
and before it touches the server, and it runs beside the inbox it fetches into (one
process per inbox, on the same volume).  A local fsync gives both without a broker
round trip; the records are still announced on ``edi.deliveries`` for everyone else.
"""

from __future__ import annotations

from pathlib import Path

from schemas.state import MailboxFetch
from schemas.submission import FileDelivery
from workers.runtime.atomic_files import replace_atomically


class Ledger:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._deliveries: dict[tuple[str, str, int], FileDelivery] = {}
        self._load()

    def _load(self) -> None:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*/deliveries/*.json")):
            d = FileDelivery.parse_json(path.read_bytes())
            self._deliveries[(d.receiver_id, d.transaction, d.interchange)] = d

    # --- uploads ------------------------------------------------------------------
    def delivery(
        self, receiver_id: str, interchange: int, transaction: str = "837"
    ) -> FileDelivery | None:
        return self._deliveries.get((receiver_id, transaction, interchange))

    def deliveries(self) -> list[FileDelivery]:
        return list(self._deliveries.values())

    def put_delivery(self, delivery: FileDelivery) -> None:
        directory = self.root / delivery.receiver_id / "deliveries"
        data = delivery.model_dump_json().encode()
        name = f"{delivery.interchange}.json"
        if delivery.transaction != "837":
            name = f"{delivery.transaction}-{name}"
        replace_atomically(directory, name, data)
        self._deliveries[(delivery.receiver_id, delivery.transaction, delivery.interchange)] = (
            delivery
        )

    # --- downloads ----------------------------------------------------------------
    def _fetch_path(self, receiver_id: str, sha256: str) -> Path:
        return self.root / receiver_id / "fetched" / f"{sha256}.json"

    def fetched(self, receiver_id: str, sha256: str) -> MailboxFetch | None:
        path = self._fetch_path(receiver_id, sha256)
        return MailboxFetch.parse_json(path.read_bytes()) if path.is_file() else None

    def put_fetched(self, fetch: MailboxFetch) -> None:
        path = self._fetch_path(fetch.receiver_id, fetch.sha256)
        replace_atomically(path.parent, path.name, fetch.model_dump_json().encode())

    def unfinished_fetches(self) -> list[MailboxFetch]:
        """Files recorded as fetched whose remote copy was not removed or moved yet."""
        found = []
        for path in sorted(self.root.glob("*/fetched/*.json")):
            fetch = MailboxFetch.parse_json(path.read_bytes())
            if fetch.status == "fetched":
                found.append(fetch)
        return found
