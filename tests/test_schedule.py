"""The schedule: which reminder stage is due for which invoice, and why the others get none."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AS_OF
from tests.reminder_kit import clear_environment, invoice, make_book
from toolkit.manual import load_manual
from toolkit.pipeline import analyse
from toolkit.reminders.daily import plan_today
from toolkit.reminders.journal import Journal, JournalContents, JournalItem
from toolkit.reminders.schedule import Schedule
from toolkit.xlsx.source import XlsxSource


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)


def plan(
    folder: Path, rows: list[dict[str, Any]], as_of: date = AS_OF, journal: JournalContents | None = None
) -> Schedule:
    """Build the workbook, analyse it and plan the reminders of ``as_of``."""
    path = make_book(folder, rows)
    manual = load_manual(folder / "billing-manual.toml")
    analysis = analyse(XlsxSource(path).read(manual), manual, as_of)
    contents = journal if journal is not None else Journal(folder / "receivables-journal.jsonl").read()
    schedule, findings = plan_today(analysis, contents)
    schedule.findings = findings
    return schedule


def stages(schedule: Schedule) -> dict[str, str]:
    """Invoice number -> the stage due today."""
    return {str(d.invoice.number): d.stage.name for d in schedule.due}


def skipped(schedule: Schedule) -> dict[str, str]:
    """Invoice number -> why it gets no reminder."""
    return {str(s.invoice.number): s.reason for s in schedule.skipped}


def record_sent(folder: Path, on: date, items: Sequence[tuple[str, str]], *, outcome: str = "sent", **kw: Any) -> None:
    """Write a journal attempt for (invoice key, stage) pairs, ending in ``outcome``."""
    offsets = {"courtesy": -3, "first": 1, "second": 15, "final": 30}
    with Journal(folder / "receivables-journal.jsonl").writer() as writer:
        attempt = writer.sending(
            on=on,
            customer=kw.get("customer", "Someone"),
            to=kw.get("to", "ap@someone.example"),
            cc=[],
            bcc=[],
            subject="s",
            message_id="<m@x>",
            stage=items[0][1],
            items=[JournalItem(key, stage, offsets[stage]) for key, stage in items],
        )
        if outcome == "sent":
            writer.sent(attempt)
        elif outcome == "failed":
            writer.failed(
                attempt, reason=kw.get("reason", "550 no such user"), permanent=kw["permanent"], refused=kw["refused"]
            )


def test_each_stage_is_due_from_its_offset(tmp_path: Path) -> None:
    """Courtesy 3 days before the due date, first 1 day after, second at 15, final at 30 days."""
    rows = [
        invoice("I-4", "A", -4),  # due in 4 days: nothing yet
        invoice("I-3", "B", -3),  # due in 3 days: courtesy
        invoice("I-0", "C", 0),  # due today: still the courtesy stage
        invoice("I+1", "D", 1),
        invoice("I+14", "E", 14),
        invoice("I+15", "F", 15),
        invoice("I+29", "G", 29),
        invoice("I+30", "H", 30),
    ]
    assert stages(plan(tmp_path, rows)) == {
        "I-3": "courtesy",
        "I-0": "courtesy",
        "I+1": "first",
        "I+14": "first",
        "I+15": "second",
        "I+29": "second",
        "I+30": "final",
    }


def test_after_a_gap_only_the_latest_stage_due_is_sent(tmp_path: Path) -> None:
    """An invoice 40 days overdue that never had a reminder gets the final notice alone, not four messages."""
    schedule = plan(tmp_path, [invoice("I-1", "A", 40)])
    assert [(d.invoice.number, d.stage.name) for d in schedule.due] == [("I-1", "final")]


def test_a_stage_already_sent_is_not_due_again(tmp_path: Path) -> None:
    """With 'first' in the journal the invoice waits for 'second'; once 'second' is reached, it is due."""
    record_sent(tmp_path, AS_OF - timedelta(days=5), [("I-1", "first"), ("I-2", "first")])
    schedule = plan(tmp_path, [invoice("I-1", "A", 10), invoice("I-2", "B", 16)])
    assert stages(schedule) == {"I-2": "second"}


def test_a_later_stage_sent_blocks_earlier_ones(tmp_path: Path) -> None:
    """After the final notice nothing more goes, and a stage never goes 'back down'."""
    record_sent(tmp_path, AS_OF - timedelta(days=20), [("I-1", "final")])
    assert stages(plan(tmp_path, [invoice("I-1", "A", 60)])) == {}


def test_the_sheet_reminder_columns_count_as_sent(tmp_path: Path) -> None:
    """'Reminder Stage' typed in the sheet (or written by an earlier run) counts, even without a journal."""
    rows = [
        invoice("I-1", "A", 20, **{"Reminder Stage": "second", "Last Reminder": AS_OF - timedelta(days=5)}),
        invoice("I-2", "B", 20, **{"Reminder Stage": "First"}),  # capitals do not matter
    ]
    headers = (*_headers(), "Reminder Stage", "Last Reminder")
    path = make_book(tmp_path, rows, headers=headers)
    manual = load_manual(tmp_path / "billing-manual.toml")
    analysis = analyse(XlsxSource(path).read(manual), manual, AS_OF)
    schedule, _ = plan_today(analysis, Journal(tmp_path / "none.jsonl").read())
    assert stages(schedule) == {"I-2": "second"}


def test_an_unknown_stage_in_the_sheet_is_reported(tmp_path: Path) -> None:
    """A 'Reminder Stage' the manual does not know is a warning on that cell, not a silent guess."""
    headers = (*_headers(), "Reminder Stage")
    path = make_book(tmp_path, [invoice("I-1", "A", 20, **{"Reminder Stage": "third"})], headers=headers)
    manual = load_manual(tmp_path / "billing-manual.toml")
    analysis = analyse(XlsxSource(path).read(manual), manual, AS_OF)
    _, findings = plan_today(analysis, Journal(tmp_path / "none.jsonl").read())
    assert [(f.code, f.cell) for f in findings] == [("unknown-reminder-stage", "O5")]


def test_paid_on_hold_invalid_and_no_email_get_no_reminder(tmp_path: Path) -> None:
    """Paid, On hold, Invalid and no-valid-email invoices are left out, each with its reason (paid only counted)."""
    rows = [
        invoice("PAID", "A", 40, paid=1000.0),
        invoice("HOLD", "B", 40, Hold="Disputed"),
        invoice("BAD", "C", 40, **{"Due Date": "31/02/2026"}),
        invoice("NOMAIL", "D", 40, email="not-an-address"),
        invoice("TWO", "E", 40, email="a@e.example, b@e.example"),
        invoice("OK", "F", 40),
    ]
    schedule = plan(tmp_path, rows)
    assert stages(schedule) == {"OK": "final"}
    assert skipped(schedule) == {"HOLD": "on_hold", "BAD": "invalid", "NOMAIL": "no_email", "TWO": "no_email"}
    assert schedule.paid == 1
    hold = next(s for s in schedule.skipped if s.reason == "on_hold")
    assert hold.detail == "on hold ('Disputed')"


def test_a_promise_pauses_reminders_until_its_date(tmp_path: Path) -> None:
    """A promised date today or later pauses the invoice, and the summary says until when."""
    rows = [
        invoice("LATER", "A", 20, **{"Promised Date": AS_OF + timedelta(days=3)}),
        invoice("TODAY", "B", 20, **{"Promised Date": AS_OF}),
    ]
    schedule = plan(tmp_path, rows)
    assert stages(schedule) == {}
    assert skipped(schedule) == {"LATER": "promised", "TODAY": "promised"}
    assert "reminders paused until then" in schedule.skipped[0].detail


def test_the_day_after_a_broken_promise_the_next_stage_goes_and_is_flagged(tmp_path: Path) -> None:
    """Promised yesterday, unpaid: one stage up from the last sent (second, at 8 days), and a warning on the cell."""
    record_sent(tmp_path, AS_OF - timedelta(days=7), [("I-1", "first")])
    rows = [invoice("I-1", "A", 8, **{"Promised Date": AS_OF - timedelta(days=1)})]
    schedule = plan(tmp_path, rows)
    assert stages(schedule) == {"I-1": "second"}
    assert schedule.due[0].broken_promise == AS_OF - timedelta(days=1)
    assert [(f.code, f.cell) for f in schedule.findings] == [("broken-promise", "L5")]


def test_a_broken_promise_escalates_once(tmp_path: Path) -> None:
    """Once a reminder went out after the promised date, the normal schedule takes over again."""
    record_sent(tmp_path, AS_OF - timedelta(days=7), [("I-1", "first")])
    record_sent(tmp_path, AS_OF - timedelta(days=1), [("I-1", "second")])
    rows = [invoice("I-1", "A", 9, **{"Promised Date": AS_OF - timedelta(days=2)})]
    schedule = plan(tmp_path, rows)
    assert stages(schedule) == {}
    assert [f.code for f in schedule.findings] == ["broken-promise"]  # still flagged until the sheet is updated


def test_a_broken_promise_with_nothing_sent_gets_the_stage_its_age_calls_for(tmp_path: Path) -> None:
    """A promise made before any reminder, then broken: at least the first overdue stage, never a courtesy note."""
    rows = [invoice("I-1", "A", 3, **{"Promised Date": AS_OF - timedelta(days=1)})]
    assert stages(plan(tmp_path, rows)) == {"I-1": "first"}


def test_installments_are_chased_one_by_one(tmp_path: Path) -> None:
    """Each installment row has its own stage and knows which of how many it is; the original is not chased."""
    rows = [
        invoice("INV-9", "A", 60, 3000.0),  # the original, renegotiated
        invoice("INV-9", "A", 20, 1000.0, **{"Installment Of": "INV-9"}),
        invoice("INV-9", "A", 2, 1000.0, **{"Installment Of": "INV-9"}),
        invoice("INV-9", "A", -10, 1000.0, **{"Installment Of": "INV-9"}),
    ]
    schedule = plan(tmp_path, rows)
    due = sorted(schedule.due, key=lambda d: d.invoice.row)
    assert [(d.stage.name, d.installment and (d.installment.index, d.installment.count)) for d in due] == [
        ("second", (1, 3)),
        ("first", (2, 3)),
    ]
    assert [d.key for d in due] == [
        f"INV-9 @ {(AS_OF - timedelta(days=20)).isoformat()}",
        f"INV-9 @ {(AS_OF - timedelta(days=2)).isoformat()}",
    ]
    assert skipped(schedule) == {"INV-9": "installments"}


def test_a_refused_address_is_not_tried_again_until_corrected(tmp_path: Path) -> None:
    """After a 5xx refusal the same address gets nothing; a corrected address is tried."""
    record_sent(
        tmp_path,
        AS_OF - timedelta(days=1),
        [("I-1", "first"), ("I-2", "first")],
        outcome="failed",
        permanent=True,
        refused=["old@a.example"],
    )
    rows = [invoice("I-1", "A", 3, email="old@a.example"), invoice("I-2", "B", 3, email="new@b.example")]
    schedule = plan(tmp_path, rows)
    assert stages(schedule) == {"I-2": "first"}
    assert skipped(schedule) == {"I-1": "refused"}
    assert [(f.code, f.cell) for f in schedule.findings] == [("reminder-refused", "C5")]


def test_a_temporary_failure_is_tried_again(tmp_path: Path) -> None:
    """A message that failed without a permanent refusal (a lost connection) is due again next run."""
    record_sent(tmp_path, AS_OF - timedelta(days=1), [("I-1", "first")], outcome="failed", permanent=False, refused=[])
    assert stages(plan(tmp_path, [invoice("I-1", "A", 3)])) == {"I-1": "first"}


def test_an_unconfirmed_message_counts_as_sent(tmp_path: Path) -> None:
    """A message whose run died mid-send (no outcome recorded) is not due again: never twice."""
    record_sent(tmp_path, AS_OF, [("I-1", "first")], outcome="sending")
    assert stages(plan(tmp_path, [invoice("I-1", "A", 3)])) == {}


def _headers() -> tuple[str, ...]:
    from tests.factory import DEFAULT_HEADERS

    return DEFAULT_HEADERS
