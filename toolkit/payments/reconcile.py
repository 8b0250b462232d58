"""``receivables reconcile``: bank statements matched to open invoices, previewed, and applied with ``--apply``.

1. read every statement (credits only), dropping a line given twice (overlapping
   statements) and every line the payments ledger says was applied already;
2. read the sheet and compute each invoice's open balance (``toolkit.pipeline``);
3. match the lines (``toolkit.payments.matching``);
4. only with ``apply``: write Paid, the payment date and Balance for the certain
   matches (``toolkit.payments.apply``), recorded in the ledger before and after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from toolkit.errors import ToolkitError
from toolkit.manual import BillingManual
from toolkit.payments.apply import ApplyReport, apply_plan, plan_payments
from toolkit.payments.ledger import ABANDONED, APPLIED, APPLYING, LedgerContents, PaymentsLedger, ledger_path
from toolkit.payments.matching import Matching, match_lines, open_invoices
from toolkit.payments.statements import BankLine, Statement, read_statement
from toolkit.pipeline import Analysis, analyse, fewer_collections
from toolkit.source import Source
from toolkit.xlsx.source import XlsxSource


@dataclass
class Reconciliation:
    """What a reconcile found, and (with ``--apply``) wrote."""

    analysis: Analysis
    statements: list[Statement]
    matching: Matching
    ledger: Path
    already_applied: list[BankLine] = field(default_factory=list)
    repeated: int = 0  # lines given in more than one statement (or twice in one), counted once
    unconfirmed: list[str] = field(default_factory=list)  # ledger lines an interrupted apply left unsure
    applied: ApplyReport | None = None

    @property
    def lines(self) -> int:
        return sum(len(s.lines) for s in self.statements)

    @property
    def matched_total(self) -> Decimal:
        return sum((a.amount for m in self.matching.matches for a in m.allocations), Decimal(0))

    @property
    def review_total(self) -> Decimal:
        return sum((r.line.amount for r in self.matching.reviews), Decimal(0))


def read_statements(
    paths: list[Path], manual: BillingManual, ledger: LedgerContents
) -> tuple[list[Statement], list[BankLine], list[BankLine], int]:
    """Every statement; the new lines (each once), those applied already, and how many repeated."""
    statements = [read_statement(path, manual) for path in paths]
    seen: set[str] = set()
    new: list[BankLine] = []
    done: list[BankLine] = []
    repeated = 0
    for statement in statements:
        for line in statement.lines:
            if line.identity in seen:
                repeated += 1
                continue
            seen.add(line.identity)
            (done if ledger.knows(line.identity) else new).append(line)
    return statements, new, done, repeated


def reconcile(
    source: Source,
    manual: BillingManual,
    statements: list[Path],
    as_of: date,
    *,
    journal: Path,
    apply: bool = False,
) -> Reconciliation:
    """Match the statements' payments to the sheet's open invoices; write them with ``apply``."""
    ledger = PaymentsLedger(ledger_path(manual, journal))
    contents = ledger.read()
    read, new, done, repeated = read_statements(statements, manual, contents)  # before the sheet: fail fast
    try:
        with fewer_collections():
            data = source.read(manual)
            analysis = analyse(data, manual, as_of)
    finally:
        source.close()
    matching = match_lines(new, open_invoices(analysis.invoices.unsettled(), analysis.results), manual)
    result = Reconciliation(analysis, read, matching, ledger.path, done, repeated, sorted(contents.unconfirmed))
    if apply and matching.matches:
        plan = plan_payments(matching.matches, analysis)
        with ledger.writer() as writer:
            writer.record(APPLYING, matching.matches, source.name, as_of)
            try:
                result.applied = apply_plan(source, analysis, plan)
            except ToolkitError:
                # A workbook refused is certainly unchanged (it is only ever replaced whole); a Google
                # Sheet whose answer was lost may hold the payments, so its lines stay unconfirmed.
                if isinstance(source, XlsxSource):
                    writer.record(ABANDONED, matching.matches, source.name, as_of)
                raise
            writer.record(APPLIED, matching.matches, source.name, as_of)
    return result


def under_review(rec: Reconciliation) -> frozenset[str]:
    """The invoices a payment left for a person may be for: the daily run does not chase them today."""
    return frozenset(
        invoice.number for review in rec.matching.reviews for invoice in review.candidates if invoice.number
    )
