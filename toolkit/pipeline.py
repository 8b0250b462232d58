"""The one data path: source -> rows -> findings and computed columns -> write-back.

A *source* is where the invoices live: a workbook file here, a Google Sheet in
``toolkit.sheets.source``. Sources differ only at the two ends (reading rows, writing
our columns); everything between is the same code.
"""

from __future__ import annotations

import gc
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from toolkit.errors import WorkbookError, WriteRefused
from toolkit.findings import Finding
from toolkit.manual import BillingManual
from toolkit.rows.aging import INVALID, STATUS_ORDER, RowResult, classify
from toolkit.rows.invoices import Invoice
from toolkit.rows.layout import SheetData, SheetLayout
from toolkit.text import column_letter
from toolkit.xlsx.check import XmlCheck
from toolkit.xlsx.package import MAX_COLUMNS, XlsxPackage, check_written, plain_markup, sniff
from toolkit.xlsx.patch import OutputColumn, SheetPatcher, StyleDonors
from toolkit.xlsx.read import READ_ALONGSIDE_BYTES, read_workbook
from toolkit.xlsx.safe_write import Fingerprint, check_not_open, replace_atomically
from toolkit.xlsx.zip_rewrite import rewrite

# The computed columns every run writes, in the order they are added to a sheet.
COMPUTED_KEYS = ("status", "days_overdue", "aging", "problems")

Progress = Callable[[int], None]


@dataclass
class WriteReport:
    """What a write did."""

    target: str
    changed: bool
    rows: int = 0
    backup: Path | None = None
    added_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the owner should know about the write


class Source(Protocol):
    """Where the invoices live. Implemented by ``XlsxSource`` and ``toolkit.sheets.source.GoogleSheetSource``."""

    name: str

    def read(self, manual: BillingManual, progress: Progress | None = None) -> SheetData: ...

    def write(
        self, data: SheetData, columns: list[OutputColumn], values: Mapping[int, dict[str, Any]]
    ) -> WriteReport: ...

    def close(self) -> None:
        """Release what reading started for a write that did not come (a process waiting to check XML)."""
        ...


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
    invoices: list[Invoice]
    findings: list[Finding]
    results: dict[int, RowResult]

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
        return ComputedValues(self.results, self.findings_by_row(), self.manual.statuses, self.data.cleared_rows)


class ComputedValues(Mapping[int, dict[str, Any]]):
    """Row -> the values of the computed columns, each row's built when asked for.

    A mapping rather than a dict so that a run over 100,000 invoices does not
    hold 100,000 more dicts while the sheet is written.
    """

    def __init__(
        self,
        results: dict[int, RowResult],
        problems: dict[int, list[Finding]],
        labels: dict[str, str],
        cleared: Iterable[int] = (),
    ):
        self.results, self.problems, self.labels = results, problems, labels
        # Rows whose invoice was cleared: our cells there are cleared too.
        self.cleared = dict.fromkeys(row for row in cleared if row not in results)
        self.more: Mapping[int, dict[str, Any]] = {}
        self.more_keys: tuple[str, ...] = ()

    def add_columns(self, keys: tuple[str, ...], values: Mapping[int, dict[str, Any]]) -> None:
        """Values of more columns (``keys``) for some rows; cleared rows get those cells cleared too."""
        self.more, self.more_keys = values, keys

    def __getitem__(self, row: int) -> dict[str, Any]:
        result = self.results.get(row)
        if result is None:
            if row in self.cleared:
                return dict.fromkeys((*COMPUTED_KEYS, *self.more_keys))
            if row in self.more:
                return dict(self.more[row])
            raise KeyError(row)
        problems = self.problems.get(row)
        values = {
            "status": self.labels[result.status],
            "days_overdue": result.days_overdue,
            "aging": result.aging_bucket or "",
            "problems": "; ".join(
                (f"{f.cell}: " if f.cell else "") + ("" if f.is_error else "warning: ") + f.message for f in problems
            )
            if problems
            else "",
        }
        more = self.more.get(row)
        if more:
            values.update(more)
        return values

    def get(self, row: int, default: Any = None) -> Any:
        # Mapping.get goes through __getitem__ and a KeyError for every title row; this does not.
        if row in self.results or row in self.cleared or row in self.more:
            return self.__getitem__(row)
        return default

    def __iter__(self) -> Iterator[int]:
        yield from self.results
        yield from self.cleared
        yield from (row for row in self.more if row not in self.results and row not in self.cleared)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def analyse(data: SheetData, manual: BillingManual, as_of: date, *, confirm: bool = True) -> Analysis:
    """Validate every row and compute status, days overdue and aging, in one pass over the rows.

    With ``confirm`` (the default) the checks of what was read (``SheetData.confirm_read``)
    have passed when this returns. Without, the caller must confirm before the analysis
    is acted on outside the tool's own files: ``XlsxSource.write`` does, before the
    workbook is replaced (the check of the sheet it writes covers the sheet read).
    """
    from toolkit.rows.validate import validate

    results: dict[int, RowResult] = {}

    def age(invoice: Invoice, row_findings: list[Finding]) -> None:
        # Aged as soon as it is checked (while a large sheet is still being read).
        invalid = bool(row_findings) and any(f.is_error for f in row_findings)
        results[invoice.row] = classify(invoice, invalid, manual, as_of)

    if confirm:
        data.begin_checks()  # checked while the rows are
    invoices, findings = validate(data, manual, as_of, on_row=age)
    # The rules across rows (a duplicate number) can still make a row invalid.
    error_rows = {f.row for f in findings if f.is_error}
    for invoice in invoices:
        if invoice.row in error_rows and results[invoice.row].status != INVALID:
            results[invoice.row] = classify(invoice, True, manual, as_of)
    if confirm:
        data.confirm_read()
    return Analysis(data.source, data, manual, as_of, invoices, findings, results)


def plan_columns(
    layout: SheetLayout, manual: BillingManual, keys: tuple[str, ...] = COMPUTED_KEYS
) -> list[OutputColumn]:
    """Where each of our columns goes: where it already is, or after the last used column."""
    names = manual.output_columns
    columns = []
    next_col = max(layout.max_column, max(layout.output_columns.values(), default=0)) + 1
    for key in keys:
        col = layout.output_columns.get(key)
        if col is None:
            col = next_col
            next_col += 1
        columns.append(OutputColumn(key, names[key], col))
    return columns


# --------------------------------------------------------------------------------------------
# The workbook-file source


class XlsxSource:
    """An .xlsx/.xlsm file, written back in place (with a backup) or to ``output``.

    ``writes=False`` for a command that only reads it (check, report): nothing is
    made ready for a write that will not come.
    """

    def __init__(self, path: Path, output: Path | None = None, backup: bool = True, writes: bool = True) -> None:
        self.path = path
        self.output = output
        self.backup = backup
        self.writes = writes
        self.name = str(path)
        self._fingerprint: Fingerprint | None = None
        self._sheet_part: str | None = None
        self._xml_check: XmlCheck | None = None  # started with the reading of a large sheet, used by the write

    def read(self, manual: BillingManual, progress: Progress | None = None) -> SheetData:
        # Fingerprint first: a save that lands while we read is then caught before writing.
        sniff(self.path)
        self._fingerprint = Fingerprint.of(self.path)
        data = read_workbook(self.path, manual, progress, stream=True)
        data.keep_rows = False  # the rows are checked once; what is written comes from the analysis
        if data.pending is not None and self.writes:
            # A large sheet: the process that will check the sheet written is started now, while this
            # one is small; started at the write, it would copy a process grown with every invoice.
            self._xml_check = check = XmlCheck(alongside=True)
            weakref.finalize(self, check.close)
        return data

    def close(self) -> None:
        if self._xml_check is not None:
            self._xml_check.close()
            self._xml_check = None

    def check_writable(self) -> None:
        """Refuse early, before any work, when the workbook is open in Excel or LibreOffice."""
        if self.output is None:
            check_not_open(self.path)

    def write(self, data: SheetData, columns: list[OutputColumn], values: Mapping[int, dict[str, Any]]) -> WriteReport:
        layout = data.layout
        target = self.output or self.path
        last = max((c.col for c in columns), default=0)
        if last > MAX_COLUMNS:
            raise WriteRefused(
                f"{self.name}: sheet {layout.sheet!r} is used up to column {column_letter(layout.max_column)}; "
                f"the tool's columns would go past {column_letter(MAX_COLUMNS)}, the last column Excel has. "
                "Nothing was written: delete the cells far to the right, or make room for the tool's columns"
            )
        with XlsxPackage(self.path) as pkg:
            info = pkg.sheet(layout.sheet)
            if info is None:
                raise WorkbookError(f"{self.name}: sheet {layout.sheet!r} disappeared; run again")
            patcher = SheetPatcher(
                header_row=layout.header_row,
                columns=columns,
                values=values,
                styles=pkg.styles,
                donors=StyleDonors(
                    header_col=max((c for c in layout.headers if c < min(col.col for col in columns)), default=None)
                    if layout.headers
                    else None,
                    text_col=layout.columns.get("customer"),
                    date_col=layout.columns.get("due_date"),
                ),
                date1904=pkg.date1904,
                where=f"{self.name}: {info.part}",
                scan=data.scan,
            )
            part = info.part

            # Every patched byte is checked as XML as it is written (a large sheet on the other core).
            xml_check = self._xml_check or XmlCheck(alongside=pkg.members[part].file_size >= READ_ALONGSIDE_BYTES)
            self._xml_check = None

            def produce() -> Any:
                with pkg.open(part) as stream:
                    for chunk in patcher.patch(plain_markup(stream, f"{self.name}: {part}")):
                        xml_check.feed(chunk)
                        yield chunk

            def verify(written: Path) -> None:
                problem = xml_check.result()
                if problem is None:
                    # The sheet written holds every byte of the sheet read but the tool's own cells, which it
                    # replaced: as it is well formed, so was what was read, and its own check is needless.
                    data.settle_checks()
                else:
                    data.confirm_read()  # a damaged sheet read is reported as that, not as a failed write
                # Every row read (and the header) must have been found in the XML and patched.
                if patcher.rows_patched < len(values) + 1:
                    raise WriteRefused(
                        f"{self.name}: sheet {layout.sheet!r}: only {patcher.rows_patched} of {len(values) + 1} rows "
                        "could be found in the sheet's XML to write to; nothing was written. Please report it"
                    )
                check_written(written, part, self.name, problem)

            added = [c.header for c in columns if c.key not in layout.output_columns]
            if self.output is None:
                check_not_open(self.path)
            try:
                backup = replace_atomically(
                    target,
                    lambda fh: rewrite(self.path, fh, {part: produce}),
                    original=self.path,
                    expected=self._fingerprint,
                    backup=self.backup and self.output is None,
                    unchanged=lambda: not patcher.changed,
                    verify=verify,
                )
            finally:
                xml_check.close()
            data.confirm_read()  # also when nothing was written (nothing had changed)
        return WriteReport(str(target), patcher.changed or self.output is not None, patcher.rows_patched, backup, added)


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
