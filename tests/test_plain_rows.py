"""The commonest rows are typed in one step (``PlainRows``): the same invoice as ``parse_invoice`` gives.

``PlainRows.invoice`` either gives a row's invoice or says None, and ``parse_invoice``
types that row the full way. These tests check, on generated rows of any mix of cell
types and on the sample and real Excel-made workbooks, that whenever it gives an
invoice, ``parse_invoice`` gives the very same one (each field's type and value, and
which amounts are one object) and finds nothing to report; and that it does give one
for most plain rows, so the path is really taken.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLES, analysed
from tests.realworld import REALWORLD_MANUALS, realworld_copy
from toolkit.manual import load_manual
from toolkit.rows import invoices
from toolkit.rows.invoices import (
    ROW_RULES,
    ZERO,
    ZERO_FROM_FLOAT,
    Invoice,
    PlainRows,
    RowRules,
    parse_invoice,
)
from toolkit.rows.layout import SheetLayout, SourceRow

MANUAL = load_manual(None)
REQUIRED = ("invoice", "customer", "due_date", "amount")
OTHERS = tuple(name for name in MANUAL.column_aliases if name not in REQUIRED)

PLAIN: dict[str, st.SearchStrategy[Any]] = {
    "invoice": st.one_of(st.from_regex(r"\A ?INV-[0-9]{1,6} ?\Z"), st.integers(1, 10**9)),
    "customer": st.sampled_from(["Northwind Traders", " Contoso ", "Padaria São João"]),
    "email": st.sampled_from(["ap@northwind.example", " billing@contoso.example "]),
    "amount": st.one_of(st.floats(min_value=0.01, max_value=1e6).map(lambda x: round(x, 2)), st.integers(1, 10**6)),
    "payment_method": st.sampled_from(["PIX", "Boleto", "Card"]),
    "terms": st.sampled_from([0, 15, 30, 45, 60, "30 dias"]),
    "document_type": st.sampled_from(["Invoice", "Fatura", " NF-e ", "Credit Note", "nota de credito", "  ", None]),
}
# What else a cell may hold: anything a sheet has, blank included.
ODD = st.one_of(
    st.none(),
    st.sampled_from(["", "  ", "\t", "x", "no", "Ação Ltda", "a" * 1001, "line\nbreak", "no-at-sign", "Barter"]),
    st.sampled_from(["a@b.example; c@d.example", "31/02/2026", "2026-01-05", "Net 30", "30/60/90", "1,234.50"]),
    st.sampled_from([0, 0.0, -0.0, 1, -1, 10.0, 99.99, 2**53, float("nan"), float("inf"), -250.5, 500]),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda x: round(x, 2)),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2027, 12, 31)),
    st.booleans(),
)


@st.composite
def rows(draw: st.DrawFn) -> tuple[SheetLayout, SourceRow]:
    """A layout (the required columns and some others) and a plain row of it, with a few cells then made odd."""
    names = [*REQUIRED, *draw(st.sets(st.sampled_from(OTHERS)))]
    columns = {name: index for index, name in enumerate(names, start=1)}
    layout = SheetLayout("Invoices", 1, columns, {i: n for n, i in columns.items()}, max_column=len(columns))
    values: dict[str, Any] = {name: draw(PLAIN[name]) if name in PLAIN else None for name in names}
    issue = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2027, 12, 31)))
    due = issue + timedelta(days=draw(st.integers(0, 150)), hours=draw(st.sampled_from([0, 0, 0, 13])))
    values.update(issue_date=issue, due_date=due) if "issue_date" in values else values.update(due_date=due)
    amount = values["amount"]
    paid = draw(st.sampled_from([amount, amount, 0, 0.0, -0.0, round(amount / 3, 2), None, "  "]))
    if "paid" in values:
        values["paid"] = paid
    if "balance" in values:
        owed = amount - (paid if isinstance(paid, int | float) and "paid" in values else 0)
        values["balance"] = draw(
            st.sampled_from([owed, round(owed, 2), 0 if owed == 0 else owed, -0.0 if owed == 0 else owed, None])
        )
    for name in draw(st.lists(st.sampled_from(names), max_size=3)):
        values[name] = draw(ODD)
    return layout, SourceRow(draw(st.integers(2, 10**6)), values)


def fields(invoice: Invoice) -> list[tuple[str, type, str]]:
    """Every field's name, type and repr: Decimal("0.0") and Decimal("0") differ here, as they do in a cell."""
    return [(name, type(getattr(invoice, name)), repr(getattr(invoice, name))) for name in Invoice.__slots__]


def shared(invoice: Invoice) -> tuple[bool, ...]:
    """Which amounts are one object: the run's shared zeros, and an amount repeated in a row."""
    amounts = (invoice.amount, invoice.paid, invoice.balance_cell)
    return tuple(a is b for a in amounts for b in (*amounts, ZERO, ZERO_FROM_FLOAT))


def test_the_rules_are_the_ones_plain_rows_know() -> None:
    """A row rule added to ROW_RULES must be taught to PlainRows too (or it would skip it on plain rows)."""
    assert [rule.__name__ for rule in ROW_RULES] == [
        "required_fields",
        "due_after_issue",
        "email_address",
        "accepted_payment_method",
        "terms_within_policy",
        "hold_and_contact_marks",
        "text_lengths",
    ], "a new row rule: make PlainRows.invoice say None where it would report something, then update this list"


def test_plain_rows_are_typed_as_parse_invoice_types_them() -> None:
    """On any row: the one-step invoice, when there is one, is parse_invoice's, which reports nothing on it."""
    rules = RowRules.of(MANUAL)
    ways: Counter[str] = Counter()

    @settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=rows())
    def same(case: tuple[SheetLayout, SourceRow]) -> None:
        layout, source = case
        quick = PlainRows(layout, rules).invoice(SourceRow(source.row, dict(source.values)))
        full, findings = parse_invoice(SourceRow(source.row, dict(source.values)), layout, MANUAL, rules)
        if quick is None:
            event("the full way")
            ways["full"] += 1
            return
        event("in one step")
        ways["plain"] += 1
        assert findings == []
        assert fields(quick) == fields(full)
        assert shared(quick) == shared(full)

    same()
    # Both ways were taken, often: a generator that never made a plain row would prove nothing.
    assert ways["plain"] >= 100 and ways["full"] >= 100, ways


def assert_same_either_way(workbook: Path, manual: Path | None, monkeypatch: pytest.MonkeyPatch) -> int:
    """The analysis with plain rows typed in one step equals the one with every row typed the full way.

    Returns how many rows were typed in one step.
    """
    taken: list[int] = []
    one_step = PlainRows.invoice

    def counted(self: PlainRows, source: SourceRow) -> Invoice | None:
        invoice = one_step(self, source)
        if invoice is not None:
            taken.append(invoice.row)
        return invoice

    monkeypatch.setattr(PlainRows, "invoice", counted)
    quick = analysed(workbook, manual)
    monkeypatch.setattr(PlainRows, "invoice", lambda self, source: None)
    full = analysed(workbook, manual)
    assert [fields(i) for i in quick.invoices] == [fields(i) for i in full.invoices]
    assert dict(quick.results) == dict(full.results)
    assert quick.findings == full.findings
    assert quick.totals() == full.totals()
    return len(taken)


@pytest.mark.parametrize("folder", ["acme", "brasil"])
def test_the_samples_are_analysed_the_same_either_way(folder: str, monkeypatch: pytest.MonkeyPatch) -> None:
    workbook = next((SAMPLES / folder).glob("*.xlsx"))
    assert assert_same_either_way(workbook, SAMPLES / folder / "billing-manual.toml", monkeypatch) > 0


@pytest.mark.parametrize("name", sorted(REALWORLD_MANUALS))
def test_real_workbooks_are_analysed_the_same_either_way(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workbook, manual = realworld_copy(name, tmp_path)
    assert_same_either_way(workbook, manual, monkeypatch)


def test_an_open_items_ledger_is_typed_as_parse_invoice_types_it() -> None:
    """A balance column and no paid one: what was paid is the amount less the balance, either way."""
    columns = {name: i for i, name in enumerate([*REQUIRED, "email", "balance"], start=1)}
    layout = SheetLayout("Invoices", 1, columns, {i: n for n, i in columns.items()})
    row = SourceRow(5, {"invoice": "A-1", "customer": "C", "email": "ap@c.example", "due_date": datetime(2026, 1, 1)})
    row.values.update(amount=100.0, balance=40.0)
    quick = PlainRows(layout, RowRules.of(MANUAL)).invoice(row)
    full, findings = invoices.parse_invoice(row, layout, MANUAL)
    assert quick is not None and findings == [] and fields(quick) == fields(full) and quick.paid == 60
    row.values.update(balance=-5.0)  # more paid than the amount: a warning, so the full way
    assert PlainRows(layout, RowRules.of(MANUAL)).invoice(row) is None
