"""The ``claims`` command: parse arguments, call the engine, print results.

Start-up must stay fast: faust, kafka clients and pyx12 are imported inside the
commands that need them, never at module level here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

Command = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad input or configuration: printed as one line, exit status 2."""


def _settings(**overrides: Any) -> Any:
    from pydantic import ValidationError

    from workers.runtime.settings import load_settings

    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"CLAIMS_{'_'.join(str(p) for p in e['loc']).upper() or '?'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise UsageError(f"invalid settings: {problems}") from None


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- broker -------------------------------------------------------------------


def cmd_broker(args: argparse.Namespace) -> int:
    from workers.runtime.local_broker import BrokerError, LocalBroker

    broker = LocalBroker(_settings())
    try:
        if args.action == "start":
            result = broker.start()
            verb = "started" if result.started else "already running"
            print(
                f"broker {verb}: pid {result.state.pid}, bootstrap {result.state.bootstrap}, "
                f"Kafka {result.state.kafka_version}, logs {result.state.log_dir}"
            )
            if args.state_file:
                with open(args.state_file, "w") as fh:
                    fh.write("started\n" if result.started else "reused\n")
            return 0
        if args.action == "stop":
            stopped = broker.stop()
            print("broker stopped" if stopped else "no broker started by this project is running")
            if args.wipe:
                broker.wipe()
                print(f"data wiped: {broker.data_dir}")
            return 0
        info = broker.status()
        if args.json:
            _print_json(info)
        else:
            state = "running" if info["running"] else "not running"
            answers = "answers" if info["answers"] else "does not answer"
            print(f"broker {state}; {info['bootstrap']} {answers}")
            for key in ("pid", "kafka_version", "home", "log_dir", "jars"):
                if key in info:
                    print(f"  {key}: {info[key]}")
        return 0 if info["running"] and info["answers"] else 1
    except BrokerError as exc:
        print(f"claims broker {args.action}: {exc}", file=sys.stderr)
        return 1


# --- topics -------------------------------------------------------------------


def cmd_topics(args: argparse.Namespace) -> int:
    from workers.runtime.topics import Catalogue

    settings = _settings()
    catalogue = Catalogue(settings)
    if args.action == "list":
        rows = [
            (
                settings.topic(s.name),
                catalogue.partitions(s.name),
                s.cleanup,
                s.key,
                s.value,
            )
            for s in catalogue
        ]
        if args.json:
            _print_json(
                [
                    {"topic": r[0], "partitions": r[1], "cleanup": r[2], "key": r[3], "value": r[4]}
                    for r in rows
                ]
            )
        else:
            print(_table(rows, ["topic", "partitions", "cleanup", "key", "value"]))
        return 0
    from workers.runtime.admin import ensure_topics

    try:
        reports = ensure_topics(settings, catalogue)
    except Exception as exc:
        print(
            f"claims topics create: cannot reach Kafka at "
            f"{settings.kafka_bootstrap_servers}: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    if args.json:
        _print_json([r.__dict__ for r in reports])
    else:
        print(
            _table(
                [(r.physical, r.partitions, r.status, r.detail) for r in reports],
                ["topic", "partitions", "status", "detail"],
            )
        )
        created = sum(r.status == "created" for r in reports)
        print(f"{len(reports)} topics: {created} created, {len(reports) - created} already present")
    return 1 if any(r.status == "mismatch" for r in reports) else 0


# --- workers ------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.engine import resolve, run_worker

    names = args.names
    if names == ["inbox"]:
        from workers.inbound.inbox import watch
        from workers.runtime.logging import configure_logging

        settings = _settings()
        configure_logging(settings.log_level, settings.log_format)
        watch(settings, poll_s=settings.inbox_poll_interval_s)
        return 0
    if names == ["mailbox"]:
        from workers.partners.worker import run
        from workers.runtime.logging import configure_logging

        settings = _settings(**({"web_port": args.web_port} if args.web_port else {}))
        configure_logging(settings.log_level, settings.log_format)
        run(settings)
        return 0
    try:
        resolve(names)
    except KeyError as exc:
        print(f"claims worker: {exc.args[0]}", file=sys.stderr)
        return 2
    overrides: dict[str, Any] = {}
    if args.web_port is not None:
        overrides["web_port"] = args.web_port
    run_worker(_settings(**overrides), names)
    return 0


def cmd_ingest_835(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edi.segments import X12Error
    from workers.inbound.inbox import producer_for
    from workers.inbound.remittances import ingest_file

    settings = _settings()
    producer = producer_for(settings)
    status = 0
    try:
        for name in args.files:
            path = Path(name)
            if not path.is_file():
                print(f"{name}: cannot read: no such file", file=sys.stderr)
                status = max(status, 2)
                continue

            def send(
                topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
            ) -> None:
                producer.send(topic, key=key, value=value, headers=headers)

            try:
                report = ingest_file(path, send, settings.topic, settings.max_edi_file_bytes)
                producer.flush()
            except (X12Error, ValueError) as exc:
                print(f"{name}: not ingested: {exc}", file=sys.stderr)
                status = max(status, 1)
                continue
            print(
                f"{name}: {len(report.transactions)} transaction(s), "
                f"{report.posted_claims} claim payment(s) published"
            )
            for tx in report.unbalanced:
                print(
                    f"{name}: transaction {tx.control_number} does not balance and went to "
                    f"the dead-letter topic: {'; '.join(tx.problems)}",
                    file=sys.stderr,
                )
                status = max(status, 1)
    finally:
        producer.close()
    return status


def cmd_ingest_deposits(args: argparse.Namespace) -> int:
    from workers.commands.deposits import ingest_main

    return ingest_main(_settings(), args.files)


def cmd_ingest_ack(args: argparse.Namespace) -> int:
    from workers.commands.acks import ingest_ack_main

    return ingest_ack_main(_settings(), args.files, args.what)


def cmd_ingest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workers.inbound.clinic_files import ingest_file

    settings = _settings()
    kind = args.what if args.what in ("sessions", "payments") else args.kind
    failed = False
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            print(f"{name}: cannot read: no such file", file=sys.stderr)
            failed = True
            continue
        try:
            report = ingest_file(settings, kind, path, dry_run=args.dry_run)
        except Exception as exc:
            print(f"{name}: cannot ingest: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
        for err in report.errors:
            for problem in err.problems:
                print(f"{name}:{err.line}: {problem}", file=sys.stderr)
        verb = "valid" if args.dry_run else f"produced to {report.topic}"
        print(
            f"{name}: {report.lines} lines, {report.lines - len(report.errors)} {verb}"
            + (f" ({report.tombstones} tombstones)" if report.tombstones else "")
            + (f", {len(report.errors)} refused" if report.errors else "")
        )
        failed = failed or not report.ok
    return 1 if failed else 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from pathlib import Path

    from schemas.export import export

    for path in export(Path(args.directory)):
        print(path)
    return 0


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line and exit status 2 (for scripted commands)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def cmd_units(args: argparse.Namespace) -> int:
    import re

    from workers.pricing import timed_units
    from workers.pricing.data_files import default_untimed_codes

    entries: list[tuple[str, int]] = []
    for item in args.entries:
        code, sep, minutes = item.partition("=")
        if not sep or not re.fullmatch(r"[0-9A-Z]{5}", code):
            raise UsageError(f"{item!r}: expected CODE=MINUTES with a 5-character code like 97140")
        if not re.fullmatch(r"[0-9]+", minutes) or int(minutes) <= 0:
            raise UsageError(f"{item!r}: minutes must be a positive integer")
        entries.append((code, int(minutes)))
    untimed = default_untimed_codes()
    result = timed_units.compute(args.policy, entries, untimed)
    data = {
        "policy": args.policy,
        "total_minutes": sum(r.minutes for r in result if r.timed),
        "total_units": sum(r.units for r in result),
        "lines": [{"code": r.code, "minutes": r.minutes, "units": r.units} for r in result],
    }
    if args.json:
        _print_json(data)
        return 0
    rows = [(r.code, r.minutes, r.units, "timed" if r.timed else "untimed") for r in result]
    print(_table(rows, ["code", "minutes", "units", "kind"]))
    print(
        f"policy {args.policy}: {data['total_minutes']} timed minutes, {data['total_units']} units"
    )
    return 0


def cmd_price(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workers.commands.day_price import PriceInputError, quote, table

    try:
        q = quote(
            payers=Path(args.payers),
            payer_id=args.payer,
            day_text=args.date,
            visits=args.visit,
            clinics=Path(args.clinics) if args.clinics else None,
            clinic_id=args.clinic,
        )
    except PriceInputError as exc:
        raise UsageError(str(exc)) from None
    if args.json:
        _print_json(q.as_json())
    else:
        print(table(q))
    return 0


def cmd_write_off(args: argparse.Namespace) -> int:
    from workers.commands import write_offs

    settings = _settings()
    try:
        command = write_offs.build(settings, args.pcn, args.reason, args.line, args.amount)
    except write_offs.WriteOffInputError as exc:
        raise UsageError(str(exc)) from None
    write_offs.send(settings, command)
    what = f"line {args.line} of claim" if args.line else "claim"
    print(f"write-off requested for {what} {args.pcn} (recorded by the reconciliation)")
    return 0


def cmd_claim(args: argparse.Namespace) -> int:
    from workers.commands.claim_changes import ClaimNotFound, build_command, send_command

    settings = _settings()
    fields: dict[str, Any] = {"reason": args.reason}
    if args.action in ("correct", "resend"):
        units: dict[int, int] = {}
        for item in args.units or []:
            line, sep, value = item.partition("=")
            if not sep or not line.isdigit() or not value.isdigit():
                raise UsageError(f"--units {item!r}: expected LINE=UNITS, e.g. 2=1")
            units[int(line)] = int(value)
        if args.action == "correct" and not units and not args.diagnosis:
            raise UsageError("a correction needs --units LINE=UNITS and/or --diagnosis CODE")
        fields.update(line_units=units or None, diagnosis_codes=args.diagnosis or None)
    if args.action == "payer-number":
        fields = {"payer_claim_number": args.number}
    action = {"payer-number": "payer-claim-number"}.get(args.action, args.action)
    try:
        command = build_command(settings, action, args.pcn, args.receiver, **fields)
        send_command(settings, command)
    except ClaimNotFound as exc:
        print(f"claims claim {args.action}: {exc}", file=sys.stderr)
        return 1
    if action == "status":
        print(f"status inquiry requested for claim {args.pcn} (receiver {command.receiver_id}): "
              f"the claims worker writes the 276 to {settings.outbox_dir / '276'}")
        return 0
    print(f"{action} requested for claim {args.pcn} (receiver {command.receiver_id})")
    return 0


def cmd_edi(args: argparse.Namespace) -> int:
    if args.action in ("parse-999", "parse-277"):
        from workers.commands.acks import parse_ack_main

        kind = args.action.removeprefix("parse-")
        return parse_ack_main(args.file, kind, args.json, max_bytes=_settings().max_edi_file_bytes)
    if args.action == "ack-835":
        from workers.commands.acks import ack_835_main

        return ack_835_main(
            args.file, args.out, args.control_number, max_bytes=_settings().max_edi_file_bytes
        )
    if args.action == "parse-835":
        from workers.commands.edi835 import parse_835_main

        return parse_835_main(
            args.file, args.json, max_bytes=_settings().max_edi_file_bytes, strict=args.strict
        )
    if args.action == "validate":
        from workers.commands.edi837 import validate_main

        return validate_main(args.files, max_bytes=_settings().max_edi_file_bytes)
    from workers.commands.edi837 import render_main

    return render_main(args.claims, args.partner, args.control_number)


def _month_argument(month: str | None) -> str | None:
    import re

    if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise UsageError("--month: YYYY-MM")
    return month


def cmd_report(args: argparse.Namespace) -> int:
    from workers.remits.reports import aging_report, denials_report, load_ledgers

    settings = _settings()
    if args.action == "prescriptions":
        from workers.commands import prescriptions

        table = prescriptions.rows(prescriptions.load_events(settings), args.kind)
        if args.json:
            print(prescriptions.as_json(table))
            return 0
        rows, headers = table, prescriptions.HEADERS
    elif args.action == "copays":
        from datetime import UTC, datetime

        from workers.commands import copays
        from workers.eligibility.copays import HEADERS as COPAY_HEADERS

        lines = copays.load_lines(settings, args.clinic, _month_argument(args.month))
        if args.json:
            print(copays.as_json(lines, datetime.now(UTC).date()))
            return 0
        rows, headers = [line.cells() for line in lines], COPAY_HEADERS
    elif args.action == "deposits":
        from workers.commands import deposits
        from workers.deposits.report import HEADERS

        month = _month_argument(args.month)
        found = deposits.report_table(settings, month)
        if args.json:
            print(deposits.as_json(found, month))
            return 0
        rows, headers = [r.cells() for r in found], HEADERS
    elif args.action == "follow-up":
        from datetime import UTC, datetime

        from workers.commands.acks import (
            FOLLOW_UP_HEADERS,
            follow_up_json,
            follow_up_rows,
            load_claim_records,
        )

        days = args.days if args.days is not None else settings.claims_follow_up_days
        rows = follow_up_rows(load_claim_records(settings), datetime.now(UTC), days)
        if args.json:
            print(follow_up_json(rows))
            return 0
        headers = FOLLOW_UP_HEADERS
    else:
        from workers.remits.reports import cob_report, credits_report

        ledgers = load_ledgers(settings)
        if args.action == "provider-adjustments":
            from workers.commands.provider_adjustments import load_transactions
            from workers.remits import provider_adjustments

            rows, headers = provider_adjustments.report(load_transactions(settings), ledgers)
        elif args.action == "credits":
            from datetime import UTC, datetime

            from workers.commands.statements import load_sources
            from workers.remits import patient_ledger

            sources = load_sources(settings, datetime.now(UTC))
            accounts = patient_ledger.accounts(
                sources.rows, sources.superbills, sources.payments, sources.refunds
            )
            rows, headers = credits_report(ledgers, accounts=accounts.values())
        else:
            report = {"ar": aging_report, "denials": denials_report, "cob": cob_report}[args.action]
            rows, headers = report(ledgers)
    if args.csv:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(headers)
        writer.writerows(rows)
    else:
        print(_table(rows, headers))
    return 0


def cmd_post_eob(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workers.inbound.paper_eobs import EobReport, read
    from workers.runtime import kafka_clients

    settings = _settings()
    failed = False
    producer = None if args.dry_run else kafka_clients.producer(settings, client_id="claims-eob")
    try:
        for name in args.files:
            path = Path(name)
            if not path.is_file():
                print(f"{name}: cannot read: no such file", file=sys.stderr)
                failed = True
                continue
            report = EobReport()
            for record in read(path, report):
                if producer is not None:
                    producer.send(
                        settings.topic(record.topic),
                        key=record.key,
                        value=record.value,
                        headers=list(record.headers),
                    )
            for line, problems in report.errors:
                for problem in problems:
                    print(f"{name}:{line}: {problem}", file=sys.stderr)
            failed = failed or bool(report.errors)
            verb = "valid" if args.dry_run else "posted to remits.835.inbound"
            print(f"{name}: {report.lines} claims, {report.posted} {verb}")
        if producer is not None:
            producer.flush()
    finally:
        if producer is not None:
            producer.close()
    return 1 if failed else 0


def cmd_codes(args: argparse.Namespace) -> int:
    from datetime import date
    from pathlib import Path

    from schemas.code_sets import icd10cm

    settings = _settings()
    if args.action == "list":
        for release in icd10cm.releases(settings.code_sets):
            print(f"{release.effective}  {release.label}  ({release.source})")
        return 0
    try:
        effective = date.fromisoformat(args.effective)
    except ValueError:
        raise UsageError(f"--effective {args.effective!r}: expected a date YYYY-MM-DD") from None
    try:
        release = icd10cm.load_cms_order_file(
            Path(args.file), effective, settings.code_sets, label=args.label
        )
    except (OSError, ValueError) as exc:
        print(f"claims codes load-icd10cm: {exc}", file=sys.stderr)
        return 1
    print(f"{release.label}, in force from {release.effective}")
    print(f"kept in {settings.code_sets}")
    return 0


def cmd_attachment(args: argparse.Namespace) -> int:
    from workers.commands import attachments

    try:
        pcn = attachments.mark_sent(_settings(), args.control_number, args.via, args.note)
    except attachments.NotDue as exc:
        print(f"claims attachment sent: {exc}", file=sys.stderr)
        return 2
    print(f"attachment {args.control_number} of claim {pcn} recorded as sent by {args.via}")
    return 0


def cmd_credit(args: argparse.Namespace) -> int:
    from datetime import date

    from workers.commands import credits

    settings = _settings()
    try:
        on = date.fromisoformat(args.on) if args.on else None
    except ValueError:
        raise UsageError(f"--on {args.on!r}: expected a date YYYY-MM-DD") from None
    try:
        if args.to == "payer":
            if not args.claim:
                raise credits.RefundRefused("--claim: required for a refund to a payer")
            clinic, credit = credits.claim_credit(settings, args.claim)
        else:
            if not (args.clinic and args.patient):
                raise credits.RefundRefused("--clinic and --patient: required for a patient refund")
            clinic = args.clinic
            credit = credits.patient_credit(settings, clinic, args.patient)
        refund = credits.build(
            settings,
            to=args.to,
            clinic_id=clinic,
            amount=args.amount,
            reference=args.reference,
            reason=args.reason,
            refunded_on=on,
            patient_id=args.patient,
            claim=args.claim,
        )
        if refund.amount > credit:
            raise credits.RefundRefused(
                f"--amount: more than the credit ({credit:.2f}); see `claims report credits`"
            )
    except credits.RefundRefused as exc:
        print(f"claims credit refund: {exc}", file=sys.stderr)
        return 2
    credits.send(settings, refund)
    print(f"refund of {refund.amount:.2f} to the {args.to} recorded ({refund.key})")
    return 0


def cmd_remits(args: argparse.Namespace) -> int:
    if args.action == "reviewed":
        from workers.commands import remittance_review

        try:
            name = remittance_review.mark_reviewed(_settings(), args.sha256, args.reason)
        except (remittance_review.NotOnQueue, ValueError) as exc:
            print(f"claims remits reviewed: {exc}", file=sys.stderr)
            return 2
        print(f"835 file {name} marked reviewed")
        return 0
    if args.action in ("link", "dismiss"):
        from workers.commands import provider_adjustments as plb

        try:
            if args.action == "link":
                done = plb.link(_settings(), args.item, args.to, args.reason)
                print(f"provider-level adjustment {done} sent to claim {args.to}")
            else:
                done = plb.dismiss(_settings(), args.item, args.reason)
                print(f"provider-level adjustment {done} dismissed")
        except (plb.NotOnQueue, ValueError) as exc:
            print(f"claims remits {args.action}: {exc}", file=sys.stderr)
            return 2
        return 0
    from workers.commands.payment_assignment import send_assign

    send_assign(_settings(), args.posting_id, args.filed_under, args.to)
    print(f"payment {args.posting_id} assigned to claim {args.to}")
    return 0


def cmd_statements(args: argparse.Namespace) -> int:
    import re

    from workers.commands.statements import issue

    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", args.period):
        raise UsageError("--period: expected YYYY-MM, e.g. 2026-03")
    rows = issue(_settings(), args.period)
    if args.json:
        _print_json(rows)
        return 0
    headers = ["statement", "claims", "total due", "file", "status"]
    print(_table([[r[h] for h in headers] for r in rows], headers))
    return 0


def cmd_superbill(args: argparse.Namespace) -> int:
    from workers.commands.superbill import superbill_main

    return superbill_main(_settings(), args.session, args.out)


def cmd_eligibility(args: argparse.Namespace) -> int:
    from datetime import date

    from workers.commands.eligibility import check_main

    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        raise UsageError(f"--date {args.date!r}: expected a date YYYY-MM-DD") from None
    return check_main(_settings(), args.patient, day)


def _is_270(path: str) -> bool:
    """Whether the file's first group is a 270's (``HS``); anything unreadable is not
    (the 837 path then refuses it with its own message, devices and FIFOs unread)."""
    from workers.inbound.acknowledgements import sniff
    from workers.runtime.limits import open_limited

    try:
        with open_limited(path, None) as fh:
            return sniff(fh.read(8192)) == "HS"
    except (OSError, ValueError):
        return False


def cmd_simulate_payer(args: argparse.Namespace) -> int:
    from workers.commands.simulate_payer import (
        is_276,
        simulate_front_door_main,
        simulate_payer_main,
        simulate_status_main,
    )

    if _is_270(args.file):
        from workers.commands.eligibility import simulate_main

        return simulate_main(args.file, max_bytes=_settings().max_edi_file_bytes)
    if args.answer or is_276(args.file):
        if args.acknowledge or args.reject or args.rules:
            raise UsageError("a 276 is answered with a 277: --acknowledge, --reject and --rules "
                             "are for 837 files")
        answers: dict[str, str] = {}
        for item in args.answer:
            pcn, sep, answer = item.partition("=")
            if not pcn or not sep or not answer:
                raise UsageError(f"--answer {item!r}: expected PCN=ANSWER, e.g. PCN1=pending")
            answers[pcn] = answer
        return simulate_status_main(args.file, answers, max_bytes=_settings().max_edi_file_bytes)
    if args.acknowledge:
        reject: dict[str, tuple[str, str | None, str | None]] = {}
        for item in args.reject:
            pcn, _, status = item.partition("=")
            parts = (status or "A7:562:85").split(":")
            if not pcn or not parts[0]:
                raise UsageError(f"--reject {item!r}: expected PCN or PCN=CATEGORY:CODE:ENTITY")
            parts += [""] * (3 - len(parts))
            reject[pcn] = (parts[0], parts[1] or None, parts[2] or None)
        return simulate_front_door_main(
            args.file, args.acknowledge, reject, max_bytes=_settings().max_edi_file_bytes
        )
    if args.reject:
        raise UsageError("--reject needs --acknowledge DIR")
    return simulate_payer_main(args.file, args.rules, max_bytes=_settings().max_edi_file_bytes)


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from workers.demo.run import DemoError, print_summary, run_demo
    from workers.runtime.local_broker import BrokerError

    settings = _settings(log_level="WARNING")
    try:
        result = run_demo(
            settings,
            clinics=args.clinics,
            sessions=args.sessions,
            seed=args.seed,
            out_dir=Path(args.out),
            keep_broker=args.keep_broker,
        )
    except (DemoError, BrokerError) as exc:
        print(f"claims demo: {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(result.summary)
    else:
        print_summary(result)
    return 0 if result.summary["consistent"] else 1


def _dlq_filters(args: argparse.Namespace) -> Any:
    from datetime import UTC, datetime

    from workers.ops.dead_letter_review import Filters

    since = None
    if getattr(args, "since", None):
        try:
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--since {args.since!r}: expected an ISO date or time") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    return Filters(
        topic=getattr(args, "topic", None),
        reason=getattr(args, "reason", None),
        clinic=getattr(args, "clinic", None),
        since=since,
        ids=list(getattr(args, "ids", None) or []),
        include_closed=getattr(args, "all_states", False),
    )


def cmd_dlq(args: argparse.Namespace) -> int:
    from workers.ops import dead_letter_review as dlq
    from workers.ops.audit import audit, require_reveal

    settings = _settings()
    filters = _dlq_filters(args)
    if args.action == "show":
        filters.ids = [args.id]
        filters.include_closed = True
    try:
        letters = dlq.select(settings, filters)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    if args.action == "list":
        rows = [dl.row() for dl in letters]
        if args.json:
            _print_json(
                {
                    "dead_letters": rows,
                    "counts": [
                        {"topic": t, "reason": r, "count": n}
                        for t, r, n in dlq.grouped_counts(letters)
                    ],
                }
            )
            return 0
        print(
            _table(
                [
                    (
                        r["id"],
                        r["reason"],
                        r["error_class"],
                        r["clinic"],
                        r["failed_at"],
                        r["attempts"],
                        r["status"],
                        r["message"][:60],
                    )
                    for r in rows
                ],
                ["id", "reason", "error", "clinic", "failed at", "tries", "status", "message"],
            )
        )
        print()
        print(_table(dlq.grouped_counts(letters), ["original topic", "reason", "count"]))
        return 0
    if args.action == "show":
        if not letters:
            print(f"claims dlq show: no dead letter {args.id}", file=sys.stderr)
            return 1
        dl = letters[0]
        if args.reveal:
            try:
                require_reveal(settings)
            except PermissionError as exc:
                print(f"claims dlq show: {exc}", file=sys.stderr)
                return 1
            audit(settings, "dlq-reveal", 1, [dl.id])
        payload = dlq.decoded_payload(dl, args.reveal)
        stack = dl.info.pop("error.stacktrace", "")
        _print_json(
            {
                **dl.row(),
                "key": dl.key.decode(errors="replace") if dl.key else None,
                "dead_letter_headers": dl.info,
                "original_headers": {
                    k: v.decode(errors="replace")
                    for k, v in dl.headers
                    if not k.startswith("claims.")
                },
                "payload": payload,
            }
        )
        if stack:
            print("\nstack trace:\n" + stack)
        return 0
    if args.action == "replay":
        if not (
            filters.ids
            or args.all
            or filters.topic
            or filters.reason
            or filters.clinic
            or filters.since
        ):
            raise UsageError("name dead letters by id, or use --all or a filter")
        report = dlq.replay(
            settings, letters, force=args.force, dry_run=args.dry_run, filters=filters.as_dict()
        )
        verb = "would replay" if args.dry_run else "replayed"
        print(f"{verb} {len(report.replayed)} dead letter(s)")
        for dl_id in report.refused:
            print(f"refused {dl_id}: already replayed or resolved (use --force)", file=sys.stderr)
        return 1 if report.refused and not report.replayed else 0
    if not args.yes:
        raise UsageError("purge marks dead letters resolved; confirm with --yes")
    if not (filters.ids or filters.topic or filters.reason or filters.clinic or filters.since):
        raise UsageError("name dead letters by id, or use a filter")
    done = dlq.purge(settings, letters, filters.as_dict())
    print(f"marked {len(done)} dead letter(s) resolved (they stay on their topic until retention)")
    return 0


def cmd_queue(args: argparse.Namespace) -> int:
    from workers.ops import queues
    from workers.ops.audit import audit, require_reveal

    settings = _settings()
    queue = args.queue if args.action != "show" else args.id.rsplit(":", 2)[0]
    try:
        items = queues.current_items(settings, queue)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None
    if getattr(args, "reason", None):
        items = [
            i
            for i in items
            if i.body.get("reason") == args.reason or args.reason in i.row()["reason"]
        ]
    if getattr(args, "ids", None):
        items = [i for i in items if i.id in args.ids]
    if args.action == "list":
        rows = [i.row() for i in items]
        if args.json:
            _print_json({"queue": queue, "items": rows})
        else:
            headers = list(rows[0]) if rows else ["id", "reason", "message", "since"]
            print(_table([[str(r.get(h) or "")[:70] for h in headers] for r in rows], headers))
            print(f"{len(rows)} item(s) in {queue}")
        return 0
    if args.action == "show":
        found = [i for i in items if i.id == args.id]
        if not found:
            print(f"claims queue show: {args.id} is not a current item", file=sys.stderr)
            return 1
        if args.reveal:
            try:
                require_reveal(settings)
            except PermissionError as exc:
                print(f"claims queue show: {exc}", file=sys.stderr)
                return 1
            audit(settings, "queue-reveal", 1, [args.id])
        _print_json(queues.shown(found[0], args.reveal))
        return 0
    if queue != "sessions.rejected":
        raise UsageError("retry applies to sessions.rejected")
    sent, skipped = queues.retry_rejected(settings, items, args.reason)
    print(f"asked for {len(sent)} rejected session(s) to be checked again")
    for item_id in skipped:
        print(f"skipped {item_id}: a conflicting duplicate needs a person", file=sys.stderr)
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    if args.reference:
        from workers.runtime.settings_doc import reference

        print(reference())
        return 0
    _print_json(_settings().redacted())
    return 0


# --- parser -------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from workers.ops.overview import WORK_QUEUES

    parser = argparse.ArgumentParser(
        prog="claims",
        description="Claims engine for medical-massage billing on Apache Kafka.",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=OneLineParser
    )

    p = sub.add_parser("broker", help="start, stop or inspect the local Apache Kafka broker")
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.add_argument("--wipe", action="store_true", help="with stop: delete the broker's data")
    p.add_argument(
        "--state-file", help="with start: write 'started' or 'reused' to this file (scripts)"
    )
    p.set_defaults(func=cmd_broker)

    p = sub.add_parser("topics", help="create/verify or list the catalogue's topics")
    p.add_argument("action", choices=["create", "list"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_topics)

    p = sub.add_parser("worker", help="run stream processors (one name, several, or 'all')")
    p.add_argument("names", nargs="+", metavar="NAME", help="processor name(s) or 'all'")
    p.add_argument("--web-port", type=int, help="port of this worker's web view")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("ingest", help="validate JSON-lines files and produce them to topics")
    isub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    q = isub.add_parser("sessions", help="session events onto sessions.completed")
    q.add_argument("files", nargs="+", metavar="FILE.jsonl")
    q.add_argument("--dry-run", action="store_true", help="validate only")
    q.set_defaults(func=cmd_ingest)
    q = isub.add_parser(
        "payments",
        help="front-desk patient payments (JSON lines: clinic_id, patient_id, amount, paid_on, "
        "method, reference) onto payments.patient; a reference is recorded once per clinic",
    )
    q.add_argument("files", nargs="+", metavar="FILE.jsonl")
    q.add_argument("--dry-run", action="store_true", help="validate only")
    q.set_defaults(func=cmd_ingest)
    q = isub.add_parser("835", help="835 remittance files onto remits.835.inbound")
    q.add_argument("files", nargs="+", metavar="FILE")
    q.set_defaults(func=cmd_ingest_835)
    q = isub.add_parser(
        "deposits",
        help="bank deposit files (BAI2, or CSV: date, amount, trace_number, payer_id) onto "
        "deposits.inbound, to be matched to 835s",
    )
    q.add_argument("files", nargs="+", metavar="FILE")
    q.set_defaults(func=cmd_ingest_deposits)
    for kind, text in (("999", "999 acknowledgements"), ("277", "277CA claim acknowledgements")):
        q = isub.add_parser(kind, help=f"{text} onto acks.inbound")
        q.add_argument("files", nargs="+", metavar="FILE")
        q.set_defaults(func=cmd_ingest_ack)
    q = isub.add_parser("ref", help="reference data onto ref.<kind>")
    q.add_argument(
        "kind",
        choices=[
            "clinics",
            "therapists",
            "patients",
            "payers",
            "prescriptions",
            "authorizations",
            "partners",
        ],
    )
    q.add_argument("files", nargs="+", metavar="FILE.jsonl")
    q.add_argument("--dry-run", action="store_true", help="validate only")
    q.set_defaults(func=cmd_ingest)

    p = sub.add_parser("schemas", help="export the JSON Schema of every public contract")
    ssub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = ssub.add_parser("export", help="write <name>.schema.json files into DIR")
    q.add_argument("directory", metavar="DIR")
    q.set_defaults(func=cmd_schemas)

    p = sub.add_parser(
        "units", help="minutes to 15-minute units (CMS 8-minute rule or AMA per code)"
    )
    p.add_argument("--policy", required=True, choices=["cms", "ama"])
    p.add_argument("entries", nargs="+", metavar="CODE=MINUTES")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_units)

    p = sub.add_parser(
        "price",
        help="price one patient's day of service as its claim would bill it (no broker)",
        description="Price the visits of one day exactly as the claims stage does when the "
        "day closes: code-pair edits before units, the payer's CMS or AMA rule over the "
        "day's minutes, modifiers, caps per day, charges and expected payment.",
    )
    p.add_argument("--payers", required=True, metavar="FILE", help="payers (JSON lines)")
    p.add_argument("--payer", required=True, metavar="ID")
    p.add_argument("--clinics", metavar="FILE", help="clinics (JSON lines), for charges")
    p.add_argument("--clinic", metavar="ID")
    p.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the date of service")
    p.add_argument(
        "--visit",
        required=True,
        action="append",
        metavar="CODE=MIN[@REGION][,...]",
        help="one visit of the day (repeat for each visit, in the order they happened)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_price)

    p = sub.add_parser("claim", help="void, correct or ask about a submitted claim")
    csub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (
        ("void", "send a void (frequency 8)"),
        ("correct", "send a replacement (frequency 7) with edits"),
        ("resend", "send a claim the front door rejected again, as a new original (frequency 1)"),
        ("payer-number", "record the payer's claim number (REF*F8)"),
        ("status", "ask the payer where the claim stands (a 276 in <outbox>/276/)"),
    ):
        q = csub.add_parser(name, help=text)
        q.add_argument("pcn", metavar="PATIENT_CONTROL_NUMBER")
        if name == "payer-number":
            q.add_argument("number", metavar="PAYER_CLAIM_NUMBER")
        q.add_argument("--receiver", help="the claim's receiver (else looked up)")
        q.add_argument("--reason", help="why (kept with the claim's history)")
        if name in ("correct", "resend"):
            q.add_argument("--units", nargs="*", metavar="LINE=UNITS")
            q.add_argument("--diagnosis", nargs="*", metavar="ICD10")
        q.set_defaults(func=cmd_claim)
    q = csub.add_parser(
        "write-off",
        help="write off what a payer leaves open on a claim (audited; undone if money comes)",
    )
    q.add_argument("pcn", metavar="PATIENT_CONTROL_NUMBER")
    q.add_argument("--line", type=int, help="one line (default: the whole claim)")
    q.add_argument("--amount", help="how much (default: all that is open)")
    q.add_argument("--reason", required=True, help="why (kept with the claim, audited)")
    q.set_defaults(func=cmd_write_off)

    from workers.runtime.limits import VALIDATE_FILE_BYTES

    p = sub.add_parser("edi", help="X12 tools: validate, render 837P, parse 835")
    esub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = esub.add_parser(
        "validate",
        help="validate X12 files against their implementation guide",
        description=(
            "Validate X12 files with pyx12 against their implementation guide. pyx12 holds "
            f"the whole file in memory: files over {VALIDATE_FILE_BYTES:,} bytes (10 MB) are "
            "refused (exit 2), whatever CLAIMS_MAX_EDI_FILE_BYTES allows the readers."
        ),
    )
    q.add_argument("files", nargs="+", metavar="FILE")
    q.set_defaults(func=cmd_edi)
    q = esub.add_parser("render-837", help="render claims (JSON lines) as an 837P to stdout")
    q.add_argument("claims", metavar="CLAIMS.jsonl")
    q.add_argument(
        "--partner", metavar="PARTNER.json", help="trading partner (default: a test one)"
    )
    q.add_argument("--control-number", type=int, default=1)
    q.set_defaults(func=cmd_edi)
    q = esub.add_parser("parse-835", help="parse and balance an 835 remittance")
    q.add_argument("file", metavar="FILE")
    q.add_argument("--json", action="store_true", help="the canonical JSON shape")
    q.add_argument(
        "--strict",
        action="store_true",
        help="refuse envelope faults (wrong trailer counts, an ISA not padded) instead of "
        "reading them as warnings",
    )
    q.set_defaults(func=cmd_edi)
    for kind, text in (("999", "a 999 acknowledgement"), ("277", "a 277CA or 277 claim status")):
        q = esub.add_parser(f"parse-{kind}", help=f"parse {text}")
        q.add_argument("file", metavar="FILE")
        q.add_argument("--json", action="store_true", help="the canonical JSON shape")
        q.set_defaults(func=cmd_edi)
    q = esub.add_parser(
        "ack-835",
        help="the 999 answering an 835 we received (stdout)",
        description=(
            "Validate an 835 with pyx12 and write the 999 that answers it. Files over "
            f"{VALIDATE_FILE_BYTES:,} bytes (10 MB, pyx12's limit) are refused (exit 2)."
        ),
    )
    q.add_argument("file", metavar="FILE")
    q.add_argument("--out", metavar="FILE.999", help="write it (atomically, mode 0600) here")
    q.add_argument("--control-number", type=int, default=1, help="ISA13/GS06 of the 999")
    q.set_defaults(func=cmd_edi)

    p = sub.add_parser("report", help="accounts receivable and denials reports")
    rsub = p.add_subparsers(dest="action", required=True, metavar="REPORT")
    for name, text in (
        ("ar", "what payers owe, by days since the date of service, clinic and payer"),
        ("denials", "open denials (not appealed or written off), per claim, with reasons"),
        ("credits", "credit balances of payers (per claim) and patients, until refunded"),
        ("follow-up", "claims taken in at the front door with no 835 after N days"),
        ("cob", "claims followed through primary and secondary payers"),
        (
            "provider-adjustments",
            "PLB per payer and month: interest, recoupments, forward balances, unlinked",
        ),
        (
            "prescriptions",
            "progress reports and renewals due to prescribers; authorizations and payer "
            "visit limits running out",
        ),
        ("deposits", "835 amounts posted against money deposited, per payer and month"),
        ("copays", "copays to collect at each insured visit, from the payers' 271s"),
    ):
        q = rsub.add_parser(name, help=text)
        q.add_argument("--csv", action="store_true", help="CSV instead of a table")
        if name == "follow-up":
            q.add_argument("--days", type=int, help="default: CLAIMS_CLAIMS_FOLLOW_UP_DAYS (30)")
        if name in ("follow-up", "prescriptions", "deposits", "copays"):
            q.add_argument("--json", action="store_true", help="JSON instead of a table")
        if name in ("deposits", "copays"):
            q.add_argument("--month", metavar="YYYY-MM", help="only this month")
        if name == "copays":
            q.add_argument("--clinic", help="only this clinic's visits")
        if name == "prescriptions":
            q.add_argument(
                "--kind",
                choices=[
                    "progress-report-due",
                    "visits-running-out",
                    "prescription-expiring",
                    "authorization-running-out",
                    "payer-visit-limit",
                ],
            )
        q.set_defaults(func=cmd_report)

    p = sub.add_parser("codes", help="the ICD-10-CM releases diagnoses are checked against")
    csub2 = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = csub2.add_parser("list", help="the releases in use (shipped and loaded)")
    q.set_defaults(func=cmd_codes)
    q = csub2.add_parser(
        "load-icd10cm", help="add a newer release from a CMS order file (icd10cm-order-*.txt)"
    )
    q.add_argument("file", metavar="ORDER_FILE")
    q.add_argument("--effective", required=True, metavar="YYYY-MM-DD", help="e.g. 2026-10-01")
    q.add_argument("--label", help="e.g. 'FY2027 (October 2026)'")
    q.set_defaults(func=cmd_codes)

    p = sub.add_parser("attachment", help="documents claims announced in their PWK")
    asub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = asub.add_parser("sent", help="record that the document went to the payer (audited)")
    q.add_argument("control_number", metavar="CONTROL_NUMBER", help="the PWK06 number")
    q.add_argument(
        "--via", required=True, choices=["fax", "mail", "file-transfer", "e-mail", "portal"]
    )
    q.add_argument("--note", help="e.g. the fax confirmation")
    q.set_defaults(func=cmd_attachment)

    p = sub.add_parser("credit", help="resolve credit balances")
    csub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = csub.add_parser(
        "refund", help="record a refund of a payer's or a patient's credit (audited)"
    )
    q.add_argument("--to", required=True, choices=["payer", "patient"])
    q.add_argument("--claim", metavar="PCN", help="the claim a payer has credit on")
    q.add_argument("--clinic", help="the patient's clinic")
    q.add_argument("--patient", help="the patient's id")
    q.add_argument("--amount", required=True, help="e.g. 25.00 (at most the credit)")
    q.add_argument("--reference", required=True, help="the check or transfer number")
    q.add_argument("--reason", required=True)
    q.add_argument("--on", metavar="YYYY-MM-DD", help="the refund's date (default: today)")
    q.set_defaults(func=cmd_credit)

    p = sub.add_parser("post", help="post payments that came without an 835")
    psub = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    q = psub.add_parser(
        "eob",
        help="paper EOBs (JSON lines, one claim each: patient_control_number, payer_id, "
        "check_number, check_date, charge, paid, adjustments, lines), posted like 835 "
        "payments, once per payer, check and claim",
    )
    q.add_argument("files", nargs="+", metavar="FILE.jsonl")
    q.add_argument("--dry-run", action="store_true", help="validate only")
    q.set_defaults(func=cmd_post_eob)

    p = sub.add_parser(
        "remits", help="unmatched payments, provider-level adjustments, 835s to review"
    )
    msub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = msub.add_parser("assign", help="post an unmatched payment to the right claim")
    q.add_argument("posting_id", metavar="POSTING_ID")
    q.add_argument(
        "--filed-under",
        required=True,
        metavar="CLP01",
        help="the patient control number the payment arrived with",
    )
    q.add_argument("--to", required=True, metavar="PCN", help="the claim it belongs to")
    q.set_defaults(func=cmd_remits)
    q = msub.add_parser(
        "link", help="link a provider-level adjustment from the work queue to its claim"
    )
    q.add_argument("item", metavar="PLB_ID", help="the item's id (<remittance id>/<n>)")
    q.add_argument("--to", required=True, metavar="PCN", help="the claim it belongs to")
    q.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    q.set_defaults(func=cmd_remits)
    q = msub.add_parser(
        "dismiss", help="close a provider-level adjustment that belongs to no claim (audited)"
    )
    q.add_argument("item", metavar="PLB_ID")
    q.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    q.set_defaults(func=cmd_remits)
    q = msub.add_parser(
        "reviewed",
        help="close the review of an 835 posted despite envelope faults (audited)",
    )
    q.add_argument("sha256", metavar="SHA256", help="the file's sha256 (at least 8 characters)")
    q.add_argument("--reason", required=True, help="e.g. 'payer told; money checked'")
    q.set_defaults(func=cmd_remits)

    p = sub.add_parser("statements", help="issue the patient statements of a period (PDF)")
    p.add_argument("--period", required=True, metavar="YYYY-MM", help="month of the postings")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_statements)

    p = sub.add_parser("superbill", help="render a self-pay or HSA session's superbill (PDF)")
    p.add_argument("session", metavar="SESSION_ID", help="<clinic_id>:<session_id>")
    p.add_argument("--out", metavar="FILE.pdf", help="default: <outbox>/superbills/<clinic>/")
    p.set_defaults(func=cmd_superbill)

    p = sub.add_parser("eligibility", help="ask payers about a patient's coverage (270)")
    elsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = elsub.add_parser("check", help="write a 270 per payer to <outbox>/270/")
    q.add_argument("patient", metavar="CLINIC:PATIENT")
    q.add_argument("--date", metavar="YYYY-MM-DD", help="the date asked about (default: today)")
    q.set_defaults(func=cmd_eligibility)

    p = sub.add_parser(
        "simulate-payer",
        help="answer an 837P with 835s, a 276 with a 277 or a 270 with a 271 (stdout)",
    )
    p.add_argument("file", metavar="FILE.837|FILE.276|FILE.270")
    p.add_argument("--rules", metavar="RULES.json", help="adjudication rules (default: shipped)")
    p.add_argument(
        "--acknowledge",
        metavar="DIR",
        help="answer at the front door instead: write a 999 and a 277CA into DIR",
    )
    p.add_argument(
        "--reject",
        nargs="*",
        default=[],
        metavar="PCN[=CAT:CODE:ENTITY]",
        help="with --acknowledge: claims the 277CA rejects (default status A7:562:85)",
    )
    p.add_argument(
        "--answer",
        nargs="*",
        default=[],
        metavar="PCN=ANSWER",
        help="for a 276 (answered with a 277 on stdout): pending, documentation, not-found "
        "or CAT:CODE[:ENTITY] for that claim (default: paid, F1:65)",
    )
    p.set_defaults(func=cmd_simulate_payer)

    p = sub.add_parser("demo", help="run the whole pipeline on synthetic data and account for it")
    p.add_argument("--clinics", type=_at_least(1), default=3)
    p.add_argument("--sessions", type=_at_least(30), default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="demo-out", metavar="DIR")
    p.add_argument("--json", action="store_true", help="print summary.json")
    p.add_argument(
        "--keep-broker", action="store_true", help="leave a broker the demo started running"
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("dlq", help="dead letters: list, show, replay, purge")
    dsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    def dlq_filters(q: argparse.ArgumentParser) -> None:
        q.add_argument("--topic", help="original or dead-letter topic")
        q.add_argument("--reason", help="error reason code, e.g. schema-invalid")
        q.add_argument("--clinic")
        q.add_argument("--since", help="ISO date/time of failure")

    q = dsub.add_parser("list", help="one row per dead letter, counts at the end")
    dlq_filters(q)
    q.add_argument("--all-states", action="store_true", help="include resolved ones")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_dlq)
    q = dsub.add_parser("show", help="one dead letter: headers, payload, stack trace")
    q.add_argument("id", metavar="ID")
    q.add_argument(
        "--reveal",
        action="store_true",
        help="unmasked patient data (authorised operators; audited)",
    )
    q.set_defaults(func=cmd_dlq)
    q = dsub.add_parser("replay", help="republish to the original topic")
    q.add_argument("ids", nargs="*", metavar="ID")
    q.add_argument("--all", action="store_true")
    dlq_filters(q)
    q.add_argument("--dry-run", action="store_true")
    q.add_argument("--force", action="store_true", help="replay again")
    q.set_defaults(func=cmd_dlq)
    q = dsub.add_parser("purge", help="mark dead letters resolved (audited)")
    q.add_argument("ids", nargs="*", metavar="ID")
    dlq_filters(q)
    q.add_argument("--yes", action="store_true")
    q.set_defaults(func=cmd_dlq)

    p = sub.add_parser(
        "queue",
        help="work queues: held/rejected sessions, denials, front-door rejections, changes "
        "waiting, coverage order, unmatched payments, provider-level adjustments",
    )
    wsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = wsub.add_parser("list", help="current items of a queue")
    q.add_argument("queue", choices=WORK_QUEUES)
    q.add_argument("--reason")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_queue)
    q = wsub.add_parser("show", help="one item (patient data masked unless --reveal)")
    q.add_argument("id", metavar="ID")
    q.add_argument("--reveal", action="store_true")
    q.set_defaults(func=cmd_queue)
    q = wsub.add_parser("retry", help="check rejected sessions again after a fix")
    q.add_argument("queue", choices=["sessions.rejected"])
    q.add_argument("ids", nargs="*", metavar="ID")
    q.add_argument("--reason")
    q.set_defaults(func=cmd_queue)

    p = sub.add_parser("settings", help="print the effective settings (secrets masked)")
    p.add_argument(
        "--reference",
        action="store_true",
        help="print the Markdown reference of every setting (docs/configuration.md)",
    )
    p.set_defaults(func=cmd_settings)

    return parser


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _is_kafka_error(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in ("kafka", "aiokafka")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Command = args.func
    from workers.runtime.connection import BrokerUnavailable, FailureRecorder

    recorder = FailureRecorder()
    try:
        with recorder:
            return func(args)
    except UsageError as exc:
        print(f"claims {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokerUnavailable as exc:
        print(f"claims {args.command}: {exc.message}", file=sys.stderr)
        return 3
    except Exception as exc:
        if not _is_kafka_error(exc):
            raise
        from workers.runtime.connection import diagnose

        explained = diagnose(_settings(), recorder)
        detail = explained.message if explained else f"Kafka error: {type(exc).__name__}: {exc}"
        print(f"claims {args.command}: {detail}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
