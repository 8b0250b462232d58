"""The report's figures, each worked out by hand on the workbook in tests/report_workbook.py (as of 2026-11-20)."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.report_workbook import AS_OF, HEADERS, ROWS, build_workbook
from toolkit.cli import cli
from toolkit.errors import ManualError
from toolkit.manual import load_manual
from toolkit.pipeline import Analysis, run_source
from toolkit.report.figures import (
    ReminderSent,
    aging_table,
    at_risk,
    build_report,
    credit_use,
    days_paid_late,
    default_by_method,
    default_rate,
    dso,
    grade_for,
    key_figures,
    payer_profiles,
    reminder_effect,
    top_debtors,
)
from toolkit.xlsx.source import XlsxSource

D = Decimal


def analyse_workbook(folder: Path, manual_text: str | None = None, **kwargs: object) -> Analysis:
    path = build_workbook(folder, **kwargs)  # type: ignore[arg-type]
    manual_path = folder / "billing-manual.toml"
    if manual_text is not None:
        manual_path.write_text(manual_text, encoding="utf-8")
    manual = load_manual(manual_path if manual_path.exists() else None)
    analysis, _ = run_source(XlsxSource(path), manual, AS_OF, write=False)
    return analysis


@pytest.fixture
def analysis(tmp_path: Path) -> Analysis:
    return analyse_workbook(tmp_path)


# -- aging -------------------------------------------------------------------------------------


def test_aging_splits_each_customer_by_bucket(analysis: Analysis) -> None:
    """Each customer's unpaid balances land in Current, 1-30, 31-60, 61-90, 90+ or On hold."""
    rows = {r.customer: r for r in aging_table(analysis).rows}
    assert rows["Acme"].balances == {
        "Current": D(1500),  # 2000 - 500 paid, due 2026-12-10
        "1-30": D(1000),  # due 2026-10-31, 20 days
        "31-60": 0,
        "61-90": 0,
        "90+": 0,
        "On hold": 0,
    }
    assert rows["Beta Ltd"].balances["90+"] == D(3000)  # B-1: 128 days
    assert rows["Beta Ltd"].balances["1-30"] == D(700)  # B-2: 5 days
    assert rows["Casa Nova"].balances["On hold"] == D(1200)  # C-1 disputed
    assert rows["Casa Nova"].balances["31-60"] == D(900)  # C-2: 36 days
    assert rows["Delta"].balances["61-90"] == D(450)  # D-1: 81 days
    assert rows["Delta"].balances["Current"] == D(1000)
    assert (rows["Beta Ltd"].total, rows["Beta Ltd"].overdue, rows["Beta Ltd"].at_risk) == (D(3700), D(3700), D(3000))
    assert rows["Beta Ltd"].oldest_days_overdue == 128
    assert rows["Casa Nova"].counts == {"Current": 0, "1-30": 0, "31-60": 1, "61-90": 0, "90+": 0, "On hold": 1}


def test_aging_totals_add_up_and_rows_go_most_overdue_first(analysis: Analysis) -> None:
    """Column totals, the grand total and the overdue total; customers sorted by the amount overdue."""
    table = aging_table(analysis)
    assert [r.customer for r in table.rows] == ["Beta Ltd", "Acme", "Casa Nova", "Delta"]  # 3700, 1000, 900, 450
    assert table.column_totals == {
        "Current": D(2500),
        "1-30": D(1700),
        "31-60": D(900),
        "61-90": D(450),
        "90+": D(3000),
        "On hold": D(1200),
    }
    assert table.total == D(9750)
    assert table.overdue == D(6050)
    assert table.at_risk == D(3000)
    assert table.invoices == 8


def test_rows_with_errors_are_left_out_of_every_figure(analysis: Analysis) -> None:
    """E-1 (due date 'soon') is Invalid: its 5,000 is in no figure, and the report says one row was left out."""
    report = build_report(analysis)
    assert report.excluded_rows == 1
    assert report.invoices == 14
    assert "Echo" not in {p.customer for p in report.payers}
    assert report.dso[0].sales == D(3700)  # E-1 was issued in the period, yet not counted


def test_aging_columns_follow_the_manual(tmp_path: Path) -> None:
    """Buckets [30, 120] give 1-30, 31-120 and 120+; the words come from [statuses]."""
    manual = '[aging]\nbuckets = [30, 120]\n[statuses]\ncurrent = "Not due"\non_hold = "Paused"\n'
    table = aging_table(analyse_workbook(tmp_path, manual))
    assert table.columns == ["Not due", "1-30", "31-120", "120+", "Paused"]
    assert table.column_totals["31-120"] == D(900 + 450)  # 36 and 81 days
    assert table.at_risk_column == "120+"
    assert table.at_risk == D(3000)  # 128 days


# -- DSO ---------------------------------------------------------------------------------------


def test_dso_over_30_days(analysis: Analysis) -> None:
    """30 days to 2026-11-20: 9,750 owed ÷ 3,700 invoiced (A-2, B-2, D-2) × 30; best possible from 2,500 not yet due."""
    figure = dso(analysis, 30)
    assert figure.period_start == date(2026, 10, 22)
    assert figure.period_end == AS_OF
    assert figure.receivables == D(9750)
    assert figure.sales == D(2000 + 700 + 1000)
    assert figure.sales_invoices == 3
    assert figure.not_yet_due == D(1500 + 1000)  # A-2 and D-2; C-1 is on hold but was due 2026-10-01
    assert figure.dso == pytest.approx(9750 / 3700 * 30)  # 79.05
    assert figure.best_possible == pytest.approx(2500 / 3700 * 30)  # 20.27
    assert figure.average_days_delinquent == pytest.approx((9750 - 2500) / 3700 * 30)


def test_dso_over_90_days(analysis: Analysis) -> None:
    """90 days from 2026-08-23: six invoices issued, 6,800 in sales; DSO 129.0, best possible 33.1."""
    figure = dso(analysis, 90)
    assert figure.period_start == date(2026, 8, 23)
    assert figure.sales == D(1000 + 2000 + 700 + 1200 + 900 + 1000)  # B-2, C-1, C-2, D-2
    assert figure.sales_invoices == 6
    assert figure.dso == pytest.approx(9750 / 6800 * 90)
    assert figure.best_possible == pytest.approx(2500 / 6800 * 90)


def test_dso_counts_the_first_and_last_day_of_the_period(tmp_path: Path) -> None:
    """An invoice issued on the as-of date and one issued 29 days before are in the 30-day period; 30 days before is not."""
    rows = [
        ["X-1", "Xavier", None, datetime(2026, 11, 20), datetime(2026, 12, 20), 100, 0, None, None, None],
        ["X-2", "Xavier", None, datetime(2026, 10, 22), datetime(2026, 11, 21), 200, 0, None, None, None],
        ["X-3", "Xavier", None, datetime(2026, 10, 21), datetime(2026, 11, 21), 400, 0, None, None, None],
    ]
    figure = dso(analyse_workbook(tmp_path, rows=rows), 30)
    assert figure.sales == D(300)
    assert figure.dso == pytest.approx(700 / 300 * 30)


def test_dso_says_why_it_cannot_be_computed(tmp_path: Path) -> None:
    """Without an issue-date column, or with no invoice issued in the period, DSO is None with the reason."""
    headers = [h for h in HEADERS if h != "Issue Date"]
    rows = [[v for i, v in enumerate(row) if i != 3] for row in ROWS]
    no_column = dso(analyse_workbook(tmp_path / "a", headers=headers, rows=rows), 30)
    assert no_column.dso is None and no_column.best_possible is None
    assert "issue-date column" in (no_column.unavailable or "")
    old = [["O-1", "Old Co", None, datetime(2025, 1, 1), datetime(2025, 2, 1), 100, 0, None, None, None]]
    no_sales = dso(analyse_workbook(tmp_path / "b", rows=old), 30)
    assert no_sales.dso is None
    assert no_sales.unavailable == "no invoices were issued from 2026-10-22 to 2026-11-20"
    assert no_sales.receivables == D(100)


# -- default rate ------------------------------------------------------------------------------


def test_default_rate_by_amount_and_by_count(analysis: Analysis) -> None:
    """6,050 of 9,750 is overdue (62.05 %); 5 of the 8 unpaid invoices (62.5 %). On hold is owed, not overdue."""
    rate = default_rate(analysis)
    assert (rate.receivables, rate.overdue) == (D(9750), D(6050))
    assert (rate.invoices, rate.overdue_invoices) == (8, 5)
    assert rate.by_amount == pytest.approx(6050 / 9750)
    assert rate.by_count == pytest.approx(5 / 8)


def test_default_rate_by_payment_method(analysis: Analysis) -> None:
    """Per method, most overdue first; 'bank transfer' and 'Bank transfer' are one method."""
    rates = {r.label: r for r in default_by_method(analysis)}
    assert [r.label for r in default_by_method(analysis)] == ["Card", "Bank transfer", "PIX", "Boleto"]
    assert (rates["Card"].receivables, rates["Card"].overdue, rates["Card"].by_amount) == (D(3700), D(3700), 1.0)
    assert (rates["Bank transfer"].receivables, rates["Bank transfer"].overdue) == (D(2500), D(1000))
    assert rates["Bank transfer"].by_count == 0.5
    assert rates["PIX"].by_amount == pytest.approx(900 / 2100)
    assert rates["Boleto"].by_amount == pytest.approx(450 / 1450)


# -- payers ------------------------------------------------------------------------------------


def test_days_paid_late_is_payment_date_minus_due_date() -> None:
    """Paid 5 days after the due date is 5 days late; early or on the day is 0; no payment date is unknown."""
    from toolkit.rows.invoices import Invoice

    due = date(2026, 7, 31)
    assert days_paid_late(Invoice(row=2, due_date=due, payment_date=date(2026, 8, 5))) == 5
    assert days_paid_late(Invoice(row=2, due_date=due, payment_date=date(2026, 7, 20))) == 0
    assert days_paid_late(Invoice(row=2, due_date=due)) is None


def test_payer_profiles_from_payment_history(analysis: Analysis) -> None:
    """Acme paid 5, 0 and 20 days late: 8.3 days on average, 2 of 3 late, grade C; Casa Nova 0, 0, 2: grade B."""
    profiles = {p.customer: p for p in payer_profiles(analysis)}
    acme = profiles["Acme"]
    assert (acme.paid_invoices, acme.paid_late, acme.worst_days_late) == (3, 2, 20)
    assert acme.avg_days_late == pytest.approx(25 / 3)
    assert acme.share_late == pytest.approx(2 / 3)
    assert acme.grade == "C"  # too late on average for A, too often late for B (more than 50 %)
    casa = profiles["Casa Nova"]
    assert casa.avg_days_late == pytest.approx(2 / 3)
    assert casa.share_late == pytest.approx(1 / 3)
    assert casa.grade == "B"  # more than 25 % late keeps it from A
    assert profiles["Beta Ltd"].grade is None  # never paid
    assert profiles["Delta"].paid_invoices == 0


def test_grades_follow_the_manuals_limits() -> None:
    """A, B, C are tried in order against both limits; whoever fits none is D."""
    limits = {
        "A": {"max_avg_days_late": 5.0, "max_share_late": 0.25},
        "B": {"max_avg_days_late": 15.0, "max_share_late": 0.5},
        "C": {"max_avg_days_late": 30.0, "max_share_late": 1.0},
    }
    assert grade_for(5.0, 0.25, limits) == "A"
    assert grade_for(5.1, 0.0, limits) == "B"
    assert grade_for(1.0, 0.51, limits) == "C"
    assert grade_for(30.5, 0.1, limits) == "D"


def test_grade_limits_and_history_length_come_from_the_manual(tmp_path: Path) -> None:
    """With looser limits Acme is B; with min_paid_invoices = 4 nobody has enough history for a grade."""
    looser = (
        '[credit_limits]\n"Beta Ltd" = 3000\n[report]\ngrade_b = { max_avg_days_late = 10.0, max_share_late = 0.7 }\n'
    )
    profiles = {p.customer: p for p in payer_profiles(analyse_workbook(tmp_path / "a", looser))}
    assert profiles["Acme"].grade == "B"
    stricter = "[report]\nmin_paid_invoices = 4\n"
    assert {p.grade for p in payer_profiles(analyse_workbook(tmp_path / "b", stricter))} == {None}


def test_customers_whose_grade_or_balance_argues_against_credit_are_flagged_first(analysis: Analysis) -> None:
    """Acme for grade C; Beta Ltd for owing 90+ days and being over its limit; Casa Nova and Delta are not flagged."""
    profiles = payer_profiles(analysis)
    assert [p.customer for p in profiles] == ["Acme", "Beta Ltd", "Casa Nova", "Delta"]
    flags = {p.customer: p.flags for p in profiles}
    assert flags == {
        "Acme": ("grade C",),
        "Beta Ltd": ("90+ overdue", "over credit limit"),
        "Casa Nova": (),
        "Delta": (),
    }


def test_near_the_credit_limit_is_flagged(tmp_path: Path) -> None:
    """Acme owes 2,500 of a 3,000 limit (83 %): flagged at the default 80 % warning, not at 90 %."""
    near = analyse_workbook(tmp_path / "a", limits={"Acme": 3000})
    assert {p.customer: p.flags for p in payer_profiles(near)}["Acme"] == ("grade C", "83% of credit limit")
    relaxed = analyse_workbook(
        tmp_path / "b", '[report]\ncredit_use_warning = 0.9\nno_credit_grades = ["D"]\n', limits={"Acme": 3000}
    )
    assert {p.customer: p.flags for p in payer_profiles(relaxed)}["Acme"] == ()


def test_no_grades_without_a_payment_date_column(tmp_path: Path) -> None:
    """Without the column every grade is None and the report says payment dates are missing."""
    headers = [h for h in HEADERS if h != "Payment Date"]
    rows = [[v for i, v in enumerate(row) if i != 8] for row in ROWS]
    report = build_report(analyse_workbook(tmp_path, headers=headers, rows=rows))
    assert report.has_payment_dates is False
    assert {p.grade for p in report.payers} == {None}
    assert {p.paid_invoices for p in report.payers} == {0}


# -- credit, debtors, risk -----------------------------------------------------------------------


def test_credit_use_from_the_customers_sheet_and_the_manual(analysis: Analysis) -> None:
    """Beta Ltd owes 3,700 of 3,000 (manual): 123 %, 700 over; Acme 2,500 of 5,000 (Customers sheet): 50 %."""
    uses = credit_use(analysis)
    assert [u.customer for u in uses] == ["Beta Ltd", "Acme"]
    beta, acme = uses
    assert beta.use == pytest.approx(3700 / 3000)
    assert beta.over_limit and beta.headroom == D(-700)
    assert "[credit_limits]" in beta.limit_source
    assert (acme.use, acme.headroom, acme.limit_source) == (0.5, D(2500), "Customers sheet")


def test_default_credit_limit_applies_to_customers_without_one(tmp_path: Path) -> None:
    """[policy] default_credit_limit = 2,000 gives Casa Nova (2,100) and Delta (1,450) a limit too."""
    manual = '[credit_limits]\n"Beta Ltd" = 3000\n[policy]\ndefault_credit_limit = 2000\n'
    uses = {u.customer: u for u in credit_use(analyse_workbook(tmp_path, manual))}
    assert uses["Casa Nova"].use == pytest.approx(2100 / 2000)
    assert uses["Delta"].use == pytest.approx(1450 / 2000)
    assert uses["Acme"].limit == D(5000)  # the sheet's limit wins over the default


def test_top_debtors(analysis: Analysis) -> None:
    """The customers who owe the most, with their share of the 9,750 owed; the count comes from the manual."""
    debtors = top_debtors(analysis)
    assert [(d.customer, d.balance) for d in debtors] == [
        ("Beta Ltd", D(3700)),
        ("Acme", D(2500)),
        ("Casa Nova", D(2100)),
        ("Delta", D(1450)),
    ]
    assert debtors[0].share == pytest.approx(3700 / 9750)
    assert (debtors[2].current, debtors[2].overdue, debtors[2].on_hold) == (D(0), D(900), D(1200))
    assert [d.customer for d in top_debtors(analysis, count=2)] == ["Beta Ltd", "Acme"]


def test_amounts_at_risk(analysis: Analysis) -> None:
    """90+: 3,000 in one invoice (B-1), 30.8 % of receivables, all Beta Ltd's."""
    risk = at_risk(analysis)
    assert (risk.column, risk.amount, risk.invoices) == ("90+", D(3000), 1)
    assert risk.share == pytest.approx(3000 / 9750)
    assert [c.customer for c in risk.customers] == ["Beta Ltd"]


# -- reminders ---------------------------------------------------------------------------------


def test_collection_effect_of_reminders(analysis: Analysis) -> None:
    """A-3 paid 2 days after its second reminder; A-1 still owes 1,000; C-5 was paid before; Z-9 is unknown."""
    journal = [
        ReminderSent("A-3", date(2026, 8, 1)),
        ReminderSent("A-3", date(2026, 8, 3)),  # paid 2026-08-05
        ReminderSent("A-1", date(2026, 11, 1)),
        ("c-5", datetime(2026, 7, 25, 9, 30)),  # paid 2026-07-22, before the reminder
        ("Z-9", "2026-11-02"),
        ("B-2", date(2026, 12, 1)),  # after the as-of date: ignored
    ]
    effect = reminder_effect(analysis, journal)
    assert effect is not None
    assert effect.reminded_invoices == 3
    assert (effect.paid_after, effect.paid_after_amount) == (1, D(800))
    assert effect.rate == pytest.approx(1 / 3)
    assert effect.avg_days_to_pay == 2
    assert (effect.still_unpaid, effect.still_unpaid_amount) == (1, D(1000))
    assert effect.paid_before == 1
    assert effect.unmatched == 1


def test_reminder_effect_is_left_out_without_journal_records(analysis: Analysis) -> None:
    """No records (or none given) means no reminder figure in the report."""
    assert reminder_effect(analysis, []) is None
    assert build_report(analysis).reminders is None
    assert build_report(analysis, reminders=[("A-1", date(2026, 11, 1))]).reminders is not None


# -- key figures, manual, CLI ----------------------------------------------------------------------


def test_key_figures(analysis: Analysis) -> None:
    """Total overdue 6,050, 90+ 3,000 and DSO over the longest period (90 days)."""
    figures = key_figures(analysis)
    assert (figures.overdue, figures.at_risk_column, figures.at_risk) == (D(6050), "90+", D(3000))
    assert figures.dso is not None and figures.dso.period_days == 90
    table = aging_table(analysis)
    assert (figures.overdue, figures.at_risk) == (table.overdue, table.at_risk)  # the same sums as the aging table


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("dso_periods = []", "[report] dso_periods must be whole numbers of days"),
        ("top_debtors = 0", "[report] top_debtors must be at least 1"),
        ("credit_use_warning = 0", "[report] credit_use_warning must be more than 0"),
        ("grade_b = { max_share_late = 0.1 }", "[report] grade_b max_share_late must not be stricter"),
        ("grade_a = { max_share_late = 25.0 }", "[report] grade_a max_share_late must be between 0 and 1"),
        ('no_credit_grades = ["E"]', "[report] no_credit_grades 'E' is not a grade"),
        ("grade_e = { max_share_late = 1.0 }", "[report] grade_e: unknown setting"),
    ],
)
def test_report_settings_are_checked(tmp_path: Path, setting: str, message: str) -> None:
    """A [report] setting that makes no sense is an error naming the file and the setting."""
    path = tmp_path / "billing-manual.toml"
    path.write_text(f"[report]\n{setting}\n", encoding="utf-8")
    with pytest.raises(ManualError) as caught:
        load_manual(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_report_command_prints_the_tables_and_changes_nothing(tmp_path: Path) -> None:
    """'receivables report' shows every section and leaves the workbook byte for byte as it was."""
    workbook = build_workbook(tmp_path)
    before = _digest(workbook)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["report", str(workbook), "--as-of", "2026-11-20"])
    assert result.exit_code == 0, result.output
    for heading in (
        "Key figures",
        "Aging by customer",
        "Default rate by payment method",
        "At risk: 90+ days overdue",
        "Credit limit use",
        "Top debtors",
        "Payers",
        "How the figures are computed",
    ):
        assert heading in result.output
    assert "$9,750.00" in result.output and "79.1 days" in result.output and "129.0 days" in result.output
    assert "1 row with errors left out" in result.output
    assert "receivables $9,750.00 ÷ sales $3,700.00 (3 invoices) × 30 = 79.1 days" in result.output
    assert _digest(workbook) == before
    assert not (tmp_path / "receivables-backups").exists()


def test_report_json_has_every_figure(tmp_path: Path) -> None:
    """--json prints the figures for other programs: money as decimal strings, shares as fractions."""
    workbook = build_workbook(tmp_path)
    result = CliRunner().invoke(cli, ["report", str(workbook), "--as-of", "2026-11-20", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["aging"]["total"] == "9750"
    assert data["aging"]["customers"][0]["customer"] == "Beta Ltd"
    assert data["aging"]["totals"]["90+"] == "3000"
    assert [(d["period_days"], d["dso"], d["best_possible_dso"]) for d in data["dso"]] == [
        (30, 79.05, 20.27),
        (90, 129.04, 33.09),
    ]
    assert data["default_rate"]["by_count"] == 0.625
    assert data["payers"][0] == {
        "customer": "Acme",
        "paid_invoices": 3,
        "paid_late": 2,
        "share_late": 0.6667,
        "avg_days_late": 8.33,
        "worst_days_late": 20,
        "grade": "C",
        "open_balance": "2500",
        "overdue": "1000",
        "credit_limit": "5000",
        "credit_use": 0.5,
        "flags": ["grade C"],
    }
    assert data["reminders"] is None
    assert data["excluded_rows"] == 1


def test_report_writes_html_and_csv_files(tmp_path: Path) -> None:
    """--html and --csv write their files and say so; the terminal report is still shown."""
    workbook = build_workbook(tmp_path)
    page, table = tmp_path / "out" / "report.html", tmp_path / "out" / "customers.csv"
    page.parent.mkdir()
    result = CliRunner().invoke(
        cli, ["report", str(workbook), "--as-of", "2026-11-20", "--html", str(page), "--csv", str(table)]
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote the report page to {page}." in result.output
    assert f"Wrote one row per customer to {table}." in result.output
    assert page.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert table.read_text(encoding="utf-8-sig").startswith("Customer,Current,1-30,")
    assert "Key figures" in result.output


@pytest.mark.parametrize("option", ["--html", "--csv"])
def test_report_never_writes_over_the_workbook(tmp_path: Path, option: str) -> None:
    """Giving the workbook (or any workbook name) as the output is refused with a one-line error."""
    workbook = build_workbook(tmp_path)
    before = _digest(workbook)
    for target in (workbook, tmp_path / "other.xlsx"):
        result = CliRunner().invoke(cli, ["report", str(workbook), "--as-of", "2026-11-20", option, str(target)])
        assert result.exit_code == 1
        assert result.output.startswith(f"Error: {target}: ")
        assert "Traceback" not in result.output
    assert _digest(workbook) == before
    assert not (tmp_path / "other.xlsx").exists()


def test_report_into_a_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    """A --csv path in a folder that does not exist names the path and the folder."""
    workbook = build_workbook(tmp_path)
    target = tmp_path / "nowhere" / "r.csv"
    result = CliRunner().invoke(cli, ["report", str(workbook), "--as-of", "2026-11-20", "--csv", str(target)])
    assert result.exit_code == 1
    assert (
        result.output
        == f"Error: {target}: the folder {target.parent} does not exist; create it or choose another place\n"
    )


def test_report_of_a_missing_workbook_is_a_one_line_error(tmp_path: Path) -> None:
    """The usual workbook errors reach the user as one line, without a traceback."""
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "missing.xlsx")])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {tmp_path / 'missing.xlsx'}")
    assert "Traceback" not in result.output


def test_run_ends_with_overdue_90_plus_and_dso(tmp_path: Path) -> None:
    """'receivables run' ends its summary with the three figures an owner looks at first (the reminders follow)."""
    workbook = build_workbook(tmp_path)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(
        cli, ["run", str(workbook), "--as-of", "2026-11-20", "--output", str(tmp_path / "out.xlsx")]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.rstrip("\n").splitlines()
    figures = lines.index("Overdue $6,050.00 · 90+ $3,000.00 · DSO 129.0 days (last 90 days)")
    # Then only the reminders part, which ends by saying how to send.
    assert " ready for " in lines[figures + 1] or lines[figures + 1] == "No reminders are due today."


def test_report_with_an_empty_sheet_shows_zeros(tmp_path: Path) -> None:
    """A sheet with headers and no invoices gives an empty report, not an error."""
    workbook = build_workbook(tmp_path, rows=[])
    report = build_report(analyse_workbook(tmp_path / "x", rows=[]))
    assert report.aging.total == 0 and report.aging.rows == []
    assert report.default_rate.by_amount is None
    assert report.dso[0].dso is None
    result = CliRunner().invoke(
        cli, ["report", str(workbook), "--as-of", "2026-11-20", "--html", str(tmp_path / "r.html")]
    )
    assert result.exit_code == 0, result.output
    assert "Nothing is owed" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_long_lists_are_cut_in_the_terminal_and_say_where_the_rest_is(tmp_path: Path) -> None:
    """With 20 customers the terminal shows 15 and points to --html and --csv for the others."""
    rows = [
        [
            f"N-{n}",
            f"Customer {n:02d}",
            None,
            datetime(2026, 11, 1),
            datetime(2026, 11, 10),
            100 + n,
            0,
            None,
            None,
            None,
        ]
        for n in range(20)
    ]
    workbook = build_workbook(tmp_path, rows=rows, limits={})
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["report", str(workbook), "--as-of", "2026-11-20"])
    assert result.exit_code == 0, result.output
    assert "... and 5 more customers: see them all with --html FILE or --csv FILE." in result.output
    assert "Customer 19" in result.output  # the most overdue come first
    assert "Customer 04" not in result.output.split("Default rate")[0]
