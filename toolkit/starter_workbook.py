"""A starter workbook for a business that keeps no receivables sheet yet (``receivables init --workbook``).

Written with openpyxl, the design card's workbook library: creating a new file is what it
does well. (The user's own workbook is never loaded and re-saved with it; see ``xlsx/``.)
The headers are names the billing manual already knows, so ``receivables run`` works on
the file at once.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from toolkit.errors import WorkbookError
from toolkit.manual import BillingManual

WORKBOOK_FILENAME = "receivables.xlsx"
# The fields of the starter sheet, in order, with the Portuguese header preferred under a pt locale.
_FIELDS = (
    ("invoice", "Fatura", 14),
    ("customer", "Cliente", 28),
    ("email", "E-mail", 30),
    ("issue_date", "Data de Emissão", 14),
    ("due_date", "Vencimento", 14),
    ("amount", "Valor", 14),
    ("paid", "Valor Pago", 14),
    ("payment_method", "Forma de Pagamento", 20),
    ("payment_date", "Data de Pagamento", 16),
    ("hold", "Em Disputa", 12),
)
_DATE_FIELDS = {"issue_date", "due_date", "payment_date"}
_MONEY_FIELDS = {"amount", "paid"}
# Excel keeps an inline drop-down list under 256 characters; a longer one goes on a sheet of its own.
_INLINE_LIST_LIMIT = 255


def header_names(manual: BillingManual) -> list[tuple[str, str, int]]:
    """(field, header, width) for each starter column: a name the manual matches for that field."""
    portuguese = manual.locale.lower().startswith("pt")
    columns = []
    for name, pt_header, width in _FIELDS:
        aliases = manual.column_aliases.get(name) or (name.replace("_", " ").title(),)
        header = pt_header if portuguese and pt_header in aliases else aliases[0]
        columns.append((name, header, width))
    return columns


def example_rows(today: date) -> list[dict[str, object]]:
    """Two example invoices: one overdue, one not yet due, on reserved example addresses."""
    return [
        {
            "invoice": "INV-0001",
            "customer": "Example Customer Ltd",
            "email": "billing@customer.example",
            "issue_date": today - timedelta(days=40),
            "due_date": today - timedelta(days=10),
            "amount": 1200,
            "paid": 0,
            "payment_method": None,
        },
        {
            "invoice": "INV-0002",
            "customer": "Another Customer Inc",
            "email": "ap@another.example",
            "issue_date": today - timedelta(days=5),
            "due_date": today + timedelta(days=25),
            "amount": 850.5,
            "paid": 0,
            "payment_method": None,
        },
    ]


def write_starter_workbook(path: Path, manual: BillingManual, today: date | None = None) -> Path:
    """Write a starter workbook at ``path``; never overwrites an existing file."""
    from openpyxl import Workbook

    if path.exists():
        raise WorkbookError(f"{path}: already exists; not overwritten (choose another name, or delete it first)")
    book = Workbook()
    invoices = book.active
    assert invoices is not None
    invoices.title = manual.sheet or "Invoices"
    _fill_invoices(book, invoices, manual, today or date.today())
    _add_customers_sheet(book, manual)
    try:
        with path.open("xb") as handle:
            book.save(handle)
    except OSError as exc:
        raise WorkbookError(
            f"{path}: cannot write the starter workbook ({exc.strerror}); choose another folder"
        ) from exc
    return path


def _fill_invoices(book: object, sheet: object, manual: BillingManual, today: date) -> None:
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    columns = header_names(manual)
    date_format = "dd/mm/yyyy" if manual.locale.lower().startswith("pt") else "yyyy-mm-dd"
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for index, (_, header, width) in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index, value=header)  # type: ignore[attr-defined]
        cell.font, cell.fill = bold, fill
        sheet.column_dimensions[get_column_letter(index)].width = width  # type: ignore[attr-defined]
    for row_number, values in enumerate(example_rows(today), start=2):
        for index, (name, _, _) in enumerate(columns, start=1):
            cell = sheet.cell(row=row_number, column=index, value=values.get(name))  # type: ignore[attr-defined]
            if name in _DATE_FIELDS:
                cell.number_format = date_format
            elif name in _MONEY_FIELDS:
                cell.number_format = "#,##0.00"
    sheet.freeze_panes = "A2"  # type: ignore[attr-defined]
    method_column = next(i for i, (name, _, _) in enumerate(columns, start=1) if name == "payment_method")
    _payment_method_dropdown(book, sheet, manual, get_column_letter(method_column))


def _payment_method_dropdown(book: object, sheet: object, manual: BillingManual, letter: str) -> None:
    """A drop-down of the manual's accepted payment methods on the payment-method column."""
    from openpyxl.worksheet.datavalidation import DataValidation

    methods = [str(method) for method in manual.policy.get("payment_methods", []) if str(method)]
    if not methods:
        return
    inline = ",".join(methods)
    if len(inline) + 2 <= _INLINE_LIST_LIMIT and '"' not in inline and not any("," in m for m in methods):
        source = f'"{inline}"'
    else:
        lists = book.create_sheet("Lists")  # type: ignore[attr-defined]
        for row, method in enumerate(methods, start=1):
            lists.cell(row=row, column=1, value=method)
        lists.sheet_state = "hidden"
        source = f"Lists!$A$1:$A${len(methods)}"
    validation = DataValidation(type="list", formula1=source, allow_blank=True)
    validation.error = "Choose one of the payment methods the company accepts (billing manual, [policy])."
    validation.showErrorMessage = True
    sheet.add_data_validation(validation)  # type: ignore[attr-defined]
    validation.add(f"{letter}2:{letter}1000")


def _add_customers_sheet(book: object, manual: BillingManual) -> None:
    """A customers sheet with credit limits, named and headed as ``[customers_sheet]`` expects."""
    from openpyxl.styles import Font

    settings = manual.section("customers_sheet")
    name = settings.get("sheet") or "Customers"
    sheet = book.create_sheet(name, 1)  # type: ignore[attr-defined]
    headers = [settings["customer"][0], settings["credit_limit"][0], settings["email"][0]]
    for index, header in enumerate(headers, start=1):
        sheet.cell(row=1, column=index, value=header).font = Font(bold=True)
    rows = [
        ("Example Customer Ltd", 5000, "billing@customer.example"),
        ("Another Customer Inc", 2500, "ap@another.example"),
    ]
    for row_number, row in enumerate(rows, start=2):
        for index, value in enumerate(row, start=1):
            cell = sheet.cell(row=row_number, column=index, value=value)
            if index == 2:
                cell.number_format = "#,##0.00"
    sheet.column_dimensions["A"].width = 28
    sheet.column_dimensions["B"].width = 14
    sheet.column_dimensions["C"].width = 30
    sheet.freeze_panes = "A2"
