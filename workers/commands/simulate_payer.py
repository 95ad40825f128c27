"""``claims simulate-payer FILE.837 [--rules RULES] > FILE.835``: answer an 837P like payers would.

``claims simulate-payer FILE.837 --acknowledge DIR [--reject PCN[=A7:562:85]...]``
answers at the front door instead: a 999 and a 277CA in ``DIR``
(:func:`simulate_front_door_main`).

:func:`simulate_payer_main` reads the 837P (:func:`edi.x837p.read_837p`),
adjudicates every claim with the rules (``--rules``, else the shipped
``workers/payer_sim/data/default_rules.json``) and writes the 835 answer on
``out``: one interchange per payer (and submitter), one transaction set per
billing provider (see :mod:`workers.payer_sim.adjudicate`).  A one-line
summary goes to ``err``.  Nothing is written to ``out`` unless the whole
answer could be produced.

The answer is deterministic: the same file and rules give the same bytes for
the same ``now`` (the creation time, BPR16 and DTM*405; default: the current
time, UTC).

Exit status: 0 answered; 1 bad input -- the 837P cannot be read (the message
names the segment ordinal and byte offset), the rules are invalid (field path
and rule), or a claim cannot be answered as a valid 835; 2 a file cannot be
read at all.  Messages never quote data values.

``claims simulate-payer FILE.276 [--answer PCN=pending|documentation|not-found|CAT:CODE]``
answers one of our 276 claim status inquiries with a 277 on ``out``
(:func:`simulate_status_main`; every claim finalized and paid unless answered
otherwise).

Also runnable as ``python -m workers.commands.simulate_payer FILE [--rules RULES]``.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from edi.segments import X12Error, X12RenderError
from edi.x837p import read_837p
from schemas.adjudication import ClaimReceived
from workers.payer_sim.adjudicate import PayerAnswer, adjudicate, render_answers
from workers.payer_sim.rules import RulesError, SimulatorRules, default_rules, load_rules
from workers.runtime.limits import FileRefused, open_limited

__all__ = ["is_276", "main", "simulate_payer_main", "simulate_status_main"]

_PROG = "claims simulate-payer"


class _Failure(Exception):
    """A message for ``err`` and the exit status that goes with it."""

    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(message)


def _cannot_read(path: str, exc: OSError) -> _Failure:
    return _Failure(f"cannot read {path}: {exc.strerror or type(exc).__name__}", 2)


def _rules(rules_path: str | None) -> SimulatorRules:
    if rules_path is None:
        return default_rules()
    try:
        text = Path(rules_path).read_bytes()
    except OSError as exc:
        raise _cannot_read(rules_path, exc) from None
    try:
        return load_rules(text, source=rules_path)
    except RulesError as exc:
        raise _Failure(str(exc), 1) from None


def _claims(path: str, max_bytes: int | None) -> list[ClaimReceived]:
    try:
        stream = open_limited(path, max_bytes)
    except FileRefused as exc:
        raise _Failure(str(exc), 2) from None
    except OSError as exc:
        raise _cannot_read(path, exc) from None
    with stream:
        try:
            return list(read_837p(stream))
        except X12Error as exc:
            raise _Failure(f"{path} is not a readable 837P: {exc}", 1) from None
        except FileRefused as exc:
            raise _Failure(str(exc), 2) from None
        except OSError as exc:
            raise _cannot_read(path, exc) from None


def _summary(claims: Sequence[ClaimReceived], answers: Sequence[PayerAnswer]) -> str:
    transactions = sum(len(answer.advices) for answer in answers)
    payments = sum(len(a.remittance.claims) for answer in answers for a in answer.advices)
    return (
        f"{_PROG}: {len(claims)} claim(s) answered by {len(answers)} payer interchange(s), "
        f"{transactions} transaction set(s), {payments} claim payment(s)\n"
    )


def simulate_payer_main(
    path: str,
    rules_path: str | None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    now: datetime | None = None,
    max_bytes: int | None = None,
) -> int:
    """Answer the 837P at ``path`` with 835s on ``out`` (see the module docstring).

    A file over ``max_bytes`` is refused unread (status 2)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    when = datetime.now(UTC) if now is None else now
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        rules = _rules(rules_path)
        claims = _claims(path, max_bytes)
        answers = adjudicate(claims, rules, now=when)
        text = render_answers(answers, now=when)
    except _Failure as failure:
        err.write(f"{_PROG}: {failure}\n")
        return failure.status
    except X12RenderError as exc:
        err.write(f"{_PROG}: cannot answer {path} with a valid 835: {exc}\n")
        return 1
    out.write(text)
    err.write(_summary(claims, answers))
    return 0


def simulate_front_door_main(
    path: str,
    directory: str,
    reject: Mapping[str, tuple[str, str | None, str | None]],
    err: TextIO | None = None,
    *,
    now: datetime | None = None,
    max_bytes: int | None = None,
) -> int:
    """Answer the 837P at ``path`` at the front door: ``DIR/<name>.999`` and
    ``DIR/<name>.277`` (written atomically, mode 0600); see
    :mod:`workers.payer_sim.acknowledge`."""
    from workers.payer_sim.acknowledge import acknowledge_837
    from workers.runtime.atomic_files import write_atomically

    err = sys.stderr if err is None else err
    when = datetime.now(UTC) if now is None else now
    try:
        claims = _claims(path, max_bytes)
        unknown = set(reject) - {c.patient_control_number for c in claims}
        if unknown:
            raise _Failure(
                f"--reject names claims not in the file: {', '.join(sorted(unknown))}", 1
            )
        acks = acknowledge_837(claims, now=when, reject=reject)
    except _Failure as failure:
        err.write(f"{_PROG}: {failure}\n")
        return failure.status
    except (X12RenderError, ValueError) as exc:
        err.write(f"{_PROG}: cannot acknowledge {path}: {exc}\n")
        return 1
    stem = Path(path).stem
    target = Path(directory)
    write_atomically(target, f"{stem}.999", acks.ack_999.encode())
    write_atomically(target, f"{stem}.277", acks.ack_277.encode())
    err.write(
        f"{_PROG}: {len(claims)} claim(s) acknowledged: {acks.accepted} accepted, "
        f"{acks.rejected} rejected ({target / (stem + '.999')}, {target / (stem + '.277')})\n"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m workers.commands.simulate_payer FILE.837 [--rules RULES]``."""
    parser = argparse.ArgumentParser(
        prog=_PROG, description="Answer an 837P with deterministic 835 remittances."
    )
    parser.add_argument("file", help="the 837P file")
    parser.add_argument("--rules", help="rules JSON (default: the shipped default rules)")
    args = parser.parse_args(argv)
    return simulate_payer_main(args.file, args.rules)


if __name__ == "__main__":
    raise SystemExit(main())


def is_276(path: str) -> bool:
    """Whether the file at ``path`` looks like a 276 (its first ST is ``ST*276``, by the
    ISA's own element separator); unreadable files are left to the 837 reader."""
    try:  # a regular file only: a FIFO or a device is never opened here (the reader refuses it)
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as stream:
            head = stream.read(4096)
    except OSError:
        return False
    if not head.startswith(b"ISA") or len(head) < 4:
        return False
    sep = head[3:4]
    return b"ST" + sep + b"276" + sep in head


def simulate_status_main(
    path: str,
    answers: Mapping[str, str],
    out: TextIO | None = None,
    err: TextIO | None = None,
    *,
    now: datetime | None = None,
    max_bytes: int | None = None,
) -> int:
    """Answer the 276 at ``path`` with a 277 claim status response on ``out``
    (see :mod:`workers.payer_sim.claim_status`)."""
    from workers.payer_sim.claim_status import answer_276

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    when = datetime.now(UTC) if now is None else now
    try:
        try:
            stream = open_limited(path, max_bytes)
        except FileRefused as exc:
            raise _Failure(str(exc), 2) from None
        except OSError as exc:
            raise _cannot_read(path, exc) from None
        with stream:
            data = stream.read()
        result = answer_276(data, now=when, answers=answers)
    except _Failure as failure:
        err.write(f"{_PROG}: {failure}\n")
        return failure.status
    except X12Error as exc:
        err.write(f"{_PROG}: {path} is not a readable 276: {exc}\n")
        return 1
    except ValueError as exc:
        err.write(f"{_PROG}: cannot answer {path}: {exc}\n")
        return 1
    out.write(result.text)
    told = ", ".join(f"{n} {name}" for name, n in sorted(result.counts.items()))
    err.write(f"{_PROG}: {sum(result.counts.values())} claim status inquiry(ies) answered: "
              f"{told}\n")
    return 0
