"""Build a realistic receivables workbook of any size for the benchmark.

What an accountant's export looks like after a year of hand editing: two title
rows above the header, dates formatted as dates, money formatted as money, a
Balance column that is a formula (with the cached results Excel would have
saved), a drop-down list on Payment Method, conditional formatting on Balance,
a logo image, a frozen header, a Customers sheet with credit limits and a
Summary sheet whose chart draws from formulas over the invoices.

openpyxl writes it in write-only mode so that a million rows fit in memory;
openpyxl never writes the cached results of formulas, so they are injected
afterwards into the saved XML, the way Excel would have stored them.
"""

from __future__ import annotations

import io
import random
import re
import shutil
import zipfile
from array import array
from datetime import date, timedelta
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.drawing.image import Image
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation
from PIL import Image as PILImage
from PIL import ImageDraw

HEADERS = [
    "Invoice",
    "Customer",
    "Email",
    "Issue Date",
    "Due Date",
    "Amount",
    "Paid",
    "Balance",
    "Payment Method",
    "Terms",
]
HEADER_ROW = 4
METHODS = ["Bank transfer", "Card", "PIX", "Boleto", "Check"]
CUSTOMERS = 2000
AS_OF = date(2026, 11, 20)  # the day the benchmark runs as
START = AS_OF - timedelta(days=365)  # a year of invoices: the ledger of a business that collects
VERSION = 2  # bump when the workbook changes, so cached copies are rebuilt


def _customer(n: int) -> tuple[str, str]:
    name = f"Customer {n:04d} Ltd"
    return name, f"billing{n:04d}@customer{n:04d}.example.com"


def invoice_row(i: int, rng: random.Random, customers: int = CUSTOMERS) -> tuple[list[object], float]:
    """The values of invoice ``i`` (0-based) and its balance; about 1% of rows carry a mistake."""
    customer, email = _customer(rng.randrange(customers))
    issue = START + timedelta(days=rng.randrange(365))
    terms = rng.choice((15, 30, 45, 60))
    due: object = issue + timedelta(days=terms)
    amount = round(rng.uniform(50, 20000), 2)
    # The older an invoice, the likelier it is paid, as in a business that collects: about one
    # invoice in eight ends up overdue, a few of them long overdue.
    days_late = (AS_OF - (issue + timedelta(days=terms))).days
    settled = 0.95 if days_late > 90 else 0.85 if days_late > 30 else 0.6 if days_late > 0 else 0.15
    draw = rng.random()
    paid = amount if draw < settled else round(amount / 2, 2) if draw < settled + 0.05 else 0.0
    method = rng.choice(METHODS)
    number: object = f"INV-{i + 1:07d}"
    issue_cell: object = issue
    mistake = rng.random()
    if mistake < 0.002:
        due = (issue + timedelta(days=terms)).strftime("%d/%m/%Y")  # a date typed as text
    elif mistake < 0.004:
        email = "not an email"
    elif mistake < 0.006:
        number = f"INV-{max(i, 1):07d}"  # a duplicate of the previous number
    elif mistake < 0.008:
        method = "Barter"
    elif mistake < 0.010:
        issue_cell = issue + timedelta(days=200)  # due before issue
    return [number, customer, email, issue_cell, due, amount, paid, None, method, terms], round(amount - paid, 2)


def _logo() -> Image:
    picture = PILImage.new("RGB", (240, 80), (20, 60, 120))
    ImageDraw.Draw(picture).text((20, 30), "ACME Distribution", fill=(255, 255, 255))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    buffer.seek(0)
    return Image(buffer)


def build(path: Path, rows: int, seed: int = 20261120, customers: int = CUSTOMERS) -> None:
    """Write a workbook with ``rows`` invoices of ``customers`` customers to ``path``."""
    rng = random.Random(seed)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Invoices")
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    for letter, width in zip("ABCDEFGHIJ", (14, 24, 36, 12, 12, 12, 12, 12, 16, 8), strict=True):
        ws.column_dimensions[letter].width = width
    last = HEADER_ROW + rows

    dv = DataValidation(type="list", formula1='"' + ",".join(METHODS) + '"', allow_blank=True)
    dv.add(f"I{HEADER_ROW + 1}:I{last}")
    ws.data_validations.append(dv)
    ws.conditional_formatting.add(
        f"H{HEADER_ROW + 1}:H{last}",
        CellIsRule(operator="greaterThan", formula=["10000"], fill=PatternFill("solid", fgColor="FFC7CE")),
    )
    logo = _logo()
    logo.anchor = "L1"
    ws.add_image(logo)

    title = WriteOnlyCell(ws, "ACME Distribution - open invoices")
    title.font = Font(bold=True, size=14)
    ws.append([title])
    ws.append([f"Exported {START.isoformat()} from the billing system; edited by hand since."])
    ws.append([])
    header = []
    for text in HEADERS:
        cell = WriteOnlyCell(ws, text)
        cell.font = Font(bold=True)
        header.append(cell)
    ws.append(header)

    balances = array("d")
    by_method = dict.fromkeys(METHODS, 0.0)
    for i in range(rows):
        values, balance = invoice_row(i, rng, customers)
        balances.append(balance)
        if values[8] in by_method:
            by_method[values[8]] += balance  # type: ignore[index]
        r = HEADER_ROW + 1 + i
        cells: list[object] = []
        for col, value in enumerate(values):
            if col in (3, 4) and isinstance(value, date):
                cell = WriteOnlyCell(ws, value)
                cell.number_format = "DD/MM/YYYY"
                cells.append(cell)
            elif col in (5, 6):
                cell = WriteOnlyCell(ws, value)
                cell.number_format = "#,##0.00"
                cells.append(cell)
            elif col == 7:
                cell = WriteOnlyCell(ws, f"=F{r}-G{r}")
                cell.number_format = "#,##0.00"
                cells.append(cell)
            else:
                cells.append(value)
        ws.append(cells)

    customer_sheet = wb.create_sheet("Customers")
    customer_sheet.append(["Customer", "Email", "Credit Limit"])
    for n in range(customers):
        name, email = _customer(n)
        customer_sheet.append([name, email, 250_000 if n % 10 else 100_000])

    summary = wb.create_sheet("Summary")
    summary.append(["Payment Method", "Open Balance"])
    summary_cached = []
    for k, method in enumerate(METHODS, start=2):
        summary.append([method, f'=SUMIF(Invoices!I:I,"{method}",Invoices!H:H)'])
        summary_cached.append((f"B{k}", round(by_method[method], 2)))
    chart = BarChart()
    chart.title = "Open balance by payment method"
    chart.add_data(Reference(summary, min_col=2, min_row=1, max_row=len(METHODS) + 1), titles_from_data=True)
    chart.set_categories(Reference(summary, min_col=1, min_row=2, max_row=len(METHODS) + 1))
    summary.add_chart(chart, "D2")

    raw = path.with_suffix(".openpyxl.xlsx")
    wb.save(raw)
    _inject_cached_values(raw, path, balances, dict(summary_cached))
    raw.unlink()


_FORMULA = re.compile(rb'<c r="([A-Z]+)(\d+)"([^>]*)><f>([^<]*)</f><v\s*/?>(?:</v>)?</c>')
_INLINE = re.compile(rb'<c r="([A-Z]+\d+)"((?: s="\d+")?) t="inlineStr"><is><t[^>]*>([^<]*)</t></is></c>')
_ROW = re.compile(rb'<row r="(\d+)">')
_SST_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def _inject_cached_values(src: Path, dst: Path, balances: array, summary: dict[str, float]) -> None:
    """Copy the package the way Excel would have saved it.

    Every formula gets its cached result, text goes to the shared strings table,
    rows carry ``spans`` and the sheet its ``dimension``, and the workbook no
    longer asks for a full recalculation on load.
    """
    shared: dict[bytes, int] = {}

    def share(match: re.Match[bytes]) -> bytes:
        index = shared.setdefault(match.group(3), len(shared))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (match.group(1), match.group(2), index)

    def cached(match: re.Match[bytes], sheet: str) -> bytes:
        col, row, attrs, formula = match.group(1), match.group(2), match.group(3), match.group(4)
        if sheet == "Invoices":
            value = balances[int(row) - HEADER_ROW - 1]
        else:
            value = summary[(col + row).decode()]
        text = repr(int(value)) if value.is_integer() else repr(value)
        return b'<c r="%s%s"%s><f>%s</f><v>%s</v></c>' % (col, row, attrs, formula, text.encode())

    def excel_like(data: bytes, sheet: str) -> bytes:
        data = _FORMULA.sub(lambda m: cached(m, sheet), data)
        data = _INLINE.sub(share, data).replace(b' t="n"', b"")
        if sheet == "Invoices":
            data = _ROW.sub(rb'<row r="\1" spans="1:10">', data)
            data = data.replace(
                b"<sheetViews>", b'<dimension ref="A1:J%d"/><sheetViews>' % (HEADER_ROW + len(balances))
            )
        return data

    sheets = {"xl/worksheets/sheet1.xml": "Invoices", "xl/worksheets/sheet2.xml": "Customers"}
    sheets["xl/worksheets/sheet3.xml"] = "Summary"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            sheet = sheets.get(info.filename)
            if sheet is None:
                data = zin.read(info)
                if info.filename == "[Content_Types].xml":
                    data = data.replace(
                        b"</Types>",
                        b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/></Types>' % _SST_TYPE,
                    )
                elif info.filename == "xl/_rels/workbook.xml.rels":
                    data = data.replace(
                        b"</Relationships>",
                        b'<Relationship Type="%s" Target="sharedStrings.xml" Id="rId99"/></Relationships>' % _SST_REL,
                    )
                elif info.filename == "xl/workbook.xml":
                    data = data.replace(b' fullCalcOnLoad="1"', b"")
                zout.writestr(info, data, compress_type=info.compress_type)
                continue
            with zin.open(info) as fin, zout.open(info.filename, "w") as fout:
                tail = b""
                while True:
                    chunk = fin.read(1 << 22)
                    data = tail + chunk
                    if chunk:
                        cut = data.rfind(b"</row>") + len(b"</row>")
                        if cut < len(b"</row>"):
                            tail = data
                            continue
                        data, tail = data[:cut], data[cut:]
                    fout.write(excel_like(data, sheet))
                    if not chunk:
                        break
        with zout.open("xl/sharedStrings.xml", "w") as fout:
            fout.write(
                b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">'
                % (len(shared), len(shared))
            )
            for text in shared:
                fout.write(b"<si><t>%s</t></si>" % text)
            fout.write(b"</sst>")


def cached_workbook(folder: Path, rows: int, regenerate: bool = False, customers: int = CUSTOMERS) -> Path:
    """The benchmark workbook with ``rows`` invoices (of ``customers`` customers) in ``folder``, built once and reused."""
    folder.mkdir(parents=True, exist_ok=True)
    few = "" if customers == CUSTOMERS else f"-{customers}-customers"
    path = folder / f"invoices-{rows}{few}-v{VERSION}.xlsx"
    if regenerate or not path.exists():
        tmp = folder / f".building-{rows}{few}.xlsx"
        build(tmp, rows, customers=customers)
        shutil.move(tmp, path)
    return path
