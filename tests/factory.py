"""Builders of realistic receivables workbooks for the tests (and the sample workbooks).

``make_workbook`` writes the kind of workbook an accountant keeps: a title and a note
above the header, a styled and frozen header row, an autofilter, a drop-down list,
conditional formatting, a cell comment, a logo, a customers sheet with a chart and a
defined name, and Balance formulas that carry cached results the way Excel saves them
(openpyxl alone writes formulas without results; ``inject_cached_values`` adds them).

Row dicts are keyed by the English header names of ``DEFAULT_HEADERS``. Values are
written as given: a ``date`` becomes a date cell, a number a number cell, and text stays
text, so a test can put ``"31/02/2026"`` in a date column. A key ``"_comment"`` in a row
puts that text as a comment on the row's Hold cell.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.comments import Comment
from openpyxl.drawing.image import Image as XLImage
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation

DEFAULT_HEADERS: tuple[str, ...] = (
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
    "Hold",
    "Promised Date",
    "Installment Of",
    "Notes",
)

# The columns every invoice sheet in the tests has: the required ones, the email, the issue date and paid.
CORE_HEADERS: tuple[str, ...] = DEFAULT_HEADERS[:7]

DEFAULT_TITLE_ROWS: tuple[str, ...] = (
    "Acme Supplies Ltd - Accounts Receivable",
    "Maintained by the accountant",
)

# Where the header and the first invoice land with the default title rows.
HEADER_ROW = 4
FIRST_DATA_ROW = 5

PAYMENT_METHODS: tuple[str, ...] = ("Bank transfer", "Card", "PIX", "Boleto", "Check")

# The Portuguese (Brazil) layout, for tests and the Brazilian sample.
PT_HEADER_MAP: dict[str, str] = {
    "Invoice": "Fatura",
    "Customer": "Cliente",
    "Email": "E-mail",
    "Issue Date": "Emissão",
    "Due Date": "Vencimento",
    "Amount": "Valor",
    "Paid": "Pago",
    "Balance": "Saldo",
    "Payment Method": "Forma de Pagamento",
    "Terms": "Prazo",
    "Hold": "Bloqueio",
    "Promised Date": "Data Prometida",
    "Installment Of": "Parcela de",
    "Notes": "Observações",
}
PT_HEADERS: tuple[str, ...] = tuple(PT_HEADER_MAP[h] for h in DEFAULT_HEADERS)

CUSTOMER_KEYS: tuple[str, ...] = ("Customer", "Email", "Credit Limit", "Phone")

# Fixed document timestamps, so that rebuilding a workbook gives the same bytes.
FIXED_TIMESTAMP = datetime(2026, 11, 20, 9, 0, 0)

DATE_KEYS = frozenset({"Issue Date", "Due Date", "Promised Date"})
MONEY_KEYS = frozenset({"Amount", "Paid", "Balance"})

_COLUMN_WIDTHS = {
    "Invoice": 13,
    "Customer": 28,
    "Email": 38,
    "Issue Date": 12,
    "Due Date": 12,
    "Amount": 13,
    "Paid": 13,
    "Balance": 13,
    "Payment Method": 18,
    "Terms": 14,
    "Hold": 11,
    "Promised Date": 14,
    "Installment Of": 14,
    "Notes": 44,
}

_HEADER_FILL = PatternFill("solid", start_color="1F4E78", end_color="1F4E78")
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_RED_FILL = PatternFill("solid", start_color="FFC7CE", end_color="FFC7CE")
_THIN = Side(style="thin", color="A6A6A6")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)


def make_workbook(
    path: str | Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    headers: Sequence[str] = DEFAULT_HEADERS,
    header_map: Mapping[str, str] | None = None,
    sheet: str = "Invoices",
    title_rows: Sequence[str] = DEFAULT_TITLE_ROWS,
    balance_formula: bool = True,
    extras: bool = True,
    customers: Sequence[Mapping[str, Any]] | None = None,
    customers_sheet: str = "Customers",
    customer_header_map: Mapping[str, str] | None = None,
    customer_keys: Sequence[str] = CUSTOMER_KEYS,
    default_credit_limit: float = 50000,
    credit_limits_name: str = "CreditLimits",
    payment_methods: Sequence[str] = PAYMENT_METHODS,
    date_format: str = "yyyy-mm-dd",
    money_format: str = "#,##0.00",
    comment_text: str = "Customer disputes this invoice - do not chase until resolved.",
    comment_author: str = "Accountant",
    logo_text: str = "ACME",
    chart_title: str = "Credit limit by customer",
    author: str = "Accountant",
) -> Path:
    """Write a receivables workbook to ``path`` and return the path.

    ``headers`` are the header texts in column order; ``header_map`` maps the English
    keys of ``rows`` to those texts (a header without a mapping is its own key, so a
    row may also be keyed by the written header). The header goes on the row after the
    title rows and one blank row (row 4 with the two default title rows, row 1 with
    none; title rows are written with or without ``extras``). ``extras`` adds the
    styling, validation, comment, logo, print setup and the customers sheet.
    """
    path = Path(path)
    key_of = _keys_for_headers(headers, header_map)
    header_row = len(title_rows) + 2 if title_rows else 1
    first_data = header_row + 1
    last_data = header_row + len(rows)
    ncols = len(headers)
    col_of = {key: idx + 1 for idx, key in enumerate(key_of)}

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    _fix_properties(wb, author)

    for i, text in enumerate(title_rows, start=1):
        ws.cell(row=i, column=1, value=text)
    for col, text in enumerate(headers, start=1):
        ws.cell(row=header_row, column=col, value=text)

    amount_col, paid_col = col_of.get("Amount"), col_of.get("Paid")
    for offset, row in enumerate(rows):
        r = first_data + offset
        for col, key in enumerate(key_of, start=1):
            header = headers[col - 1]
            if key == "Balance" and "Balance" not in row and header not in row:
                if balance_formula and amount_col and paid_col:
                    value: Any = f"={get_column_letter(amount_col)}{r}-{get_column_letter(paid_col)}{r}"
                else:
                    value = None
            else:
                value = row.get(key, row.get(header)) if key != header else row.get(key)
            if value is None or value == "":
                continue
            cell = ws.cell(row=r, column=col, value=value)
            if extras:
                if key in DATE_KEYS and isinstance(value, (date, datetime)):
                    cell.number_format = date_format
                elif key in MONEY_KEYS and (isinstance(value, (int, float)) or str(value).startswith("=")):
                    cell.number_format = money_format

    if extras:
        _decorate(
            ws,
            rows=rows,
            key_of=key_of,
            headers=headers,
            title_rows=title_rows,
            header_row=header_row,
            first_data=first_data,
            last_data=last_data,
            ncols=ncols,
            payment_methods=payment_methods,
            money_format=money_format,
            date_format=date_format,
            comment_text=comment_text,
            comment_author=comment_author,
            logo_text=logo_text,
        )
        _customers_sheet(
            wb,
            rows=rows,
            customers=customers,
            sheet=customers_sheet,
            keys=customer_keys,
            header_map=customer_header_map or {},
            default_limit=default_credit_limit,
            defined_name=credit_limits_name,
            money_format=money_format,
            chart_title=chart_title,
        )

    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    if balance_formula:
        inject_cached_values(path)
    normalize_package(path)
    return path


def header_row_for(title_rows: Sequence[str] = DEFAULT_TITLE_ROWS) -> int:
    """The row number ``make_workbook`` puts the header on for these title rows."""
    return len(title_rows) + 2 if title_rows else 1


def _keys_for_headers(headers: Sequence[str], header_map: Mapping[str, str] | None) -> list[str]:
    reverse = {written: key for key, written in (header_map or {}).items()}
    return [reverse.get(h, h) for h in headers]


def _fix_properties(wb: Workbook, author: str) -> None:
    props = wb.properties
    props.creator = author
    props.lastModifiedBy = author
    props.created = FIXED_TIMESTAMP
    props.modified = FIXED_TIMESTAMP


def _decorate(
    ws: Any,
    *,
    rows: Sequence[Mapping[str, Any]],
    key_of: list[str],
    headers: Sequence[str],
    title_rows: Sequence[str],
    header_row: int,
    first_data: int,
    last_data: int,
    ncols: int,
    payment_methods: Sequence[str],
    money_format: str,
    date_format: str,
    comment_text: str,
    comment_author: str,
    logo_text: str,
) -> None:
    last_letter = get_column_letter(ncols)
    col_of = {key: idx + 1 for idx, key in enumerate(key_of)}

    # Title (merged across the table) and note rows.
    if title_rows:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncols)
        ws.cell(row=1, column=1).font = Font(bold=True, size=16, color="1F4E78")
        ws.cell(row=1, column=1).alignment = Alignment(vertical="center")
        ws.row_dimensions[1].height = 36
        for i in range(2, len(title_rows) + 1):
            ws.cell(row=i, column=1).font = Font(italic=True, color="595959")

    # Header: bold on a fill, bordered, frozen, filtered.
    for col in range(1, ncols + 1):
        cell = ws.cell(row=header_row, column=col)
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.row_dimensions[header_row].height = 30
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1).coordinate
    ws.auto_filter.ref = f"A{header_row}:{last_letter}{max(last_data, header_row)}"

    for r in range(first_data, last_data + 1):
        for col in range(1, ncols + 1):
            ws.cell(row=r, column=col).border = _BORDER

    for col, key in enumerate(key_of, start=1):
        ws.column_dimensions[get_column_letter(col)].width = _COLUMN_WIDTHS.get(key, max(12, len(headers[col - 1]) + 4))

    # Drop-down list of payment methods, over the data and some spare rows below it.
    if "Payment Method" in col_of and payment_methods:
        letter = get_column_letter(col_of["Payment Method"])
        dv = DataValidation(
            type="list",
            formula1='"' + ",".join(payment_methods) + '"',
            allow_blank=True,
            showErrorMessage=True,
            errorTitle="Payment method",
            error="Pick a payment method from the list.",
        )
        dv.add(f"{letter}{first_data}:{letter}{last_data + 200}")
        ws.add_data_validation(dv)

    # Balance above zero shows red.
    if "Balance" in col_of:
        letter = get_column_letter(col_of["Balance"])
        ws.conditional_formatting.add(
            f"{letter}{first_data}:{letter}{last_data + 200}",
            CellIsRule(operator="greaterThan", formula=["0"], fill=_RED_FILL),
        )

    # A comment: rows may carry their own ("_comment"); otherwise one on the first held row.
    commented = False
    hold_col = col_of.get("Hold")
    for offset, row in enumerate(rows):
        if row.get("_comment"):
            ws.cell(row=first_data + offset, column=hold_col or 1).comment = _comment(
                str(row["_comment"]), comment_author
            )
            commented = True
    if not commented and rows:
        target = 0
        if hold_col:
            hold_header = headers[hold_col - 1]
            for offset, row in enumerate(rows):
                if row.get("Hold") or row.get(hold_header):
                    target = offset
                    break
        ws.cell(row=first_data + target, column=hold_col or 1).comment = _comment(comment_text, comment_author)

    # Printed landscape, one page wide, with the header repeated on every page.
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{header_row}:{header_row}"

    # The company logo at the top right.
    if logo_text:
        img = XLImage(io.BytesIO(make_logo_png(logo_text)))
        anchor_row = 1
        ws.add_image(img, f"{last_letter}{anchor_row}")


def _comment(text: str, author: str) -> Comment:
    comment = Comment(f"{author}:\n{text}", author)
    comment.width = 260
    comment.height = 90
    return comment


def make_logo_png(text: str = "ACME", size: tuple[int, int] = (150, 44)) -> bytes:
    """A small PNG logo drawn with Pillow: a coloured badge with a yellow disc and the company's name.

    Pillow's built-in font has no accented letters, so accents (^ ´ ` ~) are drawn by hand
    over their letters; the result does not depend on the fonts installed.
    """
    import unicodedata

    from PIL import Image, ImageDraw, ImageFont

    width, height = size
    font = ImageFont.load_default(20)
    img = Image.new("RGBA", size, (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, width - 1, height - 1), radius=8, fill=(31, 78, 120, 255))
    draw.ellipse((8, 8, height - 8, height - 8), fill=(244, 177, 39, 255))

    base, marks = "", []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch):
            marks.append((len(base) - 1, ch))
        else:
            base += ch
    x0, y_mid = height + 2, height // 2 + 3
    white = (255, 255, 255, 255)
    draw.text((x0, y_mid), base, fill=white, anchor="lm", font=font)
    top = draw.textbbox((x0, y_mid), base, anchor="lm", font=font)[1]
    for index, mark in marks:
        left = x0 + draw.textlength(base[:index], font=font)
        right = x0 + draw.textlength(base[: index + 1], font=font)
        mid, y = (left + right) / 2, top - 5
        if mark == "\u0302":  # circumflex
            draw.line([(mid - 4, y + 2), (mid, y - 2), (mid + 4, y + 2)], fill=white, width=2)
        elif mark == "\u0301":  # acute
            draw.line([(mid - 1, y + 2), (mid + 3, y - 2)], fill=white, width=2)
        elif mark == "\u0300":  # grave
            draw.line([(mid - 3, y - 2), (mid + 1, y + 2)], fill=white, width=2)
        elif mark == "\u0303":  # tilde
            draw.line([(mid - 4, y + 1), (mid - 2, y - 1), (mid + 1, y + 1), (mid + 4, y - 1)], fill=white, width=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _customers_sheet(
    wb: Workbook,
    *,
    rows: Sequence[Mapping[str, Any]],
    customers: Sequence[Mapping[str, Any]] | None,
    sheet: str,
    keys: Sequence[str],
    header_map: Mapping[str, str],
    default_limit: float,
    defined_name: str,
    money_format: str,
    chart_title: str,
) -> None:
    if customers is None:
        customers = customers_from(rows, default_limit)

    ws = wb.create_sheet(sheet)
    for col, key in enumerate(keys, start=1):
        cell = ws.cell(row=1, column=col, value=header_map.get(key, key))
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.border = _BORDER
        ws.column_dimensions[get_column_letter(col)].width = {
            "Customer": 30,
            "Email": 36,
            "Credit Limit": 16,
            "Phone": 20,
        }.get(key, 16)
    for r, customer in enumerate(customers, start=2):
        for col, key in enumerate(keys, start=1):
            value = customer.get(key)
            cell = ws.cell(row=r, column=col, value=value if value != "" else None)
            cell.border = _BORDER
            if key == "Credit Limit" and isinstance(value, (int, float)):
                cell.number_format = money_format
    ws.freeze_panes = "A2"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True

    last = len(customers) + 1
    if "Credit Limit" in keys and customers:
        limit_col = list(keys).index("Credit Limit") + 1
        letter = get_column_letter(limit_col)
        ref = f"{_sheet_ref(sheet)}!${letter}$2:${letter}${last}"
        wb.defined_names[defined_name] = DefinedName(defined_name, attr_text=ref)

        chart = BarChart()
        chart.type = "bar"
        chart.style = 10
        chart.title = chart_title
        chart.legend = None
        chart.height = max(7.5, 0.6 * len(customers) + 2)
        chart.width = 16
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        data = Reference(ws, min_col=limit_col, min_row=1, max_row=last)
        cats = Reference(ws, min_col=1, min_row=2, max_row=last)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(cats)
        ws.add_chart(chart, f"{get_column_letter(len(keys) + 2)}2")


def _sheet_ref(sheet: str) -> str:
    """A sheet name as a formula reference: quoted only when it has to be (as Excel writes it)."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", sheet) and not re.fullmatch(r"[A-Za-z]{1,3}\d+", sheet):
        return sheet
    return str(quote_sheetname(sheet))


# --- cached formula results -------------------------------------------------------

_CELL_RE = re.compile(rb"<c\b(?P<attrs>[^>]*?)(?:/>|>(?P<body>.*?)</c>)", re.S)
_ATTR_RE = re.compile(rb'\b(?P<name>[rt])="(?P<value>[^"]*)"')
_V_RE = re.compile(rb"<v>(?P<v>[^<]*)</v>|<v/>")
_F_RE = re.compile(rb"<f>(?P<f>[^<]*)</f>")
_TOKEN_RE = re.compile(
    r"\s*(?:(?P<range>\$?[A-Z]{1,3}\$?\d+:\$?[A-Z]{1,3}\$?\d+)"
    r"|(?P<ref>\$?[A-Z]{1,3}\$?\d+)(?![\w(!])"
    r"|(?P<func>SUM|MIN|MAX|ROUND|ABS)\("
    r"|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<op>[-+*/(),]))"
)


class _Unsupported(Exception):
    pass


def inject_cached_values(path: str | Path) -> int:
    """Add cached results (``<v>``) to the simple formulas of every worksheet of ``path``.

    Handles arithmetic (+ - * / and brackets) of numbers and same-sheet references to
    numeric or empty cells, and SUM/MIN/MAX/ROUND/ABS of references and ranges. Other
    formulas are left without a result. Every other part of the package is kept as it
    was, byte for byte, in the same member order. Returns how many results were added.
    """
    added = 0

    def transform(name: str, data: bytes) -> bytes:
        nonlocal added
        if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
            return data
        new, count = _inject_sheet(data)
        added += count
        return new

    _rewrite_zip(Path(path), transform)
    return added


def _inject_sheet(xml: bytes) -> tuple[bytes, int]:
    cells: dict[str, tuple[bytes | None, bytes | None, bytes | None]] = {}  # ref -> (t, v, f)
    for m in _CELL_RE.finditer(xml):
        attrs = {a.group("name"): a.group("value") for a in _ATTR_RE.finditer(m.group("attrs"))}
        ref = attrs.get(b"r")
        if ref is None:
            continue
        body = m.group("body") or b""
        v = _V_RE.search(body)
        f = _F_RE.search(body)
        value = v.group("v") if v and v.group("v") else None
        cells[ref.decode()] = (attrs.get(b"t"), value, f.group("f") if f else None)

    memo: dict[str, float] = {}
    active: set[str] = set()

    def value_of(ref: str) -> float:
        if ref in memo:
            return memo[ref]
        cell = cells.get(ref)
        if cell is None:
            return 0.0
        t, v, f = cell
        if t not in (None, b"n"):
            raise _Unsupported(ref)
        if f is not None and v is None:
            if ref in active:
                raise _Unsupported("circular")
            active.add(ref)
            try:
                result = _evaluate(f.decode(), value_of)
            finally:
                active.discard(ref)
        elif v is None:
            result = 0.0
        else:
            result = float(v)
        memo[ref] = result
        return result

    count = 0

    def fill(m: re.Match[bytes]) -> bytes:
        nonlocal count
        body = m.group("body")
        if not body:
            return m.group(0)
        attrs = {a.group("name"): a.group("value") for a in _ATTR_RE.finditer(m.group("attrs"))}
        f = _F_RE.search(body)
        if f is None or attrs.get(b"t") not in (None, b"n"):
            return m.group(0)
        v = _V_RE.search(body)
        if v is not None and v.group("v"):
            return m.group(0)
        try:
            result = value_of(attrs[b"r"].decode())
        except (_Unsupported, ZeroDivisionError, OverflowError, ValueError, KeyError):
            return m.group(0)
        text = b"<v>" + _format_number(result).encode() + b"</v>"
        if v is not None:
            body = body[: v.start()] + text + body[v.end() :]
        else:
            body = body[: f.end()] + text + body[f.end() :]
        count += 1
        return b"<c" + m.group("attrs") + b">" + body + b"</c>"

    return _CELL_RE.sub(fill, xml), count


def _format_number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise ValueError(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _expand_range(text: str) -> list[str]:
    from openpyxl.utils.cell import range_boundaries

    min_col, min_row, max_col, max_row = range_boundaries(text.replace("$", ""))
    return [f"{get_column_letter(c)}{r}" for r in range(min_row, max_row + 1) for c in range(min_col, max_col + 1)]


def _evaluate(formula: str, value_of: Callable[[str], float]) -> float:
    """Evaluate a simple formula (without the leading '=') or raise _Unsupported."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = formula.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise _Unsupported(formula)
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    tokens.append(("end", ""))
    i = 0

    def peek() -> tuple[str, str]:
        return tokens[i]

    def take() -> tuple[str, str]:
        nonlocal i
        tok = tokens[i]
        i += 1
        return tok

    def expect(op: str) -> None:
        if take() != ("op", op):
            raise _Unsupported(formula)

    def expr() -> float:
        value = term()
        while peek() in (("op", "+"), ("op", "-")):
            op = take()[1]
            rhs = term()
            value = value + rhs if op == "+" else value - rhs
        return value

    def term() -> float:
        value = factor()
        while peek() in (("op", "*"), ("op", "/")):
            op = take()[1]
            rhs = factor()
            value = value * rhs if op == "*" else value / rhs
        return value

    def factor() -> float:
        kind, tok = take()
        if (kind, tok) == ("op", "-"):
            return -factor()
        if (kind, tok) == ("op", "+"):
            return factor()
        if kind == "num":
            return float(tok)
        if kind == "ref":
            return value_of(tok.replace("$", ""))
        if (kind, tok) == ("op", "("):
            value = expr()
            expect(")")
            return value
        if kind == "func":
            args: list[float] = []
            if peek() != ("op", ")"):
                while True:
                    if peek()[0] == "range":
                        args.extend(value_of(ref) for ref in _expand_range(take()[1]))
                    else:
                        args.append(expr())
                    if peek() == ("op", ","):
                        take()
                        continue
                    break
            expect(")")
            return _call(tok, args)
        raise _Unsupported(formula)

    result = expr()
    if peek()[0] != "end":
        raise _Unsupported(formula)
    return result


def _call(name: str, args: list[float]) -> float:
    if name == "SUM":
        return math.fsum(args)
    if name == "MIN":
        return min(args) if args else 0.0
    if name == "MAX":
        return max(args) if args else 0.0
    if name == "ABS" and len(args) == 1:
        return abs(args[0])
    if name == "ROUND" and len(args) == 2:
        digits = int(args[1])
        return float(round(args[0], digits))
    raise _Unsupported(name)


# --- package helpers --------------------------------------------------------------------


def _rewrite_zip(
    path: Path, transform: Callable[[str, bytes], bytes], date_time: tuple[int, ...] | None = None
) -> None:
    """Rewrite the zip at ``path`` passing each member through ``transform``, same order and names."""
    with zipfile.ZipFile(path) as zin:
        members = [(info, zin.read(info.filename)) for info in zin.infolist()]
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in members:
            new_info = zipfile.ZipInfo(info.filename, date_time=date_time or info.date_time)  # type: ignore[arg-type]
            new_info.compress_type = info.compress_type
            new_info.external_attr = info.external_attr
            new_info.create_system = info.create_system
            zout.writestr(new_info, transform(info.filename, data))
    tmp.replace(path)


_MODIFIED_RE = re.compile(rb"(<dcterms:modified\b[^>]*>)[^<]*(</dcterms:modified>)")


def normalize_package(path: str | Path, when: datetime = FIXED_TIMESTAMP) -> None:
    """Make a saved workbook's bytes reproducible: fixed zip member times and modified date.

    openpyxl stamps the save time into docProps/core.xml and the zip entries; this puts
    ``when`` in both places. Part contents are otherwise unchanged.
    """
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()

    def transform(name: str, data: bytes) -> bytes:
        if name == "docProps/core.xml":
            return _MODIFIED_RE.sub(lambda m: m.group(1) + stamp + m.group(2), data)
        return data

    _rewrite_zip(Path(path), transform, date_time=when.timetuple()[:6])


def read_parts(path: str | Path) -> dict[str, bytes]:
    """Every member of the package at ``path``: name -> decompressed bytes, in zip order."""
    with zipfile.ZipFile(path) as z:
        return {info.filename: z.read(info.filename) for info in z.infolist()}


def sheet_part(path: str | Path, sheet: str) -> str:
    """The zip member name of the worksheet called ``sheet`` (e.g. 'xl/worksheets/sheet1.xml')."""
    from lxml import etree

    parts = read_parts(path)
    ns = {
        "m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
        "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        "p": "http://schemas.openxmlformats.org/package/2006/relationships",
    }
    wb = etree.fromstring(parts["xl/workbook.xml"])
    rels = etree.fromstring(parts["xl/_rels/workbook.xml.rels"])
    targets = {rel.get("Id"): rel.get("Target") for rel in rels.findall("p:Relationship", ns)}
    for node in wb.findall("m:sheets/m:sheet", ns):
        if node.get("name") == sheet:
            target = str(targets[node.get(f"{{{ns['r']}}}id")])
            return target.lstrip("/") if target.startswith("/") else "xl/" + target
    raise KeyError(sheet)


def sheet_xml(path: str | Path, sheet: str) -> bytes:
    """The raw XML of the worksheet called ``sheet``."""
    return read_parts(path)[sheet_part(path, sheet)]


def cell_xml(xml: bytes, ref: str) -> str | None:
    """The ``<c>`` element for ``ref`` in worksheet XML, as text, or None when absent."""
    for m in _CELL_RE.finditer(xml):
        if re.search(rb'\br="' + ref.encode() + rb'"', m.group("attrs")):
            return m.group(0).decode()
    return None


# --- sample data ------------------------------------------------------------------------------


def sample_rows(as_of: date = date(2026, 11, 20)) -> list[dict[str, Any]]:
    """About twenty invoices of seven customers, dated relative to ``as_of``.

    Covers: not yet due, due today, overdue in each aging bucket (1-30, 31-60, 61-90,
    90+, including the bucket edges 1, 30, 31, 60, 61, 90, 91), fully paid, partly
    paid, one disputed (Hold = "Disputed"), one with a promised date; every email valid.
    """
    customers = {
        "Northwind Traders": "billing@northwind.com",
        "Contoso Retail": "accounts.payable@contoso-retail.com",
        "Fabrikam Hardware": "ap@fabrikamhardware.co.uk",
        "Brightwater Dental": "office@brightwaterdental.com",
        "Kestrel Logistics": "payables@kestrellogistics.com",
        "Maple Street Bakery": "maplestreetbakery@gmail.com",
        "Harbour View Hotel": "purchasing@harbourviewhotel.co.uk",
    }
    # (invoice, customer, days until due (negative = overdue), amount, paid, method, extra fields)
    # fmt: off
    spec: list[tuple[str, str, int, float, float, str, dict[str, Any]]] = [
        ("INV-2001", "Northwind Traders", 10, 1200.00, 0, "Bank transfer", {}),  # not yet due
        ("INV-2002", "Northwind Traders", -15, 850.50, 0, "Bank transfer", {}),  # 1-30
        ("INV-2003", "Northwind Traders", -45, 2300.00, 1000.00, "Bank transfer", {"Notes": "Part payment received"}),  # 31-60, partly paid
        ("INV-2004", "Contoso Retail", -75, 4100.00, 0, "Check", {}),  # 61-90
        ("INV-2005", "Contoso Retail", -120, 3650.00, 0, "Check", {}),  # 90+
        ("INV-2006", "Contoso Retail", -30, 975.25, 975.25, "Card", {}),  # paid (would be 1-30 edge)
        ("INV-2007", "Contoso Retail", 25, 5200.00, 0, "Check", {}),  # not yet due
        ("INV-2008", "Fabrikam Hardware", -10, 1450.00, 0, "Bank transfer", {"Hold": "Disputed", "Notes": "Damaged on delivery"}),  # disputed
        ("INV-2009", "Fabrikam Hardware", -61, 2750.00, 0, "Bank transfer", {}),  # 61-90 edge
        ("INV-2010", "Fabrikam Hardware", -95, 620.00, 620.00, "Bank transfer", {}),  # paid
        ("INV-2011", "Brightwater Dental", -5, 310.00, 100.00, "Card", {}),  # 1-30, partly paid
        ("INV-2012", "Brightwater Dental", 5, 480.00, 0, "Card", {}),  # not yet due
        ("INV-2013", "Kestrel Logistics", -1, 3300.00, 0, "Bank transfer", {}),  # 1-30 edge
        ("INV-2014", "Kestrel Logistics", -60, 1875.00, 0, "Bank transfer", {}),  # 31-60 edge
        ("INV-2015", "Kestrel Logistics", -90, 2120.00, 0, "Bank transfer", {}),  # 61-90 edge
        ("INV-2016", "Kestrel Logistics", -91, 990.00, 0, "Bank transfer", {}),  # 90+ edge
        ("INV-2017", "Maple Street Bakery", 0, 240.00, 0, "Card", {}),  # due today: not overdue
        ("INV-2018", "Maple Street Bakery", -31, 415.75, 0, "Card", {"Promised Date": as_of + timedelta(days=7)}),  # 31-60 edge, promised
        ("INV-2019", "Harbour View Hotel", -40, 1600.00, 1600.00, "Card", {}),  # paid
        ("INV-2020", "Harbour View Hotel", 15, 2250.00, 0, "Card", {}),  # not yet due
    ]
    # fmt: on
    rows: list[dict[str, Any]] = []
    for invoice, customer, days, amount, paid, method, extra in spec:
        due = as_of + timedelta(days=days)
        row: dict[str, Any] = {
            "Invoice": invoice,
            "Customer": customer,
            "Email": customers[customer],
            "Issue Date": due - timedelta(days=30),
            "Due Date": due,
            "Amount": amount,
            "Paid": paid,
            "Payment Method": method,
            "Terms": "Net 30",
            "Hold": None,
            "Promised Date": None,
            "Installment Of": None,
            "Notes": None,
        }
        row.update(extra)
        rows.append(row)
    return rows


def expected_balance(row: Mapping[str, Any]) -> float:
    """Amount - Paid of a row dict (blank counts as zero)."""
    return float(row.get("Amount") or 0) - float(row.get("Paid") or 0)


def customers_from(rows: Iterable[Mapping[str, Any]], limit: float = 50000) -> list[dict[str, Any]]:
    """The customers list ``make_workbook`` derives from ``rows`` when none is given."""
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = row.get("Customer")
        if isinstance(name, str) and name and name not in seen:
            seen[name] = {"Customer": name, "Email": row.get("Email"), "Credit Limit": limit}
    return list(seen.values())


__all__ = [
    "DEFAULT_HEADERS",
    "DEFAULT_TITLE_ROWS",
    "FIRST_DATA_ROW",
    "FIXED_TIMESTAMP",
    "HEADER_ROW",
    "PAYMENT_METHODS",
    "PT_HEADERS",
    "PT_HEADER_MAP",
    "cell_xml",
    "customers_from",
    "expected_balance",
    "header_row_for",
    "inject_cached_values",
    "make_logo_png",
    "make_workbook",
    "normalize_package",
    "read_parts",
    "sample_rows",
    "sheet_part",
    "sheet_xml",
]
