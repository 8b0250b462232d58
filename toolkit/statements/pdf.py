"""A statement of account as a PDF on A4, written with fpdf2 (pure Python, no system libraries).

Why fpdf2 rather than rendering the HTML page (WeasyPrint): see docs/statements.md. The
text is set in DejaVu Sans when the system has it (every language's letters), else in the
PDF's built-in Helvetica, which knows Latin-1 only: other characters are then replaced,
never dropped silently from a number or an amount (those are always Latin-1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF

from toolkit.statements.build import Statement
from toolkit.statements.render import StatementStyle

# Where a Unicode font is usually found (Debian/Ubuntu, Fedora, macOS, Windows).
_FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf"),
    ("/Library/Fonts/Arial Unicode.ttf", "/Library/Fonts/Arial Unicode.ttf"),
    ("C:/Windows/Fonts/arial.ttf", "C:/Windows/Fonts/arialbd.ttf"),
)
_INVOICE_COLUMNS = (  # (label key, width in mm, align)
    ("invoice", 26, "L"),
    ("issue_date", 24, "L"),
    ("due_date", 24, "L"),
    ("amount", 25, "R"),
    ("paid", 22, "R"),
    ("balance", 25, "R"),
    ("days_overdue", 16, "R"),
    ("aging", 18, "L"),
)
_LINE = 5.2  # row height, mm


class _StatementPdf(FPDF):
    """An A4 page with the statement's header row repeated on every page of a long table."""

    def __init__(self, unicode: bool = True) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=15)
        self.unicode = unicode and _unicode_font(self)
        if not self.unicode:
            self.set_font("Helvetica", size=9.5)
        self.footer_text = ""
        self._char_widths: dict[tuple[str, str, float], dict[str, float]] = {}
        self._encoded: dict[str, dict[str, str]] = {}
        self.set_draw_color(190, 190, 190)  # the rules between rows

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(size=8)
        self.cell(0, 5, self.clean(f"{self.footer_text}  {self.page_no()}/{{nb}}"), align="R")

    def text_width(self, text: str) -> float:
        """The width of plain text in the current font, from each character's width (looked up once)."""
        widths = self._char_widths.setdefault((self.font_family, self.font_style, self.font_size_pt), {})
        total = 0.0
        for char in text:
            width = widths.get(char)
            if width is None:
                width = widths[char] = self.get_string_width(char, normalized=True, markdown=False)
            total += width
        return total

    def encoded(self, text: str) -> str:
        """``(text) Tj`` in the current font, as ``text()`` writes it (each text encoded once)."""
        cache = self._encoded.setdefault(self.font_family + self.font_style, {})
        shown = cache.get(text)
        if shown is None:
            assert self.current_font is not None
            shown = cache[text] = self.current_font.encode_text(self.normalize_text(text))
        return shown

    def clean(self, text: str) -> str:
        """Text the current font can write."""
        if self.unicode:
            return text
        return text.replace("\u00a0", " ").replace("\u202f", " ").encode("latin-1", "replace").decode("latin-1")


def _unicode_font(pdf: FPDF) -> bool:
    for regular, bold in _FONT_CANDIDATES:
        if Path(regular).is_file() and Path(bold).is_file():
            pdf.add_font("Body", "", regular)
            pdf.add_font("Body", "B", bold)
            pdf.set_font("Body", size=9.5)
            return True
    return False


def needs_unicode(statement: Statement, style: StatementStyle) -> bool:
    """Whether any text of the statement lies outside Latin-1, the PDF's built-in Helvetica.

    Most statements (English, Portuguese, Spanish, French...) do not: they are set in Helvetica,
    which costs nothing to load, where loading a TrueType font costs a tenth of a second or more
    for every statement (``statement --all`` writes one per customer).
    """
    texts = [
        statement.customer,
        statement.email or "",
        *statement.company.values(),
        *style.labels.values(),
        *statement.aging_columns,
        style.money(Decimal("-1234567.89")),
        style.date(statement.as_of),
        *(text for _, text in statement.how_to_pay),
        *(line.number for line in statement.open_invoices),
        *(f"{p.invoice}{p.method}" for p in statement.payments),
        *(c.invoice for c in statement.credits),
        *(f"{c.invoice}{c.description}" for c in statement.late_charges),
    ]
    try:
        "".join(texts).replace("\u202f", " ").encode("latin-1")
    except UnicodeEncodeError:
        return True
    return False


def render_pdf(statement: Statement, style: StatementStyle) -> bytes:
    """The statement as PDF bytes."""
    t, f = style.labels, style
    pdf = _StatementPdf(unicode=needs_unicode(statement, style))
    pdf.footer_text = f"{t['title']} - {statement.customer} - {f.date(statement.as_of)}"
    pdf.set_title(pdf.clean(f"{t['title']}: {statement.customer}"))
    pdf.set_creator("Receivables Toolkit")
    pdf.add_page()
    _heading(pdf, statement, style)
    _section(pdf, t["open_invoices"])
    if statement.open_invoices:
        _invoice_table(pdf, statement, style)
        _section(pdf, t["aging_summary"])
        columns = statement.aging_columns
        width = (pdf.epw) / len(columns)
        _row(pdf, [(c, width, "R") for c in columns], bold=True, fill=True)
        _row(pdf, [(f.money(a), width, "R") for a in statement.aging_totals.values()])
    else:
        _paragraph(pdf, t["no_open"])
    if statement.late_charges:
        _section(pdf, t["late_charges"])
        charges = ((c.invoice, c.description, f.money(c.amount)) for c in statement.late_charges)
        _table(pdf, ((t["invoice"], 40, "L"), (t["description"], 100, "L"), (t["amount"], 40, "R")), charges)
        _row(pdf, [(t["total_late"], 140, "L"), (f.money(statement.total_late_charges), 40, "R")], bold=True)
    _payments(pdf, statement, style)
    if statement.credits:
        _section(pdf, t["credits"])
        credits = ((credit.invoice, f.money(credit.amount)) for credit in statement.credits)
        _table(pdf, ((t["invoice"], 60, "L"), (t["amount"], 40, "R")), credits)
        _row(pdf, [("", 60, "L"), (f.money(statement.total_credits), 40, "R")], bold=True)
    pdf.ln(3)
    pdf.set_font(style="B", size=12)
    pdf.cell(0, 8, pdf.clean(f"{t['total_due']}: {f.money(statement.total_due)}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(style="", size=9.5)
    _payment_help(pdf, statement, style)
    return bytes(pdf.output())


def _heading(pdf: _StatementPdf, statement: Statement, style: StatementStyle) -> None:
    t, f = style.labels, style
    top = pdf.get_y()
    pdf.set_font(style="B", size=17)
    pdf.cell(110, 9, pdf.clean(t["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(style="", size=10)
    for line in (
        f"{t['customer']}: {statement.customer}",
        statement.email or "",
        f"{t['as_of']}: {f.date(statement.as_of)}",
    ):
        if line:
            pdf.cell(110, 5.5, pdf.clean(line), new_x="LMARGIN", new_y="NEXT")
    bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + 110, top)
    company = statement.company
    lines = (company.get("name", ""), company.get("email", ""), company.get("phone", ""), *statement.identity)
    for i, line in enumerate(lines):
        if line:
            pdf.set_font(style="B" if i == 0 else "", size=10 if i < 3 else 8)
            pdf.cell(pdf.epw - 110, 5.5, pdf.clean(line), align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(pdf.l_margin, max(bottom, pdf.get_y()) + 3)
    pdf.set_font(style="B", size=12)
    due = f"{t['total_due']}: {f.money(statement.total_due)}"
    if statement.total_overdue:
        due += f"  ({t['overdue']}: {f.money(statement.total_overdue)})"
    pdf.cell(0, 7, pdf.clean(due), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(style="", size=9.5)


def _section(pdf: _StatementPdf, title: str) -> None:
    if pdf.get_y() > pdf.h - 40:
        pdf.add_page()
    pdf.ln(3)
    pdf.set_font(style="B", size=11.5)
    pdf.cell(0, 7, pdf.clean(title), border="B", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font(style="", size=9.5)


def _paragraph(pdf: _StatementPdf, text: str) -> None:
    pdf.multi_cell(0, 5, pdf.clean(text), new_x="LMARGIN", new_y="NEXT")


def _row(
    pdf: _StatementPdf, cells: Sequence[tuple[str, float, str]], *, bold: bool = False, fill: bool = False
) -> None:
    if bold:
        pdf.set_font(style="B")
    if fill:
        pdf.set_fill_color(240, 240, 240)
    for text, width, align in cells:
        pdf.cell(width, _LINE, pdf.clean(text), border="B", align=align, fill=fill)
    pdf.ln(_LINE)
    if fill:
        pdf.set_fill_color(0, 0, 0)  # as the text colour: ``text`` then writes no colour change for every text
    if bold:
        pdf.set_font(style="", size=9.5)


def _fast_row(pdf: _StatementPdf, cells: Sequence[tuple[str, float, str]]) -> None:
    """A plain table row, its texts written as one piece of the page's content, then one rule.

    ``cell`` costs about a millisecond a cell and ``text`` a tenth of that, which a statement of
    14,000 invoices (a reminder's attachment) cannot afford: the row's text operators are put
    together here, each text encoded once (dates and labels repeat), as ``text`` would write them.
    """
    x, y = pdf.l_margin, pdf.get_y()
    baseline = (pdf.h - (y + _LINE / 2 + pdf.font_size * 0.35)) * pdf.k
    padding = pdf.c_margin
    if not pdf.current_font_is_set_on_page:
        pdf.text(x, y, "")  # sets the font on this page
    operators = []
    for text, width, align in cells:
        shown = pdf.clean(text)
        if shown:
            left = x + padding
            if align == "R":
                left = x + width - padding - pdf.text_width(shown)
            operators.append(f"BT {left * pdf.k:.2f} {baseline:.2f} Td {pdf.encoded(shown)} ET")
        x += width
    pdf._out(" ".join(operators))
    pdf.line(pdf.l_margin, y + _LINE, x, y + _LINE)
    pdf.set_y(y + _LINE)


def _table(pdf: _StatementPdf, header: Sequence[tuple[str, float, str]], rows: Iterable[Sequence[str]]) -> None:
    """A header row, then the rows; the header again at the top of every new page."""
    _row(pdf, header, bold=True, fill=True)
    widths = [(width, align) for _, width, align in header]
    limit = pdf.page_break_trigger
    for values in rows:
        if pdf.get_y() + _LINE > limit:
            pdf.add_page()
            _row(pdf, header, bold=True, fill=True)
        _fast_row(pdf, [(v, w, a) for v, (w, a) in zip(values, widths, strict=True)])


def _invoice_table(pdf: _StatementPdf, statement: Statement, style: StatementStyle) -> None:
    t, f = style.labels, style
    header = [(t[key], width, align) for key, width, align in _INVOICE_COLUMNS]
    rows = (
        (
            line.number,
            f.date(line.issue_date),
            f.date(line.due_date),
            f.money(line.amount),
            f.money(line.paid),
            f.money(line.balance),
            str(line.days_overdue or ""),
            f"{line.aging} ({t['in_dispute']})" if line.on_hold else line.aging,
        )
        for line in statement.open_invoices
    )
    _table(pdf, header, rows)
    total_width = sum(w for _, w, _ in _INVOICE_COLUMNS[:5])
    _row(
        pdf,
        [(t["total_open"], total_width, "L"), (f.money(statement.total_open), _INVOICE_COLUMNS[5][1], "R")],
        bold=True,
    )


def _payments(pdf: _StatementPdf, statement: Statement, style: StatementStyle) -> None:
    t, f = style.labels, style
    title = t["payments"]
    if statement.has_payment_dates and statement.payments_since is not None:
        title += f" ({t['payments_since']} {f.date(statement.payments_since)})"
    _section(pdf, title)
    if not statement.has_payment_dates:
        _paragraph(pdf, t["no_payment_dates"])
        return
    if not statement.payments:
        _paragraph(pdf, t["no_payments"])
        return
    columns = ((t["paid_on"], 30, "L"), (t["invoice"], 40, "L"), (t["method"], 50, "L"), (t["amount"], 40, "R"))
    rows = ((f.date(p.paid_on), p.invoice, p.method, f.money(p.amount)) for p in statement.payments)
    _table(pdf, columns, rows)
    _row(pdf, [("", 120, "L"), (f.money(statement.total_payments), 40, "R")], bold=True)


def _payment_help(pdf: _StatementPdf, statement: Statement, style: StatementStyle) -> None:
    t = style.labels
    if statement.how_to_pay:
        _section(pdf, t["how_to_pay"])
        for label, text in statement.how_to_pay:
            _paragraph(pdf, f"{t[label]}: {text}")
    contact = statement.company.get("dispute_contact", "")
    if contact:
        pdf.ln(2)
        _paragraph(pdf, f"{t['dispute']} {contact}.")
