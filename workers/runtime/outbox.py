"""The outbox's layout: which folder holds what.

837 claim files are written to ``<outbox>/<receiver_id>/``; beside them the
engine writes questions to payers (``270/`` eligibility, ``276/`` claim status)
and acknowledgements it sends (``999/``, ``ta1/``), and documents for people
(``superbills/``, PDFs).  Anything that picks up claim files asks here.
"""

from __future__ import annotations

from pathlib import Path

#: folders of the outbox that never hold 837s
NOT_CLAIMS = frozenset({"270", "276", "999", "ta1", "superbills"})


def claim_files(outbox: Path) -> list[Path]:
    """Every 837 file in the outbox, sorted by path."""
    if not outbox.is_dir():
        return []
    return sorted(p for p in outbox.glob("*/*.x12") if p.parent.name not in NOT_CLAIMS)
