"""The deposit file readers: BAI2 (public samples and edge cases) and the plain CSV,
and deposit files onto ``deposits.inbound``."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

import pytest

from edi.bai2 import Bai2Error, Bai2Transaction, Bai2Warning, iter_bai2, reassociation_trace
from edi.deposit_csv import DepositCsvError, iter_deposit_csv
from schemas.deposits import Deposit
from workers.inbound.deposits import messages

DATA = Path(__file__).parents[1] / "data" / "bai2"
NOW = datetime(2026, 4, 2, 12, tzinfo=UTC)


def read(
    name: str, totals: Literal["refuse", "warn"] = "refuse"
) -> tuple[list[Bai2Transaction], list[str]]:
    warnings: list[Bai2Warning] = []
    with (DATA / name).open("rb") as fh:
        txs = list(iter_bai2(fh, warnings=warnings, totals=totals))
    return txs, [w.rule for w in warnings]


def text(data: str) -> list[Bai2Transaction]:
    return list(iter_bai2(io.BytesIO(data.encode())))


# --- public samples -------------------------------------------------------------------------


def test_svb_ach_credits_with_summaries_continued_on_88s() -> None:
    txs, warnings = read("ministryofjustice_bai2__tests_data_svb_us_example.bai2")
    assert warnings == []
    assert [(t.type_code, t.kind, t.amount_minor, t.as_of) for t in txs] == [
        ("142", "credit", 490196, date(2022, 2, 1)),
        ("142", "credit", 905800, date(2022, 2, 2)),
    ]
    assert txs[0].bank_reference == "172629" and txs[0].text == "SOME PAYMENT ACH OFFSET"
    assert txs[0].account == "1234567890" and txs[0].currency == "USD"


def test_citi_value_dated_credit_with_continuations_without_slashes() -> None:
    (tx,), warnings = read("ministryofjustice_bai2__tests_data_citi_example.bai2")
    assert warnings == []
    assert (tx.type_code, tx.amount_minor, tx.funds_type) == ("191", 1, "V")
    assert tx.value_date == date(2015, 7, 15)
    assert tx.bank_reference == "1234567890" and tx.customer_reference == "RP12312312312312"
    assert "TRID:RP12312312312312" in tx.text


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("ministryofjustice_bai2__tests_data_account_trailer_amount_blank_example.bai2", 0),
        ("ministryofjustice_bai2__tests_data_nwb_example.bai2", 5),
        ("moov-io_bai2__test_testdata_sample1.txt", 17),
        ("moov-io_bai2__test_testdata_sample2.txt", 4),
        ("venturehacks_bai2__test_data_daily.bai2", 1),
        ("venturehacks_bai2__test_data_daily_with_summary.bai2", 1),
        ("venturehacks_bai2__test_data_eod.bai2", 1),
        ("venturehacks_bai2__test_data_eod_with_slash_in_text.bai2", 1),
        ("venturehacks_bai2__test_data_eod_without_as_of_time.bai2", 1),
    ],
)
def test_samples_whose_totals_reconcile_read_without_warnings(name: str, count: int) -> None:
    txs, warnings = read(name)
    assert len(txs) == count
    assert warnings == []


def test_distribution_and_same_day_funds_types_and_a_bare_amount_continuation() -> None:
    txs, _ = read("moov-io_bai2__test_testdata_sample2.txt")
    assert [t.funds_type for t in txs] == ["S", "S", "V", "1"]
    assert txs[1].text == "LOCK BOX NO.68751"
    assert txs[2].text == "PROCEEDS OF LETTER OF CREDIT FROM THE ARAMCO OIL CO"


def test_slash_inside_text_and_an_88_that_starts_with_one() -> None:
    (tx,), _ = read("venturehacks_bai2__test_data_eod_with_slash_in_text.bai2")
    assert "2/AV MAIN 2/AVENUE" in tx.text and "/MEXICO ;" in tx.text


def test_several_records_on_a_line_and_a_16_wrapped_without_an_88() -> None:
    txs, warnings = read("moov-io_bai2__test_testdata_sample3.txt")
    assert len(txs) == 26
    assert warnings == ["wrapped-line"]  # its totals and the 99's 74 records still add up
    credits = [t for t in txs if t.kind == "credit"]
    assert {t.type_code for t in credits} == {"142", "195"}


def test_totals_that_do_not_add_up_refuse_the_file_naming_record_and_rule() -> None:
    with pytest.raises(Bai2Error) as caught:
        read("venturehacks_bai2__test_data_invalid_checksum_eod.bai2")
    assert caught.value.record == 15 and caught.value.rule == "account-control-total"
    assert "8325983" not in str(caught.value)  # never a value


def test_totals_can_be_warnings_for_banks_known_to_compute_them_otherwise() -> None:
    txs, warnings = read(
        "moov-io_bai2__test_testdata_sample4-continuations-newline-delimited.txt", totals="warn"
    )
    assert len(txs) == 17
    assert "account-control-total" in warnings and "file-record-count" in warnings
    first = txs[0]
    assert first.type_code == "447" and first.kind == "debit"
    assert first.customer_reference == "1111"
    assert "SEC: CCD" in first.text and "DBNM: TEST INC" in first.text  # commas and 88s


def test_a_malformed_continuation_is_read_as_the_rest_of_the_record() -> None:
    txs, warnings = read("moov-io_bai2__test_testdata_sample5-issue113.txt", totals="warn")
    assert "wrapped-line" in warnings
    assert any(t.customer_reference == "AB/GS/RPFILERP0001/RPBA0001" for t in txs)


def test_an_unknown_record_code_is_refused() -> None:
    with pytest.raises(Bai2Error, match=r"record 1: .*\[record-code\]"):
        read("moov-io_bai2__test_testdata_errors_sample-parseError.txt")


# --- edge cases ------------------------------------------------------------------------------

HEAD = "01,BANK,CUST,260402,0800,1,,,2/\n02,CUST,BANK,1,260401,2400,USD,2/\n03,123456789,USD,/\n"


def test_an_unknown_type_code_is_reported_per_record_and_the_file_goes_on() -> None:
    body = (
        HEAD + "16,987,500,Z,,,PROPRIETARY/\n16,165,1000,Z,,,HCCLAIMPMT/\n"
        "88,TRN*1*12345*1512345678\\\n49,1500,5/\n98,1500,1,7/\n99,1500,1,9/\n"
    )
    warnings: list = []
    txs = list(iter_bai2(io.BytesIO(body.encode()), warnings=warnings))
    assert [(t.type_code, t.kind) for t in txs] == [("987", "unknown"), ("165", "credit")]
    assert [(w.record, w.rule) for w in warnings] == [(4, "type-code-unknown")]
    assert reassociation_trace(txs[1].text) == ("12345", "1512345678")


@pytest.mark.parametrize(
    ("body", "record", "rule"),
    [
        (HEAD + "16,165,12.50,Z,,,X/\n49,1250,3/\n98,1250,1,5/\n99,1250,1,7/\n", 4, "amount"),
        ("01,B,C,260402,0800,1,,,2/\n02,C,B,1,2604XX,,USD,2/\n", 2, "date"),
        (HEAD + "16,165,100,Q,,,X/\n", 4, "funds-type"),
        (HEAD + "16,165,100,Z,,,X/\n", 5, "missing-trailer"),
        ("88,TEXT/\n", 1, "continuation-first"),
        ("01,B,C,260402,0800,1,,,2/\n16,165,100,Z,,,X/\n", 2, "record-order"),
        ("", 1, "record-order"),
    ],
)
def test_what_cannot_be_read_is_refused(body: str, record: int, rule: str) -> None:
    with pytest.raises(Bai2Error) as caught:
        text(body)
    assert (caught.value.record, caught.value.rule) == (record, rule)


def test_a_wrong_record_count_is_a_warning_and_the_money_is_read() -> None:
    body = HEAD + "16,165,100,Z,,,X/\n49,100,9/\n98,100,1,5/\n99,100,1,7/\n"
    warnings: list = []
    (tx,) = iter_bai2(io.BytesIO(body.encode()), warnings=warnings)
    assert tx.amount_minor == 100
    assert [w.rule for w in warnings] == ["account-record-count"]


def test_a_nul_byte_is_not_text() -> None:
    with pytest.raises(Bai2Error, match="not-text"):
        text("01,B\x00,C/\n")


def test_the_trace_is_found_whatever_ends_the_addenda() -> None:
    assert reassociation_trace("HCCLAIMPMT TRN*1*ABC123*1999999999~") == ("ABC123", "1999999999")
    assert reassociation_trace("TRN*1*00998877*1999999999") == ("00998877", "1999999999")
    assert reassociation_trace("TRN*1* 12 34*1999999999\\") == ("1234", "1999999999")
    assert reassociation_trace("INCOMING WIRE") == (None, None)


# --- CSV ------------------------------------------------------------------------------------


def csv_lines(data: str) -> list:
    return list(iter_deposit_csv(io.BytesIO(data.encode())))


def test_csv_columns_in_any_order_and_case_with_optional_fields() -> None:
    lines = csv_lines(
        "Payer ID,Trace-Number,Amount,Date,memo\n"
        '1999999999,000123,"$1,234.50",2026-04-01,x\n'
        "\n"
        ",,20.00,04/02/2026,\n"
    )
    assert [(ln.line, ln.deposited_on, ln.amount_minor, ln.trace_number, ln.payer_id)
            for ln in lines] == [
        (2, date(2026, 4, 1), 123450, "000123", "1999999999"),
        (4, date(2026, 4, 2), 2000, None, None),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "line", "column"),
    [
        ("date,trace_number\n", 1, "amount"),
        ("", 1, None),
        ("date,amount\n2026-13-01,1.00\n", 2, "date"),
        ("date,amount\n2026-04-01,1.001\n", 2, "amount"),
        ("date,amount\n2026-04-01,0.00\n", 2, "amount"),
        ("date,amount\n2026-04-01,\n", 2, "amount"),
        ("date,amount,trace_number\n2026-04-01,1.00," + "9" * 81 + "\n", 2, "trace_number"),
    ],
)
def test_csv_errors_name_line_and_column_never_the_value(
    data: str, line: int, column: str | None
) -> None:
    with pytest.raises(DepositCsvError) as caught:
        csv_lines(data)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert "13-01" not in str(caught.value) and "1.001" not in str(caught.value)


# --- deposit files onto deposits.inbound -------------------------------------------------------


def test_a_bai2_file_publishes_its_credits_with_their_trace_and_stable_ids(
    tmp_path: Path,
) -> None:
    body = (
        HEAD + "16,165,125050,Z,BR1,,HCCLAIMPMT/\n88,TRN*1*TR77*1512345678\\\n"
        "16,451,500,Z,,,FEE/\n16,142,125050,Z,BR2,,PPD FROM A PERSON/\n"
        "49,250600,6/\n98,250600,1,8/\n99,250600,1,10/\n"
    )
    path = tmp_path / "bank.bai2"
    path.write_text(body)
    report, records = messages(path, now=NOW)
    assert (report.format, report.deposits, report.debits, report.amount) == (
        "bai2", 2, 1, Decimal("2501.00"),
    )  # fmt: skip
    out = list(records)
    deposits = [Deposit.parse_json(r.value or b"") for r in out]
    assert [r.topic for r in out] == ["deposits.inbound"] * 2
    assert [r.key for r in out] == [d.deposit_id.encode() for d in deposits]
    first, second = deposits
    assert (first.trace_number, first.payer_trace_id, first.amount) == (
        "TR77", "1512345678", Decimal("1250.50"),
    )  # fmt: skip
    assert first.account_ending == "6789" and first.deposited_on == date(2026, 4, 1)
    assert second.trace_number is None and second.source.record == 7
    _, again = messages(path, now=NOW)
    assert [r.key for r in again] == [r.key for r in out]  # loaded twice: the same ids


def test_identical_credits_of_one_file_get_distinct_ids(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("date,amount,trace_number,payer_id\n2026-04-01,5.00,,\n2026-04-01,5.00,,\n")
    report, records = messages(path, now=NOW)
    keys = [r.key for r in records]
    assert report.format == "csv" and len(set(keys)) == 2


def test_a_refused_file_publishes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.bai2"
    path.write_text(HEAD + "16,165,100,Z,,,X/\n49,101,3/\n98,101,1,5/\n99,101,1,7/\n")
    with pytest.raises(Bai2Error, match="account-control-total"):
        messages(path, now=NOW)
