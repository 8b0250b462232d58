"""A shared Google Sheet as a source: the same pipeline as a workbook file, through gspread.

    receivables run gsheet:<KEY>
    receivables run https://docs.google.com/spreadsheets/d/<KEY>/edit#gid=0

A run touches the API a constant number of times, whatever the number of rows:

1. ``spreadsheets.get`` (metadata only): the title, the tabs, their ids and grid sizes;
2. one ``values:batchGet`` of the invoice tab(s) and the customers tab, with
   ``UNFORMATTED_VALUE`` + ``SERIAL_NUMBER``: numbers are numbers and dates are serial
   numbers, never text in somebody's locale;
   and only when something is to be written:
3. one ``spreadsheets:batchUpdate`` when the grid is too narrow for the new columns (or a
   new column of dates needs the date format);
4. one ``values:batchGet`` re-reading the header row and the invoice-number column, then
   at once one ``values:batchUpdate`` (``RAW``: text is never parsed into a formula or a
   number) with every changed cell of our own columns.

Dates. With ``SERIAL_NUMBER`` a date cell comes back as a plain number, indistinguishable
from a number typed in a cell without a date format. In the columns whose header maps
to a date field, numbers in the range of plausible dates (1950-2100) are turned into
datetimes here, so they validate like dates read from a workbook file. Asking for the
*formatted* value instead would bring back text in the spreadsheet's locale, which is
what the serials avoid; and letting ``toolkit.rows.values.to_date`` see the bare serial would
warn "format the cell as a date" on every row of a sheet whose dates are fine. The cost:
a number in a date column that the accountant never formatted as a date is taken as a
date without a warning (out of range, it is still reported as not a date).

Concurrent edits. The sheet is live. Between the read and the write the accountant may
insert, delete or sort rows, so the write does not trust remembered row numbers: right
before writing, the header row and the invoice-number column are read again. If they are
unchanged the rows are written where they were read; if rows moved, each status goes to
the row that now holds its invoice number; an invoice number that is blank, or not unique,
in rows that moved cannot be placed with certainty, and then nothing is written. The
re-read and the write are two requests a fraction of a second apart; the Sheets API has
no conditional write, so that window cannot be closed entirely.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import gspread

from toolkit.errors import GoogleSheetError, SheetLayoutError, WriteRefused
from toolkit.manual import MANUAL_FILENAME, BillingManual, load_manual
from toolkit.rows.layout import CellError, Row, SheetData, SheetLayout, describe_missing, find_layout, rows_after_header
from toolkit.rows.values import EXCEL_EPOCH, is_date_serial, serial_to_datetime, to_text
from toolkit.sheets.api import GoogleLogin, RetryPolicy, SheetsApi, authorize, find_login
from toolkit.source import OutputColumn, Progress, WriteReport
from toolkit.text import column_letter

GOOGLE_PREFIXES = ("gsheet:", "https://docs.google.com/spreadsheets/")

# The retry policy of every run; tests replace it with one in fake time.
DEFAULT_RETRY = RetryPolicy()

DATE_FIELDS = ("issue_date", "due_date", "promised_date", "payment_date")
DATE_OUTPUTS = ("last_reminder",)
MAX_CELL_CHARS = 50_000  # Google's limit for one cell
_ERROR_VALUES = frozenset({"#N/A", "#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#ERROR!"})
_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_URL_KEY = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_URL_GID = re.compile(r"[#&?]gid=(\d+)")
_RANGE_START = re.compile(r"!\$?([A-Z]+)\$?(\d+)")
_VALUE_PARAMS = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER"}


def is_google_sheet(target: str) -> bool:
    """Whether a command-line target names a Google Sheet rather than a file."""
    return target.startswith(GOOGLE_PREFIXES)


@dataclass(frozen=True)
class SheetAddress:
    """A spreadsheet key and, from a browser address, the tab's gid."""

    key: str
    gid: int | None = None


def parse_target(target: str) -> SheetAddress:
    """``gsheet:KEY`` or a ``https://docs.google.com/spreadsheets/d/KEY/edit#gid=N`` address."""
    text = target.strip()
    if text.startswith("gsheet:"):
        key = text[len("gsheet:") :].strip()
        if not _KEY.match(key):
            raise GoogleSheetError(
                f"{target}: not a spreadsheet key; write gsheet: followed by the key from the sheet's address "
                "(the part between /d/ and /edit)"
            )
        return SheetAddress(key)
    match = _URL_KEY.search(text)
    if match is None:
        raise GoogleSheetError(
            f"{target}: no spreadsheet key in this address; copy the address of the sheet from the browser "
            "(https://docs.google.com/spreadsheets/d/KEY/edit)"
        )
    gid = _URL_GID.search(text)
    return SheetAddress(match.group(1), int(gid.group(1)) if gid else None)


def default_state_dir(key: str) -> Path:
    """The per-user folder for a sheet's local state (the reminder journal)."""
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "receivables" / key


def state_dir_for(manual: BillingManual, key: str) -> Path:
    """``[google] state_dir`` (relative to the manual's folder), else the per-user default."""
    configured = str(manual.section("google").get("state_dir", "")).strip()
    if not configured:
        return default_state_dir(key)
    path = Path(configured).expanduser()
    if not path.is_absolute() and manual.path is not None:
        path = manual.path.parent / path
    return path


def open_google_sheet(
    target: str,
    manual: BillingManual | None = None,
    *,
    client: gspread.Client | None = None,
    retry: RetryPolicy | None = None,
) -> GoogleSheetSource:
    """The Google Sheet named by ``target``, signed in with the manual's credentials (or ``client``).

    Nothing is fetched yet: the first request is made by ``read``.
    """
    manual = manual if manual is not None else load_manual(None)
    address = parse_target(target)
    login = None
    if client is None:
        login = find_login(manual, f"gsheet:{address.key}")
        client = authorize(login)
    return GoogleSheetSource(address, client, manual, login=login, retry=retry or DEFAULT_RETRY)


# --------------------------------------------------------------------------------------------
# The source


@dataclass
class _Tab:
    sheet_id: int
    title: str
    hidden: bool
    rows: int
    cols: int

    @property
    def range(self) -> str:
        """The whole tab, in A1 notation (the title quoted)."""
        return "'" + self.title.replace("'", "''") + "'"


@dataclass
class _Snapshot:
    """What ``read`` saw of the invoice tab, to check the rows before writing."""

    tab: _Tab
    header: Row
    keys: dict[int, str]  # row number -> invoice number, rows below the header with one
    cleared: dict[int, dict[str, Any]]  # emptied invoice rows still holding our values -> those values


@dataclass
class _Placement:
    """Where each row read is now, after re-reading the invoice numbers."""

    rows: dict[int, int] = field(default_factory=dict)  # row read -> row now
    moved: int = 0
    gone: list[str] = field(default_factory=list)


class GoogleSheetSource:
    """A Google Sheet, read and written through the Sheets API (``toolkit.pipeline.Source``).

    ``name`` is ``gsheet:KEY`` until the sheet is read, then ``Title (gsheet:KEY)``.
    ``state_dir`` is where local state for this sheet lives (the reminder journal).
    """

    def __init__(
        self,
        address: SheetAddress,
        client: gspread.Client,
        manual: BillingManual,
        *,
        login: GoogleLogin | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.key = address.key
        self.gid = address.gid
        self.locator = f"gsheet:{address.key}"
        self.name = self.locator
        self.path: Path | None = None  # no file: the journal and outbox follow the manual's folder
        self.title: str | None = None
        self.url = f"https://docs.google.com/spreadsheets/d/{address.key}/edit"
        self.state_dir = state_dir_for(manual, address.key)
        self.login = login
        self._api = SheetsApi(client, address.key, self.name, login, retry or DEFAULT_RETRY)
        self._snapshot: _Snapshot | None = None

    # -- reading ---------------------------------------------------------------------------

    def read(self, manual: BillingManual, progress: Progress | None = None) -> SheetData:
        api = self._api
        metadata = api.call("opening the spreadsheet", lambda: api.http.fetch_sheet_metadata(self.key))
        self.title = str(metadata.get("properties", {}).get("title") or self.key)
        self.name = f"{self.title} ({self.locator})"
        api.where = self.name
        tabs = [
            _Tab(
                int(p.get("sheetId", 0)),
                str(p.get("title", "")),
                bool(p.get("hidden", False)),
                int(p.get("gridProperties", {}).get("rowCount", 0)),
                int(p.get("gridProperties", {}).get("columnCount", 0)),
            )
            for p in (s.get("properties", {}) for s in metadata.get("sheets", []))
            if p.get("sheetType", "GRID") == "GRID"
        ]
        if not tabs:
            raise GoogleSheetError(f"{self.name}: the spreadsheet has no tabs with cells")
        candidates = self._candidates(tabs, manual)
        customers_title = str(manual.section("customers_sheet").get("sheet", "")).strip()
        customers = _find_tab(tabs, customers_title) if customers_title else None
        wanted = list(candidates)
        if customers is not None and customers not in wanted:
            wanted.append(customers)

        params = dict(_VALUE_PARAMS, majorDimension="ROWS")
        response = api.call(
            "reading the sheet",
            lambda: api.http.values_batch_get(self.key, [t.range for t in wanted], dict(params)),
        )
        value_ranges = response.get("valueRanges", [])
        grids = {tab.sheet_id: _rows_of(vr) for tab, vr in zip(wanted, value_ranges, strict=False)}

        layout = None
        tops: list[tuple[str, list[tuple[int, Row]]]] = []
        chosen = candidates[0]
        for tab in candidates:
            top = [(n, row) for n, row in grids.get(tab.sheet_id, []) if n <= manual.header_search_rows and row]
            tops.append((tab.title, top))
            layout = find_layout(tab.title, top, manual)
            if layout is not None:
                chosen = tab
                break
        if layout is None:
            raise SheetLayoutError(describe_missing(self.name, tops, manual))

        rows = grids.get(chosen.sheet_id, [])
        _dates_as_datetimes(rows, layout)
        cleared: list[int] = []
        totals: list[int] = []
        source_rows = list(rows_after_header(layout, rows, cleared, totals))
        layout.max_column = max([max(row, default=0) for _, row in rows] + [max(layout.headers, default=0)])
        if progress is not None and len(rows) >= 5000:
            progress(len(rows))

        invoice_col = layout.columns["invoice"]
        keys = {}
        for n, row in rows:
            key = _key_text(row.get(invoice_col))
            if n > layout.header_row and key:
                keys[n] = key
        header = dict(next((row for n, row in rows if n == layout.header_row), {}))
        by_number = dict(rows)
        outputs = {row: {key: by_number[row].get(col) for key, col in layout.output_columns.items()} for row in cleared}
        self._snapshot = _Snapshot(chosen, header, keys, outputs)

        extra: dict[str, list[Row]] = {}
        if customers is not None and customers.sheet_id != chosen.sheet_id:
            extra["customers"] = [row for _, row in grids.get(customers.sheet_id, [])]
        return SheetData(
            source=self.name,
            layout=layout,
            rows=source_rows,
            extra_sheets=extra,
            cleared_rows=cleared,
            totals_rows=totals,
            locator=self.locator,
        )

    def _candidates(self, tabs: list[_Tab], manual: BillingManual) -> list[_Tab]:
        """``[google] worksheet``, else the address's gid, else ``[workbook] sheet``, else every visible tab."""
        manual_name = manual.source if manual.path else MANUAL_FILENAME
        listing = ", ".join(f"{t.title!r} (gid {t.sheet_id})" for t in tabs)

        def named(name: str, setting: str) -> list[_Tab]:
            tab = _find_tab(tabs, name)
            if tab is None:
                raise SheetLayoutError(
                    f"{self.name}: no tab named {name!r} (the spreadsheet has {listing}); fix {setting} in {manual_name}"
                )
            return [tab]

        worksheet = str(manual.section("google").get("worksheet", "")).strip()
        if worksheet:
            return named(worksheet, "[google] worksheet")
        if self.gid is not None:
            tab = next((t for t in tabs if t.sheet_id == self.gid), None)
            if tab is None:
                raise SheetLayoutError(
                    f"{self.name}: the address names tab gid={self.gid}, which is not in the spreadsheet "
                    f"(it has {listing}); copy the address again from the browser"
                )
            return [tab]
        if manual.sheet.strip():
            return named(manual.sheet.strip(), "[workbook] sheet")
        return [t for t in tabs if not t.hidden] or tabs

    # -- writing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Nothing to release: reading a Google Sheet starts no process."""

    def check_writable(self) -> None:
        """Nothing to check before the work: sharing and credentials are checked by the first request."""

    def write(self, data: SheetData, columns: list[OutputColumn], values: Mapping[int, dict[str, Any]]) -> WriteReport:
        snapshot = self._snapshot
        if snapshot is None:
            raise GoogleSheetError(f"{self.name}: write() before read(); nothing was written")
        layout = data.layout
        read_outputs = {r.row: r.outputs for r in data.rows} | snapshot.cleared
        added = [c for c in columns if c.key not in layout.output_columns]
        keys = {c.key for c in columns}
        changes: dict[int, dict[str, Any]] = {}
        for row, row_values in values.items():
            before = read_outputs.get(row, {})
            diff = {k: v for k, v in row_values.items() if k in keys and not _same(before.get(k), v)}
            if diff:
                changes[row] = diff
        if not added and not changes:
            return WriteReport(self.name, changed=False)

        api = self._api
        tab = snapshot.tab
        needed_cols = max(c.col for c in columns)
        date_columns = [
            c for c in added if any(isinstance(v.get(c.key), date) for v in changes.values())
        ]  # new columns of dates show as dates only once formatted as dates
        requests: list[dict[str, Any]] = []
        if needed_cols > tab.cols:
            requests.append(
                {"appendDimension": {"sheetId": tab.sheet_id, "dimension": "COLUMNS", "length": needed_cols - tab.cols}}
            )
        for column in date_columns:
            requests.append(
                {
                    "repeatCell": {
                        "range": {
                            "sheetId": tab.sheet_id,
                            "startRowIndex": layout.header_row,
                            "startColumnIndex": column.col - 1,
                            "endColumnIndex": column.col,
                        },
                        "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE"}}},
                        "fields": "userEnteredFormat.numberFormat",
                    }
                }
            )
        if requests:
            body = {"requests": requests}
            api.call("adding the new columns", lambda: api.http.batch_update(self.key, body))
            tab.cols = max(tab.cols, needed_cols)

        placement = api.call(
            "writing the status columns",
            lambda: self._check_and_write(snapshot, layout, columns, changes, added),
        )
        notes = []
        if placement.moved:
            notes.append(
                f"{placement.moved} invoice{'s' if placement.moved != 1 else ''} had moved to another row while "
                "the tool ran; their columns were written on their new rows"
            )
        if placement.gone:
            listed = ", ".join(placement.gone[:5]) + (" ..." if len(placement.gone) > 5 else "")
            notes.append(f"no longer in the sheet, so not written: {listed}")
        return WriteReport(
            self.name,
            changed=True,
            rows=len(placement.rows),
            added_columns=[c.header for c in added],
            notes=notes,
        )

    def _check_and_write(
        self,
        snapshot: _Snapshot,
        layout: SheetLayout,
        columns: list[OutputColumn],
        changes: dict[int, dict[str, Any]],
        added: list[OutputColumn],
    ) -> _Placement:
        """Re-read the header and the invoice numbers, place each row, write in one request."""
        api, tab = self._api, snapshot.tab
        letter = column_letter(layout.columns["invoice"])
        first = layout.header_row + 1
        ranges = [f"{tab.range}!{layout.header_row}:{layout.header_row}", f"{tab.range}!{letter}{first}:{letter}"]
        response = api.http.values_batch_get(self.key, ranges, dict(_VALUE_PARAMS, majorDimension="ROWS"))
        header_range, key_range = response.get("valueRanges", [{}, {}])[:2]
        header_now = dict(next(iter(row for _, row in _rows_of(header_range)), {}))
        # Our own new headers already there: an earlier attempt was applied but its answer was lost.
        ours = {c.col: c.header for c in added}
        header_now = {col: v for col, v in header_now.items() if ours.get(col) != v}
        if header_now != snapshot.header:
            raise WriteRefused(
                f"{self.name}: the header row of tab {tab.title!r} changed while the tool ran "
                "(a column was added, moved or renamed); nothing was written: run again"
            )
        keys_now = {}
        for n, cells in _rows_of(key_range):
            key = _key_text(next(iter(cells.values()), None))
            if key:
                keys_now[n] = key
        placement = place_rows(snapshot.keys, keys_now, changes, self.name, optional=snapshot.cleared)

        by_column: dict[int, dict[int, Any]] = {c.col: {} for c in columns}
        for column in added:
            by_column[column.col][layout.header_row] = column.header
        for row, row_changes in changes.items():
            target = placement.rows.get(row)
            if target is None:
                continue
            for column in columns:
                if column.key in row_changes:
                    by_column[column.col][target] = _cell_json(row_changes[column.key])
        data = []
        for col, cells in by_column.items():
            if not cells:
                continue
            top, bottom = min(cells), max(cells)
            # null leaves a cell as it is: only the cells that change are written
            data.append(
                {
                    "range": f"{tab.range}!{column_letter(col)}{top}:{column_letter(col)}{bottom}",
                    "majorDimension": "ROWS",
                    "values": [[cells.get(r)] for r in range(top, bottom + 1)],
                }
            )
        if data:
            api.http.values_batch_update(self.key, {"valueInputOption": "RAW", "data": data})
        return placement

    def write_cells(
        self, data: SheetData, cells: dict[tuple[int, int], Any], cached: set[tuple[int, int]]
    ) -> Path | None:
        """Write the given cells (row, column) -> value, for payments applied, in one batch request.

        Cells in ``cached`` are written only where they hold no formula (a formula
        recalculates by itself in a Google Sheet). Refused when the header or the
        invoice numbers changed since the sheet was read: a payment must land on its
        invoice. Keeps no backup (Google keeps the sheet's version history): returns None.
        """
        snapshot = self._snapshot
        if snapshot is None:
            raise GoogleSheetError(f"{self.name}: write_cells() before read(); nothing was written")
        api, tab, layout = self._api, snapshot.tab, data.layout
        letter = column_letter(layout.columns["invoice"])
        ranges = [
            f"{tab.range}!{layout.header_row}:{layout.header_row}",
            f"{tab.range}!{letter}{layout.header_row + 1}:{letter}",
            *(f"{tab.range}!{column_letter(col)}{row}" for row, col in sorted(cached)),
        ]
        response = api.call(
            "checking the sheet before writing payments",
            lambda: api.http.values_batch_get(self.key, ranges, dict(_VALUE_PARAMS, valueRenderOption="FORMULA")),
        )
        found = response.get("valueRanges", [])
        header_now = dict(next(iter(row for _, row in _rows_of(found[0] if found else {})), {}))
        keys_now = {
            n: k
            for n, cells_ in _rows_of(found[1] if len(found) > 1 else {})
            if (k := _key_text(next(iter(cells_.values()), None)))
        }
        if header_now != snapshot.header or keys_now != snapshot.keys:
            raise WriteRefused(
                f"{self.name}: tab {tab.title!r} changed while the tool ran (rows or columns added, moved or "
                "renamed); no payment was written: run again"
            )
        for (row, col), value_range in zip(sorted(cached), found[2:], strict=False):
            formula = next(iter(next(iter(value_range.get("values", [[]])), [])), None)
            if isinstance(formula, str) and formula.startswith("="):
                cells = {key: value for key, value in cells.items() if key != (row, col)}
        needed = max((col for _, col in cells), default=0)
        requests = _new_column_requests(tab, layout.header_row, cells, needed)
        if requests:
            body = {"requests": requests}
            api.call("adding the new columns", lambda: api.http.batch_update(self.key, body))
            tab.cols = max(tab.cols, needed)
        data_ = [
            {
                "range": f"{tab.range}!{column_letter(col)}{row}",
                "majorDimension": "ROWS",
                "values": [[_cell_json(value)]],
            }
            for (row, col), value in sorted(cells.items())
        ]
        if data_:
            api.call(
                "writing the payments",
                lambda: api.http.values_batch_update(self.key, {"valueInputOption": "RAW", "data": data_}),
            )
        return None


def _new_column_requests(
    tab: _Tab, header_row: int, cells: dict[tuple[int, int], Any], needed: int
) -> list[dict[str, Any]]:
    """The requests that make room for the columns ``cells`` reach, and format a new column of dates as dates.

    A column is new when its header is among the cells written.
    """
    requests: list[dict[str, Any]] = []
    if needed > tab.cols:
        requests.append(
            {"appendDimension": {"sheetId": tab.sheet_id, "dimension": "COLUMNS", "length": needed - tab.cols}}
        )
    added = {col for (row, col) in cells if row == header_row}
    for col in sorted(added):
        if any(isinstance(v, date) for (r, c), v in cells.items() if c == col and r != header_row):
            requests.append(
                {
                    "repeatCell": {
                        "range": {
                            "sheetId": tab.sheet_id,
                            "startRowIndex": header_row,
                            "startColumnIndex": col - 1,
                            "endColumnIndex": col,
                        },
                        "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE"}}},
                        "fields": "userEnteredFormat.numberFormat",
                    }
                }
            )
    return requests


def place_rows(
    before: dict[int, str], now: dict[int, str], rows: Iterable[int], where: str, optional: Iterable[int] = ()
) -> _Placement:
    """Where each row read (``rows``) is now, by its invoice number; refuse when that is not certain.

    ``before`` and ``now`` map row numbers to invoice numbers (rows without one left out).
    Unchanged: every row stays. Changed: a row goes where its invoice number now is, if
    that number is unique both before and now; a number that vanished is reported as
    gone; a blank or repeated number in a sheet whose rows moved stops the write, except
    for ``optional`` rows (emptied invoice rows whose old status is to be cleared), which
    are then left for the next run.
    """
    placement = _Placement()
    if before == now:
        placement.rows = {row: row for row in rows}
        return placement
    count_before, count_now = Counter(before.values()), Counter(now.values())
    where_now = {key: row for row, key in now.items()}
    unsure: list[str] = []
    skippable = set(optional)
    for row in rows:
        key = before.get(row)
        if row in skippable:
            continue
        if key is None:
            unsure.append(f"row {row} has no invoice number")
        elif count_before[key] > 1 or count_now[key] > 1:
            unsure.append(f"{key} is on more than one row")
        elif key not in where_now:
            placement.gone.append(key)
        else:
            placement.rows[row] = where_now[key]
            placement.moved += where_now[key] != row
    if unsure:
        unique = list(dict.fromkeys(unsure))
        listed = unique[0]
        more = f" (and {len(unique) - 1} more)" if len(unique) > 1 else ""
        raise WriteRefused(
            f"{where}: rows were inserted, deleted or moved while the tool ran, and {listed}{more}, so its "
            "status cannot be placed with certainty; nothing was written: run again"
        )
    return placement


# --------------------------------------------------------------------------------------------
# Values in and out


def _find_tab(tabs: list[_Tab], name: str) -> _Tab | None:
    exact = next((t for t in tabs if t.title == name), None)
    return exact or next((t for t in tabs if t.title.casefold() == name.casefold()), None)


def _rows_of(value_range: dict[str, Any]) -> list[tuple[int, Row]]:
    """``(row number, {column: value})`` for every row of a ValueRange, blanks left out of the dicts."""
    start_row, start_col = 1, 1
    match = _RANGE_START.search(str(value_range.get("range", "")))
    if match:
        letters, digits = match.groups()
        start_col = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(letters)))
        start_row = int(digits)
    rows = []
    for i, values in enumerate(value_range.get("values", [])):
        row: Row = {}
        for j, value in enumerate(values):
            if value == "" or value is None:
                continue
            row[start_col + j] = CellError(value) if isinstance(value, str) and value in _ERROR_VALUES else value
        rows.append((start_row + i, row))
    return rows


def _dates_as_datetimes(rows: list[tuple[int, Row]], layout: SheetLayout) -> None:
    """Serial numbers in date columns become datetimes (see the module docstring)."""
    cols = [layout.columns[f] for f in DATE_FIELDS if f in layout.columns]
    cols += [layout.output_columns[k] for k in DATE_OUTPUTS if k in layout.output_columns]
    for n, row in rows:
        if n <= layout.header_row:
            continue
        for col in cols:
            value = row.get(col)
            if is_date_serial(value):
                row[col] = serial_to_datetime(value)


def _key_text(value: Any) -> str | None:
    if isinstance(value, CellError):
        return str(value)
    return to_text(value)


def _same(before: Any, after: Any) -> bool:
    """Whether a cell as read already holds the value to write (blank is blank, 7 is 7.0)."""
    if before is None or before == "":
        return after is None or after == ""
    if after is None or after == "":
        return False
    if isinstance(after, datetime) or isinstance(before, datetime):
        as_dates = [v.date() if isinstance(v, datetime) else v for v in (before, after)]
        return bool(as_dates[0] == as_dates[1])
    if isinstance(after, bool) or isinstance(before, bool):
        return before is after
    if isinstance(after, int | float | Decimal) and isinstance(before, int | float | Decimal):
        return Decimal(str(before)) == Decimal(str(after))
    if isinstance(after, str):
        return isinstance(before, str) and before == after[:MAX_CELL_CHARS]
    return bool(before == after)


def _cell_json(value: Any) -> Any:
    """A value as the API takes it with RAW: numbers as numbers, dates as serial numbers."""
    if value is None:
        return ""  # "" clears the cell; null would leave it as it was
    if isinstance(value, bool):
        return value
    if isinstance(value, datetime):
        delta = value.replace(tzinfo=None) - EXCEL_EPOCH
        return delta.days + delta.seconds / 86400
    if isinstance(value, date):
        return (value - EXCEL_EPOCH.date()).days
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, int):
        return value
    return str(value)[:MAX_CELL_CHARS]
