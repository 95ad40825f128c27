"""ICD-10-CM: is a diagnosis code billable on its date of service?

A code is billable when it is a leaf (has no children) of the ICD-10-CM release
in force on the date of service; a category or subcategory with children is a
*header* and is rejected on a claim (Official Guidelines I.B.2).  Code-set years
start on 1 October; mid-year releases (1 April, and once 1 January) add codes.

Releases come from two places:

* shipped with the engine in `schemas/data/icd10cm/` (built by
  `scripts/build_icd10cm_data.py` from simple-icd-10-cm; CI has no network);
* converted by an operator from a newer CMS "order" file with
  :func:`load_cms_order_file` into a folder of the engine's own (``state_dir``),
  which every lookup given that folder then includes.  A file there replaces a
  shipped release of the same effective date.

Each release file is gzip text: a tab-separated header line (``#ICD-10-CM``,
effective date, label, source), then one ``CODE B`` (billable) or ``CODE H``
(header) line per code, without the dot, sorted.  A loaded release is one
``bytes`` of 8-byte records (the code padded to 7 characters, then its flag),
searched by bisection: about 0.8 MB per release, no object per code.

What :func:`status` answers for a code on a date of service (dos):

=========================================  =========================================
the dos falls                              answer
=========================================  =========================================
in the code-set year of the release in     ``billable``, ``header`` or ``unknown``
force (effective date to the next 30 Sep)
in a code-set year no release covers,      what both releases say when they agree,
between two releases                       else ``unsettled`` (changed in between)
after the newest release's code-set year   ``billable`` or ``header`` as the newest
                                           says, else ``stale-unknown`` (possibly new)
before every release                       ``header`` when the oldest release has a
                                           header, else ``no-release``
=========================================  =========================================
"""

from __future__ import annotations

import gzip
import os
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from itertools import pairwise
from pathlib import Path
from typing import Literal

Status = Literal["billable", "header", "unknown", "stale-unknown", "unsettled", "no-release"]

MAGIC = "#ICD-10-CM"
#: One record of a loaded release: the code padded with spaces to 7 bytes, then B or H.
_RECORD = 8
#: A code as written (the dot optional after the third character).  The second
#: character is a letter in the genetic codes of FY2026 (QA0-), unlike the shape
#: `schemas.identifiers.icd10cm_valid` checks.
_WRITTEN = re.compile(r"([A-Z][0-9A-Z]{2})(?:\.?([0-9A-Z]{1,4}))?")
_CODE = re.compile(r"[A-Z][0-9A-Z]{2,6}")
_BODY = re.compile(rb"(?:[A-Z][0-9A-Z]{2,6} [BH]\n)*")
_FILE_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})\.txt\.gz")


@dataclass(frozen=True)
class Release:
    """One ICD-10-CM release: in force from ``effective`` until the next one."""

    effective: date
    label: str
    source: str
    data: Traversable = field(repr=False)

    @property
    def year_ends(self) -> date:
        """The last day of the code-set year of this release (the 30 September after
        its effective date): a later date of service needs a newer release."""
        return date(self.effective.year + (self.effective.month >= 10), 9, 30)

    def covers(self, dos: date) -> bool:
        """Whether ``dos`` falls in this release's code-set year, from its effective date."""
        return self.effective <= dos <= self.year_ends


def releases(state_dir: Path | None = None) -> list[Release]:
    """The shipped releases and those converted into ``state_dir``, oldest first."""
    by_date = {release.effective: release for release in _shipped()}
    by_date.update((release.effective, release) for release in _stored(state_dir))
    return [by_date[effective] for effective in sorted(by_date)]


def release_for(dos: date, state_dir: Path | None = None) -> Release | None:
    """The release in force on ``dos``: the newest one effective on or before it."""
    return in_force(releases(state_dir), dos)


def in_force(known: Sequence[Release], dos: date) -> Release | None:
    """Of ``known`` (oldest first, as :func:`releases` gives them), the one in force
    on ``dos``."""
    found = None
    for release in known:
        if release.effective <= dos:
            found = release
    return found


def status(code: str, dos: date, state_dir: Path | None = None) -> Status:
    """What ``code`` (with or without its dot, any case) is on the date of service.

    ``billable``: a leaf of the release in force; ``header``: it has children (not
    billable); ``unknown``: no such code (or not a code at all); ``stale-unknown``:
    not in the newest release, whose code-set year ended before ``dos``, so possibly
    a newer code; ``unsettled``: ``dos`` falls in a code-set year no release covers
    and the releases either side disagree; ``no-release``: ``dos`` precedes every
    release (the oldest one still tells a header).  See the module's table.
    """
    return status_in(releases(state_dir), code, dos)


def status_in(known: Sequence[Release], code: str, dos: date) -> Status:
    """:func:`status` over releases already listed (``known``, oldest first): a
    prescription's codes are looked up in one listing of the releases."""
    key = _key(code)
    if not known:
        return "no-release"
    if key is None:
        return "unknown"  # not shaped as an ICD-10-CM code: no release has it
    before = [release for release in known if release.effective <= dos]
    if not before:
        return "header" if _flag(known[0], key) == "H" else "no-release"
    in_force = before[-1]
    flag = _flag(in_force, key)
    if in_force.covers(dos):
        return _ANSWER[flag]
    if in_force is known[-1]:
        return "stale-unknown" if flag is None else _ANSWER[flag]
    later = known[len(before)]
    return _ANSWER[flag] if _flag(later, key) == flag else "unsettled"


def seventh_character(code: str) -> str | None:
    """The 7th character of a Chapter 19 injury code (S00-T88, 7 characters), such as
    ``A`` (initial encounter) in ``S13.4XXA``; None for any other code."""
    key = _key(code)
    if key is None or len(key) != 7 or key[0] not in "ST":
        return None
    return key[6]


def load_cms_order_file(
    path: Path, effective: date, state_dir: Path, label: str | None = None
) -> Release:
    """Convert a CMS ICD-10-CM order file into a release stored in ``state_dir``.

    The order file is fixed width: order number (columns 1-5), the code without
    its dot (7-13), a flag (15: ``0`` header, ``1`` valid for HIPAA transactions)
    and descriptions (from 17, ignored).  Every line is checked, and so is the
    tree: a valid code must have no children, a header must have some.  The
    release is written as ``<effective>.txt.gz`` (replacing one of that date) and
    is included from then on by every lookup given ``state_dir``.
    """
    label = label or f"ICD-10-CM {effective:%B %Y} (CMS order file)"
    if "\t" in label or "\n" in label:
        raise ValueError("a release label is one line without tabs")
    flags: dict[str, str] = {}
    text = path.read_bytes().decode("latin-1")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        code, flag = line[6:13].rstrip(), line[14:15]
        shaped = line[:5].isdigit() and line[5:6] == " " and line[13:14] == " "
        if not (shaped and _CODE.fullmatch(code) and flag in ("0", "1")):
            raise ValueError(f"{path.name} line {number}: not an order-file line: {line[:20]!r}")
        if code in flags:
            raise ValueError(f"{path.name} line {number}: {code} appears twice")
        flags[code] = "B" if flag == "1" else "H"
    if not flags:
        raise ValueError(f"{path.name}: no codes")
    codes = sorted(flags)
    for code, after in pairwise([*codes, ""]):
        if after.startswith(code) != (flags[code] == "H"):
            kind = "valid code has children" if flags[code] == "B" else "header has no children"
            raise ValueError(f"{path.name}: {code}: {kind}")
    lines = [f"{MAGIC}\t{effective.isoformat()}\t{label}\tCMS order file {path.name}"]
    lines += [f"{code} {flags[code]}" for code in codes]
    state_dir.mkdir(parents=True, exist_ok=True)
    target = state_dir / f"{effective.isoformat()}.txt.gz"
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as raw, gzip.GzipFile("", "wb", 9, raw, mtime=0) as packed:
        packed.write(("\n".join(lines) + "\n").encode("ascii"))
    os.replace(partial, target)
    _scan.cache_clear()
    _table.cache_clear()
    _flag.cache_clear()
    return _release_in(target)


_ANSWER: dict[str | None, Status] = {"B": "billable", "H": "header", None: "unknown"}


def _key(code: str) -> str | None:
    """The code upper case without its dot, or None when it is not shaped as a code."""
    written = _WRITTEN.fullmatch(code.strip().upper())
    return None if written is None else written[1] + (written[2] or "")


@lru_cache(maxsize=16384)
def _flag(release: Release, key: str) -> str | None:
    """``B``, ``H`` or None (not in the release) for a code without its dot (kept for
    the codes asked about lately: a prescription's come with every visit)."""
    table = _table(release)
    wanted = key.ljust(7).encode("ascii")
    count = len(table) // _RECORD
    at = bisect_left(range(count), wanted, key=lambda i: table[i * _RECORD : i * _RECORD + 7])
    start = at * _RECORD
    if at < count and table[start : start + 7] == wanted:
        return chr(table[start + 7])
    return None


@lru_cache(maxsize=8)
def _table(release: Release) -> bytes:
    """The release's codes as one sorted bytes of 8-byte records (loaded once)."""
    _, _, body = gzip.decompress(release.data.read_bytes()).partition(b"\n")
    if not _BODY.fullmatch(body):
        raise ValueError(f"{release.data.name}: a line is not 'CODE B' or 'CODE H'")
    lines = body.split(b"\n")
    lines.pop()  # after the last newline
    if any(a >= b for a, b in pairwise(line[:-2] for line in lines)):
        raise ValueError(f"{release.data.name}: codes not sorted or repeated")
    return b"".join([line[:-2].ljust(7) + line[-1:] for line in lines])


@lru_cache(maxsize=1)
def _shipped() -> tuple[Release, ...]:
    folder = resources.files("schemas").joinpath("data", "icd10cm")
    return tuple(_release_in(item) for item in folder.iterdir() if _FILE_NAME.fullmatch(item.name))


def _stored(state_dir: Path | None) -> tuple[Release, ...]:
    if state_dir is None:
        return ()
    try:
        stamp = state_dir.stat().st_mtime_ns
    except FileNotFoundError:
        return ()
    return _scan(str(state_dir), stamp)


@lru_cache(maxsize=4)
def _scan(folder: str, stamp: int) -> tuple[Release, ...]:
    """The releases in a state folder (``stamp``, its change time, keys the cache)."""
    del stamp
    paths = sorted(Path(folder).iterdir())
    return tuple(_release_in(path) for path in paths if _FILE_NAME.fullmatch(path.name))


def _release_in(data: Traversable) -> Release:
    """Read a release file's header line (the codes are loaded on first lookup)."""
    with data.open("rb") as raw, gzip.GzipFile(fileobj=raw) as unpacked:
        header = unpacked.readline().decode("utf-8").rstrip("\n")
    parts = header.split("\t")
    named = _FILE_NAME.fullmatch(data.name)
    if len(parts) != 4 or parts[0] != MAGIC or named is None or parts[1] != named[1]:
        raise ValueError(f"{data.name}: not an ICD-10-CM release file (header {header[:60]!r})")
    return Release(date.fromisoformat(parts[1]), parts[2], parts[3], data)
