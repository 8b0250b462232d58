"""The one data path: source -> rows -> findings and computed columns -> write-back.

A *source* is where the invoices live: a workbook file here, a Google Sheet in
``toolkit.sheets.source``. Sources differ only at the two ends (reading rows, writing
our columns); everything between is the same code.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from toolkit.errors import WriteRefused
from toolkit.findings import Finding
from toolkit.manual import MANUAL_FILENAME, BillingManual, find_manual, load_manual
from toolkit.policy.late_fees import LateCharges, LateFeePolicy, fees_enabled, invoice_charges
from toolkit.rows.aging import INVALID, ON_HOLD, PAID, STATUS_ORDER, RowResult, classify
from toolkit.rows.layout import Area, SheetData, SheetLayout
from toolkit.rows.packed import InvoiceBook
from toolkit.source import OutputColumn, Progress, Source, WriteReport
from toolkit.text import column_letter
from toolkit.xlsx.package import MAX_COLUMNS, MAX_ROWS
from toolkit.xlsx.source import XlsxSource

# The computed columns every run writes, in the order they are added to a sheet.
COMPUTED_KEYS = ("status", "days_overdue", "aging", "problems")
# Written as well when [late_fees] is on: the amount to pay today, charges included.
AMOUNT_DUE_KEY = "amount_due"


def computed_keys(manual: BillingManual) -> tuple[str, ...]:
    """The computed columns this manual has every run write: ``COMPUTED_KEYS``, and ``Amount Due`` with late fees."""
    return (*COMPUTED_KEYS, AMOUNT_DUE_KEY) if fees_enabled(manual) else COMPUTED_KEYS


@dataclass
class Totals:
    """Counts and balances per status and per aging bucket."""

    by_status: dict[str, tuple[int, Decimal]]
    by_bucket: dict[str, tuple[int, Decimal]]
    errors: int
    warnings: int
    invalid_rows: int

    @property
    def overdue_balance(self) -> Decimal:
        return self.by_status.get("overdue", (0, Decimal(0)))[1]


@dataclass
class Analysis:
    """Everything one run knows about the invoices."""

    source: str
    data: SheetData
    manual: BillingManual
    as_of: date
    invoices: InvoiceBook
    findings: list[Finding]
    results: MutableMapping[int, RowResult]
    _charges: dict[int, LateCharges] | None = field(default=None, init=False, repr=False)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.is_error]

    def findings_by_row(self) -> dict[int, list[Finding]]:
        by_row: dict[int, list[Finding]] = defaultdict(list)
        for finding in self.findings:
            if finding.row is not None:
                by_row[finding.row].append(finding)
        return by_row

    def totals(self) -> Totals:
        by_status: dict[str, list[Any]] = {key: [0, Decimal(0)] for key in STATUS_ORDER}
        labels = [self.manual.statuses["current"], *self.manual.aging.labels, self.manual.statuses["on_hold"]]
        by_bucket: dict[str, list[Any]] = {label: [0, Decimal(0)] for label in labels}
        for result in self.results.values():
            entry = by_status[result.status]
            entry[0] += 1
            if result.balance is not None and result.status != "paid":
                entry[1] += result.balance
            if result.aging_bucket is not None:
                bucket = by_bucket.setdefault(result.aging_bucket, [0, Decimal(0)])
                bucket[0] += 1
                bucket[1] += result.balance or 0
        return Totals(
            by_status={k: (v[0], v[1]) for k, v in by_status.items()},
            by_bucket={k: (v[0], v[1]) for k, v in by_bucket.items()},
            errors=len(self.errors),
            warnings=len(self.warnings),
            invalid_rows=by_status[INVALID][0],
        )

    def computed_values(self) -> ComputedValues:
        """The values of the computed columns, row by row, as they are written to the sheet."""
        values = ComputedValues(self.results, self.findings_by_row(), self.manual.statuses, self.data.cleared_rows)
        if fees_enabled(self.manual):
            values.amount_due = {row: charges.amount_due for row, charges in self.late_charges().items()}
        return values

    def late_charges(self) -> dict[int, LateCharges]:
        """Row -> the late charges of every unpaid valid invoice, as of the run ([late_fees]; none when off)."""
        if self._charges is None:
            policy = LateFeePolicy.of(self.manual)
            self._charges = {}
            if not policy.enabled:
                return self._charges
            for invoice, result in self.invoices.with_results(unsettled=True):
                if result is None or result.status in (PAID, INVALID) or result.balance is None:
                    continue
                self._charges[invoice.row] = invoice_charges(
                    invoice, result.balance, self.as_of, policy, on_hold=result.status == ON_HOLD
                )
        return self._charges


class ComputedValues(Mapping[int, dict[str, Any]]):
    """Row -> the values of the computed columns, each row's built when asked for.

    A mapping rather than a dict so that a run over 100,000 invoices does not
    hold 100,000 more dicts while the sheet is written.
    """

    def __init__(
        self,
        results: Mapping[int, RowResult],
        problems: dict[int, list[Finding]],
        labels: dict[str, str],
        cleared: Iterable[int] = (),
    ):
        self.results, self.problems, self.labels = results, problems, labels
        # Rows whose invoice was cleared: our cells there are cleared too.
        self.cleared = dict.fromkeys(row for row in cleared if row not in results)
        self.more: Mapping[int, dict[str, Any]] = {}
        self.more_keys: tuple[str, ...] = ()
        self.amount_due: Mapping[int, Decimal] | None = None  # with [late_fees] on: row -> balance + charges
        self._shared: dict[tuple[Any, ...], dict[str, Any]] = {}  # the values of rows with nothing else: read only

    def add_columns(self, keys: tuple[str, ...], values: Mapping[int, dict[str, Any]]) -> None:
        """Values of more columns (``keys``) for some rows; cleared rows get those cells cleared too."""
        self.more, self.more_keys = values, keys

    def __getitem__(self, row: int) -> dict[str, Any]:
        values = self.get(row)
        if values is None:
            raise KeyError(row)
        return values  # type: ignore[no-any-return]

    def get(self, row: int, default: Any = None) -> Any:
        # Mapping.get goes through __getitem__ and a KeyError for every title row; this does not.
        result = self.results.get(row)
        if result is None:
            if row in self.cleared:
                extra = (AMOUNT_DUE_KEY,) if self.amount_due is not None else ()
                return dict.fromkeys((*COMPUTED_KEYS, *extra, *self.more_keys))
            if row in self.more:
                return dict(self.more[row])
            return default
        problems = self.problems.get(row)
        if not problems and self.amount_due is None and not (self.more and self.more.get(row)):
            # Most rows: their result and nothing else. The rows of one (status, days overdue, bucket) share one
            # dict of values, as every caller only reads them: none built per row, and the writer knows a row's
            # cells are those of the row before it when it is handed the same dict.
            key = (result.status, result.days_overdue, result.aging_bucket)
            shared = self._shared.get(key)
            if shared is None:
                shared = {
                    "status": self.labels[result.status],
                    "days_overdue": result.days_overdue,
                    "aging": result.aging_bucket or "",
                    "problems": "",
                }
                if len(self._shared) < 10_000:
                    self._shared[key] = shared
            return shared
        values: dict[str, Any] = {
            "status": self.labels[result.status],
            "days_overdue": result.days_overdue,
            "aging": result.aging_bucket or "",
            "problems": "; ".join(
                (f"{f.cell}: " if f.cell else "") + ("" if f.is_error else "warning: ") + f.message for f in problems
            )
            if problems
            else "",
        }
        if self.amount_due is not None:
            values[AMOUNT_DUE_KEY] = self.amount_due.get(row)  # blank for paid and invalid rows
        more = self.more.get(row)
        if more:
            values.update(more)
        return values

    def __iter__(self) -> Iterator[int]:
        yield from self.results
        yield from self.cleared
        yield from (row for row in self.more if row not in self.results and row not in self.cleared)

    def __len__(self) -> int:
        # What __iter__ gives, counted without going through every result (the write checks it).
        extra = sum(1 for row in self.more if row not in self.results and row not in self.cleared)
        return len(self.results) + len(self.cleared) + extra


def analyse(data: SheetData, manual: BillingManual, as_of: date, *, confirm: bool = True) -> Analysis:
    """Validate every row and compute status, days overdue and aging, in one pass over the rows.

    With ``confirm`` (the default) the checks of what was read (``SheetData.confirm_read``)
    have passed when this returns. Without, the caller must confirm before the analysis
    is acted on outside the tool's own files: ``XlsxSource.write`` does, before the
    workbook is replaced (the check of the sheet it writes covers the sheet read).
    """
    from toolkit.rows.validate import validate

    book = InvoiceBook(lambda invoice, invalid: classify(invoice, invalid, manual, as_of), pack=data.pack_paid)
    if confirm:
        data.begin_checks()  # checked while the rows are
    findings = validate(data, manual, as_of, book)
    # The rules across rows (a duplicate number) can still make a row invalid.
    results = book.results
    for row in sorted({f.row for f in findings if f.is_error and f.row is not None}):
        result = results.get(row)
        if result is not None and result.status != INVALID:
            invoice = book.by_row(row)
            assert invoice is not None
            results[row] = classify(invoice, True, manual, as_of)
    if confirm:
        data.confirm_read()
    return Analysis(data.source, data, manual, as_of, book, findings, results)


def plan_columns(layout: SheetLayout, manual: BillingManual, keys: tuple[str, ...] | None = None) -> list[OutputColumn]:
    """Where each of our columns goes: where it already is, or after the last used column.

    ``keys`` defaults to ``computed_keys(manual)``. Refuses (``WriteRefused``) when a column
    of the accountant's is named like one the tool would have to add (``toolkit.rows.own_columns``).
    """
    keys = computed_keys(manual) if keys is None else keys
    check_own_columns(layout, manual, keys)
    names = manual.output_columns
    new = [key for key in keys if key not in layout.output_columns]
    grid = layout.grid
    if grid.table is not None:
        places = _places_in_table(layout, len(new))
    else:
        places = _free_places(layout, len(new))
    where = dict(zip(new, places, strict=True))
    return [OutputColumn(key, names[key], layout.output_columns.get(key) or where[key]) for key in keys]


def _free_places(layout: SheetLayout, count: int) -> list[int]:
    """Columns for ``count`` new columns right of everything used, none under a merged range at or below the header."""
    below = Area(1, layout.header_row, MAX_COLUMNS, MAX_ROWS)
    merged = [area for area in layout.grid.merged if area.has_rows_of(below)]
    col = max(layout.max_column, max(layout.output_columns.values(), default=0))
    places: list[int] = []
    while len(places) < count:
        col += 1
        if not any(area.has_column(col) for area in merged):
            places.append(col)
    return places


def _places_in_table(layout: SheetLayout, count: int) -> list[int]:
    """The columns right of the invoices' table (after any of ours already there), if free; else refused."""
    grid = layout.grid
    table = grid.table
    assert table is not None
    ours = set(layout.output_columns.values())
    edge = table.last_col
    while edge + 1 in ours:
        edge += 1  # columns of ours right beside the table, written by an earlier version: taken in
    places = list(range(edge + 1, edge + 1 + count))
    for col in places:
        blocker = None
        if col in grid.used_right_of_table:
            blocker = f"column {column_letter(col)} holds data in the table's rows"
        for name, area in grid.other_tables:
            if area.has_column(col) and area.has_rows_of(table):
                blocker = f"the table {name!r} is at {column_letter(area.first_col)}{area.first_row}"
        for area in grid.merged:
            if area.has_column(col) and area.has_rows_of(table):
                blocker = f"cells {column_letter(area.first_col)}{area.first_row} are merged there"
        if col > MAX_COLUMNS:
            blocker = f"the table reaches the last column Excel has ({column_letter(MAX_COLUMNS)})"
        if blocker is not None:
            raise WriteRefused(
                f"{layout.sheet}!{column_letter(col)}{table.first_row}: the invoices are the table "
                f"{grid.table_name!r} ({column_letter(table.first_col)}{table.first_row}:"
                f"{column_letter(table.last_col)}{table.last_row}), which the tool extends by {count} column(s) "
                f"for its own, but {blocker}; nothing was written. Insert {count} empty column(s) right of the "
                f"table (after column {column_letter(edge)}) and run again"
            )
    return places


def check_own_columns(layout: SheetLayout, manual: BillingManual, keys: Iterable[str] = COMPUTED_KEYS) -> None:
    """Refuse, before anything is written or sent, to add a column named like one of the accountant's."""
    for key in keys:
        foreign = layout.foreign_columns.get(key)
        if foreign is None or key in layout.output_columns:
            continue
        where = manual.source if manual.path else "a billing manual (billing-manual.toml next to the workbook)"
        wanted = manual.output_columns[key]
        raise WriteRefused(
            f"{foreign.reason(layout.sheet, layout.header_row, wanted)}; nothing was written. "
            f'Choose another name for the tool\'s column with [output_columns] {key} = "..." in {where}, '
            "or rename your column"
        )


def run_source(
    source: Source,
    manual: BillingManual,
    as_of: date,
    *,
    progress: Progress | None = None,
    write: bool = True,
) -> tuple[Analysis, WriteReport | None]:
    """Read, validate, compute and (unless ``write`` is false) write back the computed columns."""
    try:
        with fewer_collections():
            data = source.read(manual, progress)
            analysis = analyse(data, manual, as_of)
            if not write:
                return analysis, None
            columns = plan_columns(data.layout, manual)
            report = source.write(data, columns, analysis.computed_values())
    finally:
        source.close()
    return analysis, report


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Keep the cycle collector off while rows are read, checked and written.

    A run builds a few objects per invoice and frees nothing until the end, so
    the collector's passes over everything built so far find nothing to free;
    at 100,000 invoices they cost a tenth of the run. The objects of a run form
    no reference cycles, so nothing waits for the collector meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # What the run built stays out of the collector's way afterwards too: without this,
        # the first collection after enabling it would walk every object of the run.
        gc.freeze()
        if was_enabled:
            gc.enable()


@contextmanager
def collections_again() -> Iterator[None]:
    """Within ``fewer_collections``: the cycle collector on again, for what is made from here on.

    What the run built so far is frozen (moved where the collector never looks, at no cost),
    so a collection walks only the new objects. For work that makes and drops many objects
    in cycles, such as a PDF per statement: with the collector off, none of them is freed.
    """
    was_enabled = gc.isenabled()
    gc.freeze()
    gc.enable()
    try:
        yield
    finally:
        if not was_enabled:
            gc.disable()


GOOGLE_SHEET_PREFIXES = ("gsheet:", "https://docs.google.com/spreadsheets/")


def open_source(
    target: str, manual_path: Path | None = None, output: Path | None = None, *, writes: bool = True
) -> tuple[Source, BillingManual]:
    """The source a command names (a workbook file, or a Google Sheet by key or address) and its billing manual.

    The manual is ``manual_path``, else billing-manual.toml next to the workbook (for a Google
    Sheet: in the current folder), else the built-in defaults. This is where the two backends meet.
    """
    if target.startswith(GOOGLE_SHEET_PREFIXES):
        if output is not None:
            raise WriteRefused(f"{target}: --output is for workbook files; a Google Sheet is updated in place")
        here = Path(MANUAL_FILENAME)
        manual = load_manual(manual_path or (here if here.is_file() else None))
        from toolkit.sheets.source import open_google_sheet  # gspread only for those who use it

        return open_google_sheet(target, manual), manual
    path = Path(target)
    return XlsxSource(path, output=output, writes=writes), load_manual(manual_path or find_manual(path))
