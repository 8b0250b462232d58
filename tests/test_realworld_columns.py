"""The tool's columns on workbooks from the real world: Excel-made files, tables, the user's own columns."""

from __future__ import annotations

import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.realworld import (
    TableSpec,
    assert_members_unchanged,
    assert_original_cells_kept,
    assert_tables_match_headers,
    assert_written_safely,
    column_by_header,
    excel_workbook,
    hidden_column_ranges,
    members,
    realworld_copy,
    sheet_cells,
    sort_table_rows,
    split_ref,
    table_ref,
)
from toolkit.manual import load_manual
from toolkit.rows.own_columns import OwnColumnRules

# name -> (sheet, header row, as-of date, the due-date header, the invoice header)
REAL = {
    "excel-tables-bad-debts.xlsx": ("Sales", 5, date(2019, 9, 20), "Transaction Date", "Invoice #"),
    "excel-invoices-text-dates.xlsx": ("Sheet1", 1, date(2025, 6, 1), "DueDate", "InvoiceID"),
    "excel-receivables-datetimes.xlsx": ("Sheet1", 1, date(2025, 8, 1), "InvoiceDate", "InvoiceID"),
}
AS_OF = date(2026, 11, 20)


def run_to(workbook: Path, manual: Path, as_of: date, output: Path) -> str:
    result = invoke(
        "run", workbook, "--manual", manual, "--as-of", as_of.isoformat(), "--output", output,
        "--outbox", output.parent / "outbox",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.output


def as_date(text: str | None) -> date:
    assert text is not None
    if text[:4].isdigit() and text[4:5] == "-":
        return date.fromisoformat(text[:10])
    return (datetime(1899, 12, 30) + timedelta(days=float(text))).date()


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_excel_workbook_gets_right_statuses_and_nothing_else_changes(name: str, tmp_path: Path) -> None:
    """On each Excel-made file: every other member and cell as it was, LibreOffice opens it, every status right."""
    sheet, header_row, as_of, due_header, invoice_header = REAL[name]
    workbook, manual = realworld_copy(name, tmp_path)
    output = tmp_path / "out.xlsx"
    run_to(workbook, manual, as_of, output)
    assert_written_safely(workbook, output, sheet, tmp_path)
    due = column_by_header(output, sheet, header_row, due_header)
    invoices = column_by_header(output, sheet, header_row, invoice_header)
    status = column_by_header(output, sheet, header_row, "Status")
    days = column_by_header(output, sheet, header_row, "Days Overdue")
    assert invoices and set(status) == set(invoices)
    for row in invoices:
        late = (as_of - as_date(due[row])).days
        assert status[row] == ("Overdue" if late > 0 else "Open"), row
        assert int(days[row] or 0) == max(late, 0), row


# --------------------------------------------------------------------------------------------
# The accountant's own columns named like the tool's

MANUAL = "[policy]\nrequire_email = false\n"
HEADERS = ["Invoice", "Customer", "Due Date", "Amount", "Paid"]


def invoice_rows(first: int = 2, count: int = 4) -> dict[int, list[Any]]:
    """Invoices due 10 days apart around AS_OF, the odd ones paid."""
    return {
        first + n: [
            f"INV-{n + 1}",
            f"Customer {n % 2}",
            AS_OF - timedelta(days=15 - 10 * n),
            100 + n,
            100 + n if n % 2 else 0,
        ]
        for n in range(count)
    }


def expected_status(row: list[Any]) -> str:
    if row[4] >= row[3]:
        return "Paid"
    return "Overdue" if row[2] < AS_OF else "Open"


def manual_file(tmp_path: Path, text: str = MANUAL) -> Path:
    path = tmp_path / "billing-manual.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("header", "values"),
    [
        ("Status ", ["Complete", "In Progress", "New", "Complete"]),
        ("STATUS", ["Sent", "Paid by check", "Sent", None]),
        ("Status", ["Complete", "In Progress", "New", "Complete"]),
    ],
)
def test_users_own_status_column_is_never_written(header: str, values: list[str | None], tmp_path: Path) -> None:
    """A column of the user's named like Status refuses the run in one line naming its cell and the setting."""
    rows = {1: [*HEADERS, header], **{r: [*v, values[r - 2]] for r, v in invoice_rows().items()}}
    workbook = excel_workbook(tmp_path / "book.xlsx", rows)
    output = tmp_path / "out.xlsx"
    result = invoke(
        "run", workbook, "--manual", manual_file(tmp_path), "--as-of", AS_OF.isoformat(), "--output", output,
        "--outbox", tmp_path / "outbox",
    )  # fmt: skip
    assert result.exit_code != 0
    message = result.output.strip().splitlines()[-1]
    cell = "Invoices!F1" if header != "Status" else "Invoices!F2"
    assert cell in message and "[output_columns] status" in message and "nothing was written" in message
    assert not output.exists()
    assert not (tmp_path / "outbox").exists()


def test_another_name_for_the_tools_column_leaves_the_users_column_alone(tmp_path: Path) -> None:
    """With [output_columns] status renamed, the tool adds its own column and the user's keeps every value."""
    rows = {1: [*HEADERS, "STATUS"], **{r: [*v, "Complete"] for r, v in invoice_rows().items()}}
    workbook = excel_workbook(tmp_path / "book.xlsx", rows)
    output = tmp_path / "out.xlsx"
    manual = manual_file(tmp_path, MANUAL + '[output_columns]\nstatus = "AR Status"\n')
    run_to(workbook, manual, AS_OF, output)
    assert_written_safely(workbook, output, "Invoices", tmp_path)
    assert column_by_header(output, "Invoices", 1, "STATUS") == dict.fromkeys(range(2, 6), "Complete")
    status = column_by_header(output, "Invoices", 1, "AR Status")
    assert status == {r: expected_status(v) for r, v in invoice_rows().items()}


def test_columns_written_by_an_earlier_version_are_found_as_the_tools(tmp_path: Path) -> None:
    """Status, Days Overdue, Aging and Problems holding only the tool's values are updated in place, none added."""
    old = ["Status", "Days Overdue", "Aging", "Problems"]
    rows = {
        1: [*HEADERS, *old],
        **{r: [*v, "Invalid", 3, "1-30", "C9: customer is missing"] for r, v in invoice_rows().items()},
    }
    workbook = excel_workbook(tmp_path / "book.xlsx", rows)
    output = tmp_path / "out.xlsx"
    out = run_to(workbook, manual_file(tmp_path), AS_OF, output)
    assert "added columns" not in out
    assert_members_unchanged(workbook, output, "Invoices")
    assert_original_cells_kept(workbook, output, "Invoices", ours={6, 7, 8, 9})
    assert column_by_header(output, "Invoices", 1, "Status") == {
        r: expected_status(v) for r, v in invoice_rows().items()
    }
    assert max(split_ref(ref)[0] for ref in sheet_cells(output, "Invoices")) == 9


# --------------------------------------------------------------------------------------------
# Excel tables


def test_real_table_takes_the_tools_columns(tmp_path: Path) -> None:
    """In the Excel-made workbook the invoices' table grows over the tool's four columns; the other tables stay."""
    workbook, manual = realworld_copy("excel-tables-bad-debts.xlsx", tmp_path)
    output = tmp_path / "out.xlsx"
    out = run_to(workbook, manual, date(2019, 9, 20), output)
    assert table_ref(output, "xl/tables/table2.xml") == "A5:H50"
    assert members(output)["xl/tables/table1.xml"] == members(workbook)["xl/tables/table1.xml"]
    assert "inside the table 'ARTransactions'" in " ".join(out.split())
    assert_tables_match_headers(output)


def table_rows(totals: bool = True) -> dict[int, list[Any]]:
    rows: dict[int, list[Any]] = {1: HEADERS, **invoice_rows()}
    if totals:
        rows[6] = ["Total", None, None, "=SUBTOTAL(109,Invoices[Amount])", "=SUBTOTAL(109,Invoices[Paid])"]
    return rows


def test_table_with_a_total_row_gets_the_columns_and_its_total_row_no_status(tmp_path: Path) -> None:
    """A table with a Total Row: the tool's columns join it, the Total Row is no invoice and gets no status."""
    workbook = excel_workbook(
        tmp_path / "book.xlsx", table_rows(), tables=[TableSpec("Invoices", "A1:E6", totals_row=True)]
    )
    output = tmp_path / "out.xlsx"
    out = run_to(workbook, manual_file(tmp_path), AS_OF, output)
    assert "for 4 invoices" in " ".join(out.split())
    rows = assert_written_safely(workbook, output, "Invoices", tmp_path)
    assert rows[0][:9] == [*HEADERS, "Status", "Days Overdue", "Aging", "Problems"]
    assert table_ref(output, "xl/tables/table1.xml") == "A1:I6"
    status = column_by_header(output, "Invoices", 1, "Status")
    assert status == {r: expected_status(v) for r, v in invoice_rows().items()}  # row 6, the Total Row: none
    assert not [ref for ref in sheet_cells(output, "Invoices") if ref.endswith("6") and split_ref(ref)[0] > 5]


def test_sorting_the_table_keeps_each_status_beside_its_invoice(tmp_path: Path) -> None:
    """Sorted as Excel sorts a table (rows rewritten in another order), each status stays beside its invoice."""
    workbook = excel_workbook(
        tmp_path / "book.xlsx", table_rows(), tables=[TableSpec("Invoices", "A1:E6", totals_row=True)]
    )
    manual = manual_file(tmp_path)
    run_to(workbook, manual, AS_OF, workbook.with_name("out.xlsx"))
    sorted_book = workbook.with_name("out.xlsx")
    sort_table_rows(sorted_book, "xl/tables/table1.xml", [5, 3, 2, 4])
    by_invoice = {v[0]: expected_status(v) for v in invoice_rows().values()}

    def statuses(path: Path) -> dict[str, str | None]:
        invoices = column_by_header(path, "Invoices", 1, "Invoice")
        status = column_by_header(path, "Invoices", 1, "Status")
        return {str(invoices[row]): status.get(row) for row in invoices if row != 6}

    assert statuses(sorted_book) == by_invoice  # moved with their rows, as columns of the table
    again = tmp_path / "again.xlsx"
    run_to(sorted_book, manual, AS_OF, again)
    assert statuses(again) == by_invoice
    assert_written_safely(sorted_book, again, "Invoices", tmp_path)


@pytest.mark.parametrize(
    ("blocker", "says"),
    [
        ({"tables": [TableSpec("Invoices", "A1:E5"), TableSpec("Notes", "F1:G5")]}, "the table 'Notes' is at F1"),
        ({"tables": [TableSpec("Invoices", "A1:E5")], "extra": {3: "note"}}, "column G holds data"),
    ],
)
def test_table_that_cannot_be_extended_is_refused(blocker: dict[str, Any], says: str, tmp_path: Path) -> None:
    """Another table or data right of the invoices' table: one line saying where and how to make room; nothing written."""
    rows = table_rows(totals=False)
    if blocker.get("extra"):
        rows[3] = [*rows[3], None, "note"]
    else:
        rows[1] = [*rows[1], "Note", "By"]
        for row in range(2, 6):
            rows[row] = [*rows[row], "x", "y"]
    workbook = excel_workbook(tmp_path / "book.xlsx", rows, tables=blocker["tables"])
    output = tmp_path / "out.xlsx"
    result = invoke(
        "run", workbook, "--manual", manual_file(tmp_path), "--as-of", AS_OF.isoformat(), "--output", output,
        "--outbox", tmp_path / "outbox",
    )  # fmt: skip
    assert result.exit_code != 0
    message = " ".join(result.output.split())
    assert (
        says in message
        and "Insert 4 empty column(s) right of the table" in message
        and "nothing was written" in message
    )
    assert not output.exists()


def test_columns_of_an_earlier_version_beside_a_table_join_it(tmp_path: Path) -> None:
    """The tool's columns written beside a table by an earlier version become columns of the table, none added."""
    old = ["Status", "Days Overdue", "Aging", "Problems"]
    rows: dict[int, list[Any]] = {1: [*HEADERS, *old]}
    rows |= {r: [*v, "Open", 0, "Current", None] for r, v in invoice_rows().items()}
    workbook = excel_workbook(tmp_path / "book.xlsx", rows, tables=[TableSpec("Invoices", "A1:E5")])
    output = tmp_path / "out.xlsx"
    run_to(workbook, manual_file(tmp_path), AS_OF, output)
    assert table_ref(output, "xl/tables/table1.xml") == "A1:I5"
    assert_tables_match_headers(output)
    assert max(split_ref(ref)[0] for ref in sheet_cells(output, "Invoices")) == 9


# --------------------------------------------------------------------------------------------
# Columns the user cannot see


@pytest.mark.parametrize(
    "cols",
    [
        '<col min="1" max="5" width="14" customWidth="1"/><col min="6" max="16384" width="9.140625" hidden="1"/>',
        '<col min="6" max="7" width="0" hidden="1" customWidth="1"/>',
    ],
)
def test_new_columns_in_hidden_columns_are_shown(cols: str, tmp_path: Path) -> None:
    """Columns hidden right of the data: the tool's new columns there are shown, the rest stay hidden."""
    rows = {1: HEADERS, **invoice_rows()}
    workbook = excel_workbook(tmp_path / "book.xlsx", rows, cols=cols)
    output = tmp_path / "out.xlsx"
    out = " ".join(run_to(workbook, manual_file(tmp_path), AS_OF, output).split())
    assert_written_safely(workbook, output, "Invoices", tmp_path)
    hidden = hidden_column_ranges(output, "Invoices")
    assert not [col for col in range(6, 10) if any(low <= col <= high for low, high in hidden)]
    before = hidden_column_ranges(workbook, "Invoices")
    kept = [(low, high) for low, high in hidden if high > 9]
    assert kept == [(max(low, 10), high) for low, high in before if high > 9]  # the rest stays hidden
    assert "Status in column F" in out and "were hidden and are shown now" in out
    assert column_by_header(output, "Invoices", 1, "Status") == {
        r: expected_status(v) for r, v in invoice_rows().items()
    }


@pytest.mark.parametrize("title", ["Notes", None])
def test_new_columns_never_go_under_merged_header_cells(title: str | None, tmp_path: Path) -> None:
    """A merged range G1:J1 beside the header: the tool's columns start at K, and the summary says so."""
    rows: dict[int, list[Any]] = {
        1: [*HEADERS, "Terms", title],
        **{r: [*v, "30 days"] for r, v in invoice_rows().items()},
    }
    workbook = excel_workbook(tmp_path / "book.xlsx", rows, merges=["G1:J1"])
    output = tmp_path / "out.xlsx"
    out = " ".join(run_to(workbook, manual_file(tmp_path), AS_OF, output).split())
    assert_written_safely(workbook, output, "Invoices", tmp_path)
    headers = {
        split_ref(ref)[0]: cell.value for ref, cell in sheet_cells(output, "Invoices").items() if ref.endswith("1")
    }
    assert [headers.get(col) for col in range(11, 15)] == ["Status", "Days Overdue", "Aging", "Problems"]
    assert "Status in column K" in out


def test_new_header_cells_copy_the_look_of_the_last_header_but_not_its_number_format(tmp_path: Path) -> None:
    """The last header is bold on a fill with a money format: new headers take the General style that looks so."""
    workbook = excel_workbook(tmp_path / "book.xlsx", {1: HEADERS, **invoice_rows()})
    assert sheet_cells(workbook, "Invoices")["E1"].style == "2"  # bold, filled, #,##0.00
    output = tmp_path / "out.xlsx"
    run_to(workbook, manual_file(tmp_path), AS_OF, output)
    cells = sheet_cells(output, "Invoices")
    assert [cells[f"{letter}1"].style for letter in "FGHI"] == ["4"] * 4  # bold, filled, General


def test_a_column_of_formulas_named_like_the_tools_is_never_written(tmp_path: Path) -> None:
    """Days Overdue computed by the user's formulas: the tool writes no formula, so it refuses and names the cell."""
    rows: dict[int, list[Any]] = {1: [*HEADERS, "Days Overdue"]}
    rows |= {r: [*v, f"=MAX(0,TODAY()-C{r})"] for r, v in invoice_rows().items()}
    workbook = excel_workbook(tmp_path / "book.xlsx", rows)
    output = tmp_path / "out.xlsx"
    result = invoke(
        "run", workbook, "--manual", manual_file(tmp_path), "--as-of", AS_OF.isoformat(), "--output", output,
        "--outbox", tmp_path / "outbox",
    )  # fmt: skip
    assert result.exit_code != 0
    message = " ".join(result.output.split())
    assert "cell F2 under the header 'Days Overdue' holds a formula" in message
    assert "[output_columns] days_overdue" in message and "nothing was written" in message
    assert not output.exists()


@pytest.mark.parametrize("odd", [False, True])
def test_hidden_columns_and_merges_reach_the_layout_however_the_sheet_is_read(
    odd: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read by a second process, or with lxml (a comment in the sheet): the grid still knows hidden and merged cells."""
    from toolkit.xlsx import read as reader

    rows = {1: HEADERS, **invoice_rows()}
    workbook = excel_workbook(tmp_path / "book.xlsx", rows, cols='<col min="7" max="9" hidden="1"/>', merges=["F1:G1"])
    if odd:
        parts = members(workbook)
        parts["xl/worksheets/sheet1.xml"] = parts["xl/worksheets/sheet1.xml"].replace(
            b'<row r="3">', b'<!-- a comment --><row r="3">'
        )
        with zipfile.ZipFile(workbook, "w") as zf:
            for name, data in parts.items():
                zf.writestr(name, data)
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    data = reader.read_workbook(workbook, load_manual(None), stream=True)
    list(data.iter_rows())
    assert data.layout.grid.hidden == [(7, 9)]
    assert [(a.first_col, a.last_col) for a in data.layout.grid.merged] == [(6, 7)]
    assert (data.scan.markup is None) == odd  # the lxml path reads the markup in a pass of its own


@pytest.mark.parametrize(
    ("key", "ours", "not_ours"),
    [
        ("status", ["Paid", "Overdue", "Invalid", "On hold", None, ""], ["Complete", "paid", "In Progress", 3]),
        ("days_overdue", [0, 15, 120, 7.0, "12"], [1.5, "late", True]),
        ("aging", ["Current", "1-30", "90+", "On hold"], ["0-30", "Overdue", 30]),
        ("last_reminder", [datetime(2026, 11, 1), "2026-11-01", 46327], ["yesterday", 3.5]),
        ("reminder_stage", ["first", "final notice"], [2]),
    ],
)
def test_what_the_tool_takes_for_its_own_values(key: str, ours: list[Any], not_ours: list[Any]) -> None:
    """The values the tool could have written in each of its columns, and some it never writes there."""
    rules = OwnColumnRules(load_manual(None))
    assert rules.foreign_value(key, ours, status_is_ours=True) == (False, None)
    for value in not_ours:
        assert rules.foreign_value(key, [*ours, value], status_is_ours=True) == (True, value)


def test_problems_are_the_tools_only_beside_its_status_column() -> None:
    """Text under a Problems header is the tool's only when the tool's Status column is there too."""
    rules = OwnColumnRules(load_manual(None))
    assert rules.foreign_value("problems", ["E5: customer is missing"], status_is_ours=True) == (False, None)
    assert rules.foreign_value("problems", ["call Bob"], status_is_ours=False) == (True, "call Bob")
