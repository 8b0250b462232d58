"""A small workbook whose report figures are worked out by hand in tests/test_report.py.

As of 2026-11-20. Four customers, fifteen rows, one of them with an error:

======  ==========  ==========  ==========  ======  =====  ==============  ==========  ========
Number  Customer    Issued      Due         Amount  Paid   Method          Paid on     Hold
======  ==========  ==========  ==========  ======  =====  ==============  ==========  ========
A-1     Acme        2026-10-01  2026-10-31  1000    0      Bank transfer                         20 days overdue
A-2     Acme        2026-11-10  2026-12-10  2000    500    bank transfer                         current
A-3     Acme        2026-07-01  2026-07-31  800     800    Bank transfer   2026-08-05            paid 5 days late
A-4     Acme        2026-06-01  2026-07-01  600     600    Bank transfer   2026-06-28            paid early
A-5     Acme        2026-05-01  2026-05-31  400     400    Bank transfer   2026-06-20            paid 20 days late
B-1     Beta Ltd    2026-06-15  2026-07-15  3000    0      Card                                  128 days overdue
B-2     Beta Ltd    2026-11-01  2026-11-15  700     0      Card                                  5 days overdue
C-1     Casa Nova   2026-09-01  2026-10-01  1200    0      PIX                         disputed  on hold
C-2     Casa Nova   2026-09-15  2026-10-15  900     0      PIX                                   36 days overdue
C-3     Casa Nova   2026-08-10  2026-09-10  500     500    PIX             2026-09-10            paid on the day
C-4     Casa Nova   2026-08-01  2026-08-20  300     300    PIX             2026-08-19            paid early
C-5     Casa Nova   2026-07-01  2026-07-20  250     250    PIX             2026-07-22            paid 2 days late
D-1     Delta       2026-08-01  2026-08-31  450     0      Boleto                                81 days overdue
D-2     Delta       2026-11-18  2026-12-18  1000    0      Boleto                                current
E-1     Echo        2026-11-05  soon        5000    0      Card                                  error: due date
======  ==========  ==========  ==========  ======  =====  ==============  ==========  ========

Acme has a credit limit of 5,000 on the Customers sheet; Beta Ltd one of 3,000 in the manual.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl

from tests.factory import CORE_HEADERS

AS_OF = date(2026, 11, 20)
HEADERS = [*CORE_HEADERS, "Payment Method", "Payment Date", "Hold"]


def d(text: str) -> datetime:
    return datetime.fromisoformat(text)


# fmt: off
ROWS: list[list[Any]] = [
    ["A-1", "Acme", "ap@acme.example", d("2026-10-01"), d("2026-10-31"), 1000, 0, "Bank transfer", None, None],
    ["A-2", "Acme", "ap@acme.example", d("2026-11-10"), d("2026-12-10"), 2000, 500, "bank transfer", None, None],
    ["A-3", "Acme", "ap@acme.example", d("2026-07-01"), d("2026-07-31"), 800, 800, "Bank transfer", d("2026-08-05"), None],
    ["A-4", "Acme", "ap@acme.example", d("2026-06-01"), d("2026-07-01"), 600, 600, "Bank transfer", d("2026-06-28"), None],
    ["A-5", "Acme", "ap@acme.example", d("2026-05-01"), d("2026-05-31"), 400, 400, "Bank transfer", d("2026-06-20"), None],
    ["B-1", "Beta Ltd", "pay@beta.example", d("2026-06-15"), d("2026-07-15"), 3000, 0, "Card", None, None],
    ["B-2", "Beta Ltd", "pay@beta.example", d("2026-11-01"), d("2026-11-15"), 700, 0, "Card", None, None],
    ["C-1", "Casa Nova", "fin@casa.example", d("2026-09-01"), d("2026-10-01"), 1200, 0, "PIX", None, "disputed"],
    ["C-2", "Casa Nova", "fin@casa.example", d("2026-09-15"), d("2026-10-15"), 900, 0, "PIX", None, None],
    ["C-3", "Casa Nova", "fin@casa.example", d("2026-08-10"), d("2026-09-10"), 500, 500, "PIX", d("2026-09-10"), None],
    ["C-4", "Casa Nova", "fin@casa.example", d("2026-08-01"), d("2026-08-20"), 300, 300, "PIX", d("2026-08-19"), None],
    ["C-5", "Casa Nova", "fin@casa.example", d("2026-07-01"), d("2026-07-20"), 250, 250, "PIX", d("2026-07-22"), None],
    ["D-1", "Delta", "ar@delta.example", d("2026-08-01"), d("2026-08-31"), 450, 0, "Boleto", None, None],
    ["D-2", "Delta", "ar@delta.example", d("2026-11-18"), d("2026-12-18"), 1000, 0, "Boleto", None, None],
    ["E-1", "Echo", "echo@echo.example", d("2026-11-05"), "soon", 5000, 0, "Card", None, None],
]
# fmt: on

MANUAL = """\
[credit_limits]
"Beta Ltd" = 3000
"""


def build_workbook(
    folder: Path,
    rows: list[list[Any]] | None = None,
    headers: list[str] | None = None,
    manual: str | None = MANUAL,
    limits: dict[str, float] | None = None,
) -> Path:
    """Write receivables.xlsx (and billing-manual.toml) into ``folder``; return the workbook path."""
    folder.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Invoices"
    sheet.append(headers or HEADERS)
    for row in ROWS if rows is None else rows:
        sheet.append(row)
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            if cell.data_type == "f":  # text typed as '=... in Excel: a string cell, not a formula
                cell.data_type = "s"
    for column in ("D", "E", "I"):
        for cell in sheet[column][1:]:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd"
    customers = book.create_sheet("Customers")
    customers.append(["Customer", "Credit Limit"])
    for name, limit in ({"Acme": 5000} if limits is None else limits).items():
        customers.append([name, limit])
    path = folder / "receivables.xlsx"
    book.save(path)
    if manual is not None:
        (folder / "billing-manual.toml").write_text(manual, encoding="utf-8")
    return path
