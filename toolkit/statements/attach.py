"""The customer's statement, as the PDF and CSV files attached to an email."""

from __future__ import annotations

from toolkit.pipeline import Analysis
from toolkit.reminders.compose import Reminder
from toolkit.reminders.eml import Attachment
from toolkit.report.figures import customer_key
from toolkit.rows.aging import RowResult
from toolkit.rows.invoices import Invoice
from toolkit.statements.build import Statement, build_statement, lines_by_customer
from toolkit.statements.files import file_slug
from toolkit.statements.render import StatementStyle, csv_text


def statement_files(statement: Statement, style: StatementStyle) -> list[Attachment]:
    """``statement-<customer>-<date>.pdf`` and ``.csv``, ready to attach."""
    from toolkit.statements.pdf import render_pdf

    stem = f"statement-{file_slug(statement.customer)}-{statement.as_of.isoformat()}"
    return [
        Attachment(f"{stem}.pdf", "application", "pdf", render_pdf(statement, style)),
        Attachment(f"{stem}.csv", "text", "csv", csv_text(statement).encode("utf-8-sig")),
    ]


class StatementAttacher:
    """Builds a customer's statement files on demand; the invoices are grouped by customer once, when first asked."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self._groups: dict[str, list[tuple[Invoice, RowResult]]] | None = None
        self._style: StatementStyle | None = None

    def statement(self, customer: str) -> Statement:
        if self._groups is None:
            self._groups = lines_by_customer(self.analysis)
        return build_statement(self.analysis, self._groups.get(customer_key(customer), []), customer)

    def files(self, customer: str) -> list[Attachment]:
        """The customer's statement as PDF and CSV attachments."""
        if self._style is None:
            self._style = StatementStyle.of(self.analysis.manual)
        return statement_files(self.statement(customer), self._style)

    def files_for_reminder(self, reminder: Reminder) -> list[Attachment]:
        """The ``attachments_for`` of a ``MessageBuilder``: the statement of the reminder's customer."""
        return self.files(reminder.customer)
