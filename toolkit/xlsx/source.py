"""A workbook file as a source: read by the streaming reader, written back by patching only the tool's cells.

The new file is written beside the old one and swapped in atomically, with a backup; see
``toolkit.xlsx.safe_write``. Every zip member but the invoice sheet (and its table) is copied raw.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from toolkit.errors import WorkbookError, WriteRefused
from toolkit.manual import BillingManual
from toolkit.rows.layout import SheetData, SheetGrid, SheetLayout
from toolkit.source import OutputColumn, Progress, WriteReport
from toolkit.text import column_letter
from toolkit.xlsx.check import XmlCheck
from toolkit.xlsx.grid import extend_table
from toolkit.xlsx.package import MAX_COLUMNS, ReadAhead, XlsxPackage, check_written, plain_markup, sniff
from toolkit.xlsx.patch import SheetPatcher, StyleDonors
from toolkit.xlsx.read import READ_ALONGSIDE_BYTES, read_workbook
from toolkit.xlsx.safe_write import Fingerprint, check_not_open, check_not_read_only, replace_atomically
from toolkit.xlsx.zip_rewrite import rewrite


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
        data = read_workbook(self.path, manual, progress, stream=True, fingerprint=self._fingerprint)
        data.keep_rows = False  # the rows are checked once; what is written comes from the analysis
        if data.pending is not None and self.writes:
            # A large sheet: the process that will check the sheet written is started now, while this
            # one is small; started at the write, it would copy a process grown with every invoice.
            self._xml_check = check = XmlCheck(alongside=True, large=data.pack_paid)
            weakref.finalize(self, check.close)
        return data

    @property
    def fingerprint(self) -> Fingerprint | None:
        """The workbook as it was read (None before): a write refuses if it changed on disk since."""
        return self._fingerprint

    def close(self) -> None:
        if self._xml_check is not None:
            self._xml_check.close()
            self._xml_check = None

    def write_cells(
        self, data: SheetData, cells: dict[tuple[int, int], Any], cached: set[tuple[int, int]]
    ) -> Path | None:
        """Write the given cells (row, column) -> value anywhere in the sheet (payments applied); the backup kept.

        Cells in ``cached`` keep a formula they hold: only its cached result changes. The workbook is
        set to recalculate on open. The usual safety: lock files, changed-on-disk check, atomic swap.
        """
        from toolkit.xlsx.cells import CellEdit, CellPatcher, StyleSources, recalculate_on_open

        layout = data.layout
        edits = [CellEdit(row, col, value, (row, col) in cached) for (row, col), value in sorted(cells.items())]
        with XlsxPackage(self.path) as pkg:
            info = pkg.sheet(layout.sheet)
            if info is None:
                raise WorkbookError(f"{self.name}: sheet {layout.sheet!r} disappeared; run again")
            part, workbook_part = info.part, pkg.workbook_part
            sources = StyleSources(
                date=layout.columns.get("due_date"),
                number=layout.columns.get("amount"),
                header=layout.columns.get("amount"),
                header_row=layout.header_row,
            )
            patcher = CellPatcher(edits, pkg.styles, sources, pkg.date1904, f"{self.name}: {part}")
            with pkg.open(workbook_part) as stream:
                workbook_xml = recalculate_on_open(stream.read())
            xml_check = XmlCheck(alongside=False)

            def produce() -> Iterator[bytes]:  # each chunk is checked as XML on the thread that deflates it
                with pkg.open(part) as stream:
                    yield from patcher.patch(plain_markup(stream, f"{self.name}: {part}"))

            def verify(written: Path) -> None:
                check_written(written, part, self.name, xml_check.result())

            check_not_open(self.path)
            try:
                return replace_atomically(
                    self.path,
                    lambda fh: rewrite(
                        self.path,
                        fh,
                        {part: produce, workbook_part: lambda: iter([workbook_xml])},
                        {part: xml_check.feed},
                    ),
                    original=self.path,
                    expected=self.fingerprint,
                    backup=self.backup,
                    verify=verify,
                )
            finally:
                xml_check.close()

    def check_writable(self) -> None:
        """Refuse early, before any work, when the workbook is open in Excel or LibreOffice, or read-only."""
        if self.output is None:
            check_not_open(self.path)
        check_not_read_only(self.output or self.path)

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
            patcher = sheet_patcher(pkg, f"{self.name}: {info.part}", data, columns, values)
            part = info.part
            replacements: dict[str, Any] = {part: lambda: produce()}
            table_names, table_last = table_extension(layout, columns)
            if table_names:
                table_xml = extend_table(pkg.read(layout.grid.table_part), table_last, table_names)
                replacements[layout.grid.table_part] = lambda: iter([table_xml])

            # Every patched byte is checked as XML as it is written (a large sheet on the other core).
            xml_check = self._xml_check or XmlCheck(alongside=pkg.members[part].file_size >= READ_ALONGSIDE_BYTES)
            self._xml_check = None

            def produce() -> Any:  # each chunk is checked as XML on the thread that deflates it
                with pkg.open(part) as stream, ReadAhead(stream) as ahead:
                    # Markup the writer must refuse: the reader found none, or it is looked for now.
                    plain = ahead if data.scan.plain_to_end() else plain_markup(ahead, f"{self.name}: {part}")
                    yield from patcher.patch(plain)

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
                    lambda fh: rewrite(self.path, fh, replacements, {part: xml_check.feed}),
                    original=self.path,
                    expected=self._fingerprint,
                    backup=self.backup and self.output is None,
                    unchanged=lambda: not patcher.changed,
                    verify=verify,
                )
            finally:
                xml_check.close()
            data.confirm_read()  # also when nothing was written (nothing had changed)
        notes = placement_notes(layout, columns, table_names)
        changed = patcher.changed or bool(table_names) or self.output is not None
        return WriteReport(str(target), changed, patcher.rows_patched, backup, added, notes)


def sheet_patcher(
    pkg: XlsxPackage, where: str, data: SheetData, columns: list[OutputColumn], values: Mapping[int, dict[str, Any]]
) -> SheetPatcher:
    """The patcher of the invoice sheet: our cells styled like their row's, new hidden columns of ours shown."""
    layout = data.layout
    return SheetPatcher(
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
        where=where,
        scan=data.scan,
        shown=frozenset(c.col for c in columns if c.key not in layout.output_columns) & hidden_set(layout.grid),
    )


def hidden_set(grid: SheetGrid) -> frozenset[int]:
    """Every hidden column (ranges to the last column are common: each is cut at Excel's last)."""
    return frozenset(col for first, last in grid.hidden for col in range(first, min(last, MAX_COLUMNS) + 1))


def table_extension(layout: SheetLayout, columns: list[OutputColumn]) -> tuple[list[str], int]:
    """The names of the columns of ours that join the invoices' table, and its last column then."""
    table = layout.grid.table
    if table is None or not layout.grid.table_part:
        return [], 0
    headers = {c.col: c.header for c in columns}
    last = table.last_col
    names = []
    while last + 1 in headers:
        last += 1
        names.append(headers[last])
    return names, last


def placement_notes(layout: SheetLayout, columns: list[OutputColumn], table_names: list[str]) -> list[str]:
    """What the summary says of where new columns went: their columns, the table, what was unhidden."""
    new = [c for c in columns if c.key not in layout.output_columns]
    if not new:
        return []
    where = ", ".join(f"{c.header} in column {column_letter(c.col)}" for c in new)
    note = f"the tool's new columns: {where}"
    if table_names:
        note += f", inside the table {layout.grid.table_name!r}"
    shown = [c for c in new if layout.grid.is_hidden(c.col)]
    if shown:
        note += f"; column(s) {', '.join(column_letter(c.col) for c in shown)} were hidden and are shown now"
    merged = [a for a in layout.grid.merged if a.first_row <= layout.header_row <= a.last_row]
    if any(a.last_col < min(c.col for c in new) and a.last_col > layout.max_column for a in merged):
        note += " (right of merged header cells, never under them)"
    return [note]
