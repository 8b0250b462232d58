"""In-process emulator of the part of the Google Sheets API v4 that the tool and gspread use.

Tests start it on 127.0.0.1 (ephemeral port) and point the REAL gspread 6.2.1 client at it
through ``tests/gspread_local.py``.  State is plain Python, controlled through the methods of
``SheetsEmulator`` (never over HTTP).  It serves only what ``toolkit/sheets/`` asks for, each
request and response in the shape of Google's reference
(developers.google.com/sheets/api/reference/rest):

  GET  /v4/spreadsheets/{id}?includeGridData=false          spreadsheets.get (metadata only)
       <- Client.open_by_key (Spreadsheet.__init__), Spreadsheet.worksheet(title) / worksheets()
  GET  /v4/spreadsheets/{id}/values/{range}                  spreadsheets.values.get
  GET  /v4/spreadsheets/{id}/values:batchGet?ranges=..&ranges=..   spreadsheets.values.batchGet
       query: majorDimension, valueRenderOption UNFORMATTED_VALUE or FORMULA,
       dateTimeRenderOption SERIAL_NUMBER (what the tool reads: typed values, date serials)
  POST /v4/spreadsheets/{id}/values:batchUpdate              spreadsheets.values.batchUpdate
       valueInputOption RAW only (the tool never lets a cell's text become a formula)
  POST /v4/spreadsheets/{id}:batchUpdate                     spreadsheets.batchUpdate
       requests: appendDimension, repeatCell (userEnteredFormat.numberFormat); a few pure
       formatting requests are accepted as no-ops (see _NOOP_REQUESTS)

Anything else (formatted rendering, USER_ENTERED input, values.update/append/clear, Drive,
other batchUpdate requests) is answered with an error and recorded as a gap, so a change
in the tool that starts to use it fails the tests here instead of passing on a guess.

Behaviour modelled on Google's public reference:
  * Cells are typed: number, string, boolean, date/time (a serial number, days since
    1899-12-30, plus a date number format), formula (text plus its cached value, given by the
    test: the emulator does not evaluate formulas), empty.  A cell keeps its number format
    when its value is overwritten (as in Sheets).
  * UNFORMATTED_VALUE returns numbers/booleans as JSON numbers/booleans (whole numbers come
    back as JSON integers, so 100.0 reads back as 100); FORMULA returns the formula text for
    formula cells and unformatted values elsewhere.
  * Responses trim trailing empty rows and trailing empty cells of each row; the "values" key
    is omitted when nothing is left (as Google does).  Interior empty cells are "".
  * RAW stores strings as-is; JSON null skips the cell; "" clears it.
  * Ranges: "'Sheet name'!A1:B2", "Sheet!A:A", "Sheet!A2:Z", "Sheet!A2:2", "Sheet!1:3",
    "Sheet" (whole grid), "A1:B2" (first sheet) ... Sheet titles match case-insensitively.
    Reads clamp an open/oversized end to the grid but a start outside the grid -> 400
    "exceeds grid limits"; any write outside the grid -> 400 "exceeds grid limits".
    Writing more values than a bounded range holds -> 400.
  * Batch requests are atomic: if one part fails nothing is applied.
  * Errors use Google's JSON body {"error": {"code", "message", "status"}}: unknown
    spreadsheet -> 404 NOT_FOUND, spreadsheet not shared -> 403 PERMISSION_DENIED, missing
    Authorization -> 401 UNAUTHENTICATED, injected 429 -> RESOURCE_EXHAUSTED "Quota exceeded
    ...", 500/503/504 JSON; an injected 502 answers with Google's front-end HTML page (as the
    real front end does), so gspread's APIError then has code -1.
  * Numeric fields that are zero are omitted from write responses (proto3 JSON mapping).

Emulator gaps (requests it cannot serve, exceptions inside it) are recorded in
``internal_errors``; leaving the context manager raises ``EmulatorError`` if there are any.

Test controls (Python, not HTTP)::

    with SheetsEmulator() as emu:                       # or emu.start() / emu.stop()
        emu.add_spreadsheet(key, title, {"Invoices": [[...], ...]}, shared=True, locale="en_US",
                            grid={"Invoices": (rows, cols)})
        gc = gspread_local.local_client(emu.base_url)   # the real gspread.Client
        emu.get_values(key, sheet)    # typed values (UNFORMATTED_VALUE + SERIAL_NUMBER), trimmed
        emu.get_cell(key, sheet, "B2"); emu.formulas(key, sheet); emu.grid_size(key, sheet)
        emu.insert_rows(key, sheet, index, rows); emu.delete_rows(...); emu.set_cell(...)
        emu.set_grid(key, sheet, rows=, cols=); emu.share(key, shared=False)
        emu.fail_next(n, status=429, kind=None, method=None); emu.fail_always(status | None)
        remove = emu.on_request(lambda info: ...)       # info: RequestInfo (kind, body, ...)
        emu.request_log   # [(method, decoded path, parse_qs query)]; emu.requests; emu.count(kind)
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import json
import math
import re
import socket
import threading
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote

__all__ = [
    "Cell",
    "EmulatorError",
    "Formatted",
    "Formula",
    "RequestInfo",
    "RequestRecord",
    "SheetsEmulator",
    "date_to_serial",
    "serial_to_datetime",
]

SERIAL_EPOCH = _dt.datetime(1899, 12, 30)
MAX_CELL_CHARS = 50_000
MAX_COLUMNS = 18_278  # ZZZ
DEFAULT_ROWS = 1000
DEFAULT_COLS = 26

READ_KINDS = ("spreadsheets.get", "values.get", "values.batchGet")
WRITE_KINDS = ("spreadsheets.batchUpdate", "values.batchUpdate")

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_DEFAULT_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
        "or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project."
    ),
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    408: "The request timed out.",
    409: "The operation was aborted.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}
_MISSING_AUTH_MESSAGE = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_HTML_502 = (
    "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 502 (Server Error)!!1</title>\n"
    "  <p><b>502.</b> <ins>That\u2019s an error.</ins>\n  <p>The server encountered a temporary error and "
    "could not complete your request.<p>Please try again in 30 seconds.  <ins>That\u2019s all we know.</ins>\n"
)


class EmulatorError(AssertionError):
    """Raised when the emulator itself failed or was asked for something it does not implement."""


class _ApiError(Exception):
    """An error answer (status + body) raised inside a handler."""

    def __init__(self, code: int, message: str | None = None, status: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message or _DEFAULT_MESSAGES.get(code, "Error")
        self.status = status or _STATUS_NAMES.get(code, "UNKNOWN")


class _Unimplemented(_ApiError):
    """A valid Google request the emulator does not implement (answered 400, recorded as a gap)."""


def _bad(message: str) -> _ApiError:
    return _ApiError(400, message, "INVALID_ARGUMENT")


# --------------------------------------------------------------------------------------------
# Cells, seed helpers, dates
# --------------------------------------------------------------------------------------------


@dataclass
class Cell:
    """One stored cell.

    ``value`` is the effective value: None (empty), bool, int, float or str.  Dates and times
    are numbers (serials) whose ``number_format`` is a date/time pattern.  A formula cell has
    ``formula`` ("=...") and its cached result in ``value``.
    """

    value: Any = None
    formula: str | None = None
    number_format: str | None = None  # None = General; "@" = plain text

    @property
    def is_empty(self) -> bool:
        return self.formula is None and (self.value is None or self.value == "")

    @property
    def is_date(self) -> bool:
        return _is_number(self.value) and _is_datetime_pattern(self.number_format)


@dataclass(frozen=True)
class Formula:
    """Seed value: a formula cell.  ``cached`` defaults to the emulator's evaluation."""

    text: str
    cached: Any = None


@dataclass(frozen=True)
class Formatted:
    """Seed value: a value with an explicit number format, e.g. Formatted(1234.5, "#,##0.00")."""

    value: Any
    number_format: str


def date_to_serial(value: _dt.date | _dt.datetime) -> int | float:
    """Sheets serial number of a date (int) or datetime (float when it has a time part)."""
    if isinstance(value, _dt.datetime):
        delta = value.replace(tzinfo=None) - SERIAL_EPOCH
        serial = delta.days + delta.seconds / 86400 + delta.microseconds / 86_400_000_000
        return int(serial) if float(serial).is_integer() else serial
    return (value - SERIAL_EPOCH.date()).days


def serial_to_datetime(serial: float) -> _dt.datetime:
    return SERIAL_EPOCH + _dt.timedelta(days=float(serial))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _seed_cell(value: Any) -> Cell | None:
    """Python seed value -> Cell (no string parsing; use Formula/Formatted for the rest)."""
    if value is None:
        return None
    if isinstance(value, Cell):
        return copy.copy(value)
    if isinstance(value, Formula):
        text = value.text if value.text.startswith("=") else "=" + value.text
        if value.cached is None:
            raise ValueError(f"{text}: give the formula's cached result (the emulator does not evaluate formulas)")
        return Cell(value.cached, formula=text)
    if isinstance(value, Formatted):
        inner = _seed_cell(value.value) or Cell()
        inner.number_format = value.number_format
        return inner
    if isinstance(value, _dt.datetime):
        return Cell(date_to_serial(value), number_format="yyyy-mm-dd hh:mm:ss")
    if isinstance(value, _dt.date):
        return Cell(date_to_serial(value), number_format="yyyy-mm-dd")
    if isinstance(value, bool) or _is_number(value):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"cannot store {value!r} in a cell")
        return Cell(value)
    if isinstance(value, str):
        return Cell(value) if value != "" else None
    raise TypeError(f"unsupported seed value {value!r} ({type(value).__name__})")


# --------------------------------------------------------------------------------------------
# Rendering values as the tool reads them
# --------------------------------------------------------------------------------------------


def _is_datetime_pattern(pattern: str | None) -> bool:
    if not pattern or pattern in ("@", "General"):
        return False
    stripped = re.sub(r'"[^"]*"|\\.|\[[^\]]*\]', "", pattern)
    return bool(re.search(r"[yYdDhH]", stripped)) and not re.search(r"[#0]", stripped)


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _render(cell: Cell | None, value_render: str) -> Any:
    """A cell as UNFORMATTED_VALUE (numbers as JSON numbers, dates as serials) or FORMULA renders it."""
    if cell is None:
        return ""
    if value_render == "FORMULA" and cell.formula is not None:
        return cell.formula
    value = cell.value
    if value is None:
        return ""
    if isinstance(value, (bool, str)):
        return value
    return _json_number(value)


# --------------------------------------------------------------------------------------------
# A1 notation
# --------------------------------------------------------------------------------------------


def _col_letters(col: int) -> str:
    letters = ""
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _col_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


def _a1(row: int, col: int) -> str:
    return f"{_col_letters(col)}{row}"


def _quote_title(title: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) and not re.fullmatch(r"[A-Za-z]{1,3}\d+|[Rr]\d*[Cc]\d*", title):
        return title
    return "'" + title.replace("'", "''") + "'"


_A1_END = re.compile(r"^\$?([A-Za-z]{0,3})\$?(\d*)$")


@dataclass
class _Range:
    sheet: _Sheet
    text: str  # as requested, for error messages
    r1: int = 1
    c1: int = 1
    r2: int | None = None  # None = open (to the end of the grid)
    c2: int | None = None
    single_cell: bool = False
    whole_sheet: bool = False

    def read_bounds(self) -> tuple[int, int, int, int]:
        sheet = self.sheet
        if self.r1 > sheet.row_count or self.c1 > sheet.col_count:
            raise _grid_error(self.text, sheet)
        r2 = sheet.row_count if self.r2 is None else min(self.r2, sheet.row_count)
        c2 = sheet.col_count if self.c2 is None else min(self.c2, sheet.col_count)
        return self.r1, self.c1, r2, c2

    def write_limits(self) -> tuple[int | None, int | None]:
        """Bounds enforced on written values (a single cell / whole sheet is only an anchor)."""
        if self.single_cell or self.whole_sheet:
            return None, None
        return self.r2, self.c2


def _grid_error(text: str, sheet: _Sheet) -> _ApiError:
    return _bad(f"Range ({text}) exceeds grid limits. Max rows: {sheet.row_count}, max columns: {sheet.col_count}")


def _range_string(sheet: _Sheet, r1: int, c1: int, r2: int, c2: int) -> str:
    if (r1, c1) == (r2, c2):
        return f"{_quote_title(sheet.title)}!{_a1(r1, c1)}"
    return f"{_quote_title(sheet.title)}!{_a1(r1, c1)}:{_a1(r2, c2)}"


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


class _Sheet:
    def __init__(self, sheet_id: int, title: str, rows: int, cols: int):
        self.sheet_id = sheet_id
        self.title = title
        self.row_count = rows
        self.col_count = cols
        self.hidden = False
        self.frozen_rows = 0
        self.frozen_cols = 0
        self.extra_props: dict[str, Any] = {}
        self.cells: dict[tuple[int, int], Cell] = {}  # 0-based (row, col)

    def properties(self, index: int) -> dict[str, Any]:
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.col_count}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        if self.frozen_cols:
            grid["frozenColumnCount"] = self.frozen_cols
        props: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }
        if self.hidden:
            props["hidden"] = True
        props.update(self.extra_props)
        return props

    def set_cell(self, row0: int, col0: int, cell: Cell | None) -> None:
        if cell is None or (cell.is_empty and cell.number_format is None):
            self.cells.pop((row0, col0), None)
        else:
            self.cells[(row0, col0)] = cell

    def shift(self, dimension: str, start: int, count: int) -> None:
        """Insert (count > 0) or delete (count < 0) rows/columns at 0-based index ``start``."""
        moved: dict[tuple[int, int], Cell] = {}
        for (r, c), cell in self.cells.items():
            pos = r if dimension == "ROWS" else c
            if count < 0 and start <= pos < start - count:
                continue
            if pos >= start:
                pos += count
            moved[(pos, c) if dimension == "ROWS" else (r, pos)] = cell
        self.cells = moved
        if dimension == "ROWS":
            self.row_count += count
        else:
            self.col_count += count

    def truncate(self) -> None:
        self.cells = {(r, c): v for (r, c), v in self.cells.items() if r < self.row_count and c < self.col_count}


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Spreadsheet:
    def __init__(self, key: str, title: str, locale: str, time_zone: str):
        self.key = key
        self.title = title
        self.locale = locale
        self.time_zone = time_zone
        self.sheets: list[_Sheet] = []
        self.shared = True
        self.created = _now()
        self.modified = self.created
        self._next_sheet_id = 0

    def new_sheet_id(self) -> int:
        """0 for the first sheet, then large ids (as Google's), never reused."""
        while True:
            sid = self._next_sheet_id
            self._next_sheet_id = 1_000_000_007 if sid == 0 else sid + 7919
            if not any(s.sheet_id == sid for s in self.sheets):
                return sid

    def find_sheet(self, title: str) -> _Sheet | None:
        folded = title.casefold()
        return next((s for s in self.sheets if s.title.casefold() == folded), None)

    def sheet_by_id(self, sheet_id: Any) -> _Sheet:
        try:
            sid = int(sheet_id or 0)
        except (TypeError, ValueError):
            raise _bad(f"Invalid sheetId: {sheet_id!r}") from None
        for s in self.sheets:
            if s.sheet_id == sid:
                return s
        raise _bad(f"No grid with id: {sid}")

    def metadata(self) -> dict[str, Any]:
        return {
            "spreadsheetId": self.key,
            "properties": {
                "title": self.title,
                "locale": self.locale,
                "autoRecalc": "ON_CHANGE",
                "timeZone": self.time_zone,
                "defaultFormat": {
                    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
                    "verticalAlignment": "BOTTOM",
                    "wrapStrategy": "OVERFLOW_CELL",
                    "textFormat": {"fontFamily": "arial,sans,sans-serif", "fontSize": 10},
                },
            },
            "sheets": [{"properties": s.properties(i)} for i, s in enumerate(self.sheets)],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{self.key}/edit",
        }

    def parse_range(self, text: str) -> _Range:
        raw = text
        text = text.strip()
        unparsable = _bad(f"Unable to parse range: {raw}")
        a1: str | None
        if text.startswith("'"):
            i, name = 1, []
            while i < len(text):
                if text[i] == "'":
                    if text[i + 1 : i + 2] == "'":
                        name.append("'")
                        i += 2
                        continue
                    break
                name.append(text[i])
                i += 1
            else:
                raise unparsable
            rest = text[i + 1 :]
            if rest == "":
                a1 = None
            elif rest.startswith("!") and len(rest) > 1:
                a1 = rest[1:]
            else:
                raise unparsable
            sheet = self.find_sheet("".join(name))
        elif "!" in text:
            title, a1 = text.split("!", 1)
            sheet = self.find_sheet(title)
            if not a1:
                raise unparsable
        else:
            sheet = self.find_sheet(text)
            a1 = None
            if sheet is None:
                sheet = next((s for s in self.sheets if not s.hidden), self.sheets[0])
                a1 = text
        if sheet is None or not text:
            raise unparsable
        if a1 is None:
            return _Range(sheet, raw, whole_sheet=True)
        display = f"{_quote_title(sheet.title)}!{a1}"
        start_txt, colon, end_txt = a1.partition(":")
        ends = []
        for part in (start_txt, end_txt) if colon else (start_txt,):
            m = _A1_END.match(part)
            if not m or not (m[1] or m[2]):
                raise unparsable
            col = _col_number(m[1]) if m[1] else None
            row = int(m[2]) if m[2] else None
            if row == 0 or (col is not None and col > MAX_COLUMNS):
                raise unparsable
            ends.append((row, col))
        if not colon:
            row, col = ends[0]
            if row is None or col is None:
                raise unparsable
            return _Range(sheet, display, row, col, row, col, single_cell=True)
        (sr, sc), (er, ec) = ends
        r1, r2 = sr or 1, er
        c1, c2 = sc or 1, ec
        if r2 is not None and r2 < r1:
            r1, r2 = r2, r1
        if c2 is not None and c2 < c1:
            c1, c2 = c2, c1
        return _Range(sheet, display, r1, c1, r2, c2)


# --------------------------------------------------------------------------------------------
# Request log records
# --------------------------------------------------------------------------------------------


class RequestRecord(NamedTuple):
    """One entry of ``SheetsEmulator.request_log``: (method, path, query).

    ``path`` is percent-decoded ("/v4/spreadsheets/KEY/values/'Invoices'!A1:Z");
    ``query`` is ``urllib.parse.parse_qs`` output: ``{"valueRenderOption": ["UNFORMATTED_VALUE"]}``.
    """

    method: str
    path: str
    query: dict[str, list[str]]


@dataclass
class RequestInfo:
    """Full detail of a request, passed to ``on_request`` hooks and kept in ``requests``."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any  # parsed JSON body or None
    kind: str  # e.g. "values.get", "values.batchUpdate", "spreadsheets.batchUpdate", "unknown"
    spreadsheet_id: str | None
    range: str | None = None  # decoded range for values/{range} endpoints
    status: int | None = None  # filled in once answered

    @property
    def is_write(self) -> bool:
        return self.kind in WRITE_KINDS


@dataclass
class _FailureRule:
    remaining: int | None  # None = forever
    status: int
    message: str | None
    kinds: tuple[str, ...] | None
    method: str | None

    def matches(self, info: RequestInfo) -> bool:
        if self.kinds is not None and info.kind not in self.kinds:
            return False
        return not (self.method is not None and info.method != self.method.upper())


_NOOP_REQUESTS = {
    "autoResizeDimensions",
    "updateDimensionProperties",
    "updateBorders",
    "mergeCells",
    "unmergeCells",
    "setBasicFilter",
    "clearBasicFilter",
    "setDataValidation",
    "addConditionalFormatRule",
}

_ROUTES = [
    ("GET", re.compile(r"^/v4/spreadsheets/(?P<id>[^/:]+)$"), "spreadsheets.get"),
    ("POST", re.compile(r"^/v4/spreadsheets/(?P<id>[^/:]+):batchUpdate$"), "spreadsheets.batchUpdate"),
    ("GET", re.compile(r"^/v4/spreadsheets/(?P<id>[^/:]+)/values:batchGet$"), "values.batchGet"),
    ("POST", re.compile(r"^/v4/spreadsheets/(?P<id>[^/:]+)/values:batchUpdate$"), "values.batchUpdate"),
    ("GET", re.compile(r"^/v4/spreadsheets/(?P<id>[^/:]+)/values/(?P<range>.+)$"), "values.get"),
]


def _classify(method: str, raw_path: str) -> tuple[str, str | None, str | None]:
    for route_method, pattern, kind in _ROUTES:
        m = pattern.match(raw_path)
        if m and route_method == method:
            groups = m.groupdict()
            rng = groups.get("range")
            return kind, unquote(groups["id"]) if groups.get("id") else None, unquote(rng) if rng else None
    return "unknown", None, None


def _enum(query: dict[str, list[str]], name: str, allowed: Sequence[str], default: str) -> str:
    values = query.get(name)
    if not values or values[-1] in ("", None):
        return default
    value = values[-1]
    if value.endswith("_UNSPECIFIED"):
        return default
    if value not in allowed:
        raise _bad(f"Invalid value at '{_snake(name)}', \"{value}\"")
    return value


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m[1].lower(), name)


def _bool_param(value: Any) -> bool:
    if isinstance(value, list):
        value = value[-1] if value else None
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def _drop_zero(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if not (isinstance(v, int) and not isinstance(v, bool) and v == 0)}


_VALUE_RENDER = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
_DATE_RENDER = ("SERIAL_NUMBER", "FORMATTED_STRING")
_DIMENSIONS = ("ROWS", "COLUMNS")
_INPUT_OPTIONS = ("RAW", "USER_ENTERED")


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------


class SheetsEmulator:
    """Google Sheets API v4 emulator on 127.0.0.1 (see the module docstring).

    Use as ``with SheetsEmulator() as emu: ...`` or ``emu.start()`` / ``emu.stop()``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        require_auth: bool = True,
        valid_tokens: Iterable[str] | None = None,
    ):
        self.host = host
        self.port = port
        self.require_auth = require_auth
        self.valid_tokens = set(valid_tokens) if valid_tokens is not None else None
        self._lock = threading.RLock()
        self._spreadsheets: dict[str, _Spreadsheet] = {}
        self._hooks: list[Callable[[RequestInfo], Any]] = []
        self._failures: list[_FailureRule] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.request_log: list[RequestRecord] = []
        self.requests: list[RequestInfo] = []
        self.internal_errors: list[str] = []

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> SheetsEmulator:
        if self._server is not None:
            return self
        emulator = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        server = Server((self.host, self.port), _Handler)
        server.emulator = emulator  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="sheets-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns, self._connections = list(self._connections), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SheetsEmulator:
        return self.start()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop()
        if exc_type is None:
            self.check()

    def check(self) -> None:
        """Raise EmulatorError if the emulator failed or met a request it does not implement."""
        if self.internal_errors:
            raise EmulatorError("sheets emulator problems:\n" + "\n".join(self.internal_errors))

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("SheetsEmulator is not started")
        port = self._server.server_address[1]
        return f"http://{self.host}:{port}"

    # ---- test controls: data -------------------------------------------------------------

    def add_spreadsheet(
        self,
        key: str,
        title: str,
        sheets: dict[str, list[list[Any]]],
        *,
        shared: bool = True,
        locale: str = "en_US",
        time_zone: str = "America/New_York",
        grid: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        """Create (or replace) a spreadsheet.

        ``sheets`` maps titles (in tab order) to rows of seed values: str, int, float, bool,
        None/"" (empty), datetime.date / datetime.datetime (stored as date serials), Formula(...),
        Formatted(value, pattern) or Cell.  ``grid`` optionally sets
        (rowCount, columnCount) per sheet; the default is max(1000, data) x max(26, data).
        """
        if not sheets:
            raise ValueError("a spreadsheet needs at least one sheet")
        ss = _Spreadsheet(key, title, locale, time_zone)
        ss.shared = shared
        for name, rows in sheets.items():
            if ss.find_sheet(name):
                raise ValueError(f"duplicate sheet title {name!r} (titles are case-insensitive)")
            n_rows = len(rows)
            n_cols = max((len(r) for r in rows), default=0)
            size = (grid or {}).get(name, (max(DEFAULT_ROWS, n_rows), max(DEFAULT_COLS, n_cols)))
            if size[0] < n_rows or size[1] < n_cols:
                raise ValueError(f"grid {size} of sheet {name!r} is smaller than its data")
            sheet = _Sheet(ss.new_sheet_id(), name, size[0], size[1])
            ss.sheets.append(sheet)
            self._seed_rows(sheet, 0, rows)
        with self._lock:
            self._spreadsheets[key] = ss

    def _seed_rows(self, sheet: _Sheet, row0: int, rows: list[list[Any]]) -> None:
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                sheet.set_cell(row0 + i, j, _seed_cell(value))

    def _ss(self, key: str) -> _Spreadsheet:
        try:
            return self._spreadsheets[key]
        except KeyError:
            raise KeyError(f"no spreadsheet {key!r} in the emulator") from None

    def _sheet(self, key: str, sheet: str) -> _Sheet:
        found = self._ss(key).find_sheet(sheet)
        if found is None:
            raise KeyError(f"no sheet {sheet!r} in spreadsheet {key!r}")
        return found

    def get_values(
        self,
        key: str,
        sheet: str,
        *,
        render: str = "UNFORMATTED_VALUE",
    ) -> list[list[Any]]:
        """The sheet's whole grid as the API would return it (trailing empties trimmed).

        Default render: UNFORMATTED_VALUE + SERIAL_NUMBER (numbers, bools, strings, date
        serials; formula cells give their cached value).
        """
        with self._lock:
            rng = _Range(self._sheet(key, sheet), sheet, whole_sheet=True)
            return _read_values(rng, "ROWS", render).get("values", [])

    def get_cell(self, key: str, sheet: str, a1: str) -> Cell | None:
        """A copy of the stored cell at ``a1`` (None when never written / cleared)."""
        with self._lock:
            ss = self._ss(key)
            rng = ss.parse_range(f"{_quote_title(self._sheet(key, sheet).title)}!{a1}")
            cell = rng.sheet.cells.get((rng.r1 - 1, rng.c1 - 1))
            return copy.copy(cell) if cell is not None else None

    def formulas(self, key: str, sheet: str) -> dict[str, str]:
        """{"B2": "=1+1", ...}: every formula cell of the sheet."""
        with self._lock:
            s = self._sheet(key, sheet)
            return {_a1(r + 1, c + 1): cell.formula for (r, c), cell in sorted(s.cells.items()) if cell.formula}

    def grid_size(self, key: str, sheet: str) -> tuple[int, int]:
        with self._lock:
            s = self._sheet(key, sheet)
            return s.row_count, s.col_count

    def sheet_titles(self, key: str) -> list[str]:
        with self._lock:
            return [s.title for s in self._ss(key).sheets]

    def insert_rows(self, key: str, sheet: str, index: int, rows: list[list[Any]]) -> None:
        """Out-of-band edit: insert ``rows`` so that the first one becomes row ``index`` (1-based).

        Existing rows at and below ``index`` move down; the grid grows by len(rows).
        """
        if index < 1:
            raise ValueError("index is 1-based")
        with self._lock:
            ss = self._ss(key)
            s = self._sheet(key, sheet)
            if index > s.row_count + 1:
                raise ValueError(f"index {index} is beyond the grid ({s.row_count} rows)")
            s.shift("ROWS", index - 1, len(rows))
            width = max((len(r) for r in rows), default=0)
            if width > s.col_count:
                s.col_count = width
            self._seed_rows(s, index - 1, rows)
            ss.modified = _now()

    def delete_rows(self, key: str, sheet: str, index: int, count: int = 1) -> None:
        """Out-of-band edit: delete ``count`` rows starting at row ``index`` (1-based)."""
        with self._lock:
            ss = self._ss(key)
            s = self._sheet(key, sheet)
            if index < 1 or index - 1 + count > s.row_count:
                raise ValueError("rows out of range")
            s.shift("ROWS", index - 1, -count)
            ss.modified = _now()

    def set_cell(self, key: str, sheet: str, a1: str, value: Any) -> None:
        """Out-of-band edit of one cell (seed semantics, see add_spreadsheet)."""
        with self._lock:
            ss = self._ss(key)
            rng = ss.parse_range(f"{_quote_title(self._sheet(key, sheet).title)}!{a1}")
            if rng.r1 > rng.sheet.row_count or rng.c1 > rng.sheet.col_count:
                raise ValueError(f"{a1} is outside the grid")
            rng.sheet.set_cell(rng.r1 - 1, rng.c1 - 1, _seed_cell(value))
            ss.modified = _now()

    def set_grid(self, key: str, sheet: str, rows: int | None = None, cols: int | None = None) -> None:
        """Resize a sheet's grid (data outside it is dropped)."""
        with self._lock:
            s = self._sheet(key, sheet)
            s.row_count = rows or s.row_count
            s.col_count = cols or s.col_count
            s.truncate()

    def share(self, key: str, shared: bool = False) -> None:
        """Mark a spreadsheet as (not) shared with the caller: not shared -> 403 on every call."""
        with self._lock:
            self._ss(key).shared = shared

    def remove_spreadsheet(self, key: str) -> None:
        with self._lock:
            self._spreadsheets.pop(key, None)

    # ---- test controls: traffic ----------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        *,
        message: str | None = None,
        kind: str | Sequence[str] | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status`` (429 RESOURCE_EXHAUSTED by default).

        ``kind`` ("values.get", "values.batchUpdate", ... or the READ_KINDS / WRITE_KINDS tuples)
        and ``method`` ("GET", "POST", "PUT") restrict which requests count.
        """
        kinds = (kind,) if isinstance(kind, str) else (tuple(kind) if kind is not None else None)
        with self._lock:
            self._failures.append(_FailureRule(n, status, message, kinds, method))

    def fail_always(
        self,
        status: int | None,
        *,
        message: str | None = None,
        kind: str | Sequence[str] | None = None,
        method: str | None = None,
    ) -> None:
        """Answer every matching request with ``status`` until ``fail_always(None)``."""
        with self._lock:
            self._failures = [f for f in self._failures if f.remaining is not None]
            if status is not None:
                kinds = (kind,) if isinstance(kind, str) else (tuple(kind) if kind is not None else None)
                self._failures.append(_FailureRule(None, status, message, kinds, method))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures = []

    def on_request(self, callback: Callable[[RequestInfo], Any]) -> Callable[[], None]:
        """Run ``callback(info)`` before each request is served; returns a function that removes it.

        The hook runs in the server thread, outside the emulator lock, so it may call test
        controls such as ``insert_rows``.  If it raises, the request gets a 500 and the
        exception is recorded in ``internal_errors``.
        """
        with self._lock:
            self._hooks.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._hooks:
                    self._hooks.remove(callback)

        return remove

    def clear_log(self) -> None:
        with self._lock:
            self.request_log.clear()
            self.requests.clear()

    def count(self, kind: str | Sequence[str] | None = None, *, method: str | None = None) -> int:
        """Number of logged requests, optionally of one kind (or kinds) / HTTP method."""
        kinds = (kind,) if isinstance(kind, str) else (tuple(kind) if kind is not None else None)
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (kinds is None or r.kind in kinds) and (method is None or r.method == method.upper())
            )

    # ---- HTTP dispatch -------------------------------------------------------------------

    def _dispatch(
        self, method: str, raw_target: str, headers: Any, body_bytes: bytes
    ) -> tuple[int, bytes, str, list[tuple[str, str]]]:
        raw_path, _, raw_query = raw_target.partition("?")
        query = parse_qs(raw_query, keep_blank_values=True)
        kind, key, rng = _classify(method, raw_path)
        body: Any = None
        body_error = None
        if body_bytes:
            try:
                body = json.loads(body_bytes.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                body_error = f"Invalid JSON payload received. {exc}"
        info = RequestInfo(method, unquote(raw_path), query, body, kind, key, rng)
        with self._lock:
            self.request_log.append(RequestRecord(method, info.path, query))
            self.requests.append(info)
            hooks = list(self._hooks)
        try:
            for hook in hooks:
                hook(info)
            result = self._answer(info, headers, body_error)
        except _ApiError as err:
            if isinstance(err, _Unimplemented):
                with self._lock:
                    self.internal_errors.append(f"{method} {info.path}: {err.message}")
            result = self._error(err, info)
        except Exception:
            tb = traceback.format_exc()
            with self._lock:
                self.internal_errors.append(f"{method} {info.path}: {tb}")
            result = self._error(_ApiError(500, "emulator internal error (see internal_errors)"), info)
        info.status = result[0]
        return result

    def _error(self, err: _ApiError, info: RequestInfo) -> tuple[int, bytes, str, list[tuple[str, str]]]:
        if err.code == 502:
            return 502, _HTML_502.encode(), "text/html; charset=UTF-8", []
        error: dict[str, Any] = {"code": err.code, "message": err.message}
        error["status"] = err.status
        if err.code == 429:
            error["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "domain": "googleapis.com",
                    "metadata": {"service": "sheets.googleapis.com", "consumer": "projects/000000000000"},
                }
            ]
        extra = [("WWW-Authenticate", 'Bearer realm="https://accounts.google.com/"')] if err.code == 401 else []
        return err.code, json.dumps({"error": error}).encode(), "application/json; charset=UTF-8", extra

    def _injected_failure(self, info: RequestInfo) -> _ApiError | None:
        with self._lock:
            for rule in self._failures:
                if rule.matches(info):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self._failures.remove(rule)
                    status = rule.status
                    message = rule.message
                    if message is None and status == 429:
                        what = "Read" if info.method == "GET" else "Write"
                        message = (
                            f"Quota exceeded for quota metric '{what} requests' and limit '{what} requests "
                            f"per minute per user' of service 'sheets.googleapis.com' for consumer "
                            f"'project_number:000000000000'."
                        )
                    return _ApiError(status, message)
        return None

    def _answer(self, info: RequestInfo, headers: Any, body_error: str | None) -> tuple[int, bytes, str, list]:
        failure = self._injected_failure(info)
        if failure is not None:
            raise failure
        if self.require_auth:
            auth = headers.get("Authorization") or ""
            if not auth.startswith("Bearer ") or not auth[7:].strip():
                raise _ApiError(401, _MISSING_AUTH_MESSAGE)
            if self.valid_tokens is not None and auth[7:].strip() not in self.valid_tokens:
                raise _ApiError(401)
        if info.kind == "unknown":
            with self._lock:
                self.internal_errors.append(f"unsupported endpoint: {info.method} {info.path}")
            raise _ApiError(404, f"emulator: no such endpoint {info.method} {info.path}")
        if body_error:
            raise _bad(body_error)
        with self._lock:
            payload = self._route(info)
        return 200, json.dumps(payload).encode(), "application/json; charset=UTF-8", []

    def _accessible(self, key: str | None) -> _Spreadsheet:
        ss = self._spreadsheets.get(key or "")
        if ss is None:
            raise _ApiError(404)
        if not ss.shared:
            raise _ApiError(403, "The caller does not have permission")
        return ss

    def _route(self, info: RequestInfo) -> Any:
        kind, q, body = info.kind, info.query, info.body
        ss = self._accessible(info.spreadsheet_id)
        if kind == "spreadsheets.get":
            return ss.metadata()
        if kind == "values.get":
            return _read_values(ss.parse_range(info.range or ""), *_read_options(q))
        if kind == "values.batchGet":
            opts = _read_options(q)
            out: dict[str, Any] = {"spreadsheetId": ss.key}
            ranges = q.get("ranges", [])
            if ranges:
                out["valueRanges"] = [_read_values(ss.parse_range(r), *opts) for r in ranges]
            return out
        if kind == "spreadsheets.batchUpdate":
            return self._atomic(ss, lambda: _spreadsheet_batch_update(ss, body or {}))
        if kind == "values.batchUpdate":
            return self._atomic(ss, lambda: _values_batch_update(ss, body or {}))
        raise AssertionError(f"unrouted kind {kind}")

    def _atomic(self, ss: _Spreadsheet, action: Callable[[], Any]) -> Any:
        # Cells are never mutated in place (writes store new Cell objects), so a shallow copy of
        # each sheet's state is a complete snapshot.
        sheets = list(ss.sheets)
        saved = [(s, {**vars(s), "cells": dict(s.cells), "extra_props": dict(s.extra_props)}) for s in sheets]
        try:
            result = action()
        except BaseException:
            ss.sheets = sheets
            for sheet, state in saved:
                vars(sheet).clear()
                vars(sheet).update(state)
            raise
        ss.modified = _now()
        return result


# --------------------------------------------------------------------------------------------
# Endpoint logic (called with the emulator lock held)
# --------------------------------------------------------------------------------------------


def _read_options(q: dict[str, list[str]]) -> tuple[str, str]:
    """(majorDimension, valueRenderOption); the renderings the tool never asks for are not emulated."""
    value_render = _enum(q, "valueRenderOption", _VALUE_RENDER, "FORMATTED_VALUE")
    date_render = _enum(q, "dateTimeRenderOption", _DATE_RENDER, "SERIAL_NUMBER")
    if value_render == "FORMATTED_VALUE" or date_render == "FORMATTED_STRING":
        raise _Unimplemented(
            501, "formatted rendering is not emulated: the tool reads UNFORMATTED_VALUE and SERIAL_NUMBER"
        )
    return _enum(q, "majorDimension", _DIMENSIONS, "ROWS"), value_render


def _read_values(rng: _Range, major: str, value_render: str) -> dict[str, Any]:
    """ValueRange for ``rng`` with Google's trimming."""
    r1, c1, r2, c2 = rng.read_bounds()
    sheet = rng.sheet
    rendered: dict[tuple[int, int], Any] = {}
    for (r, c), cell in sheet.cells.items():
        if r1 - 1 <= r <= r2 - 1 and c1 - 1 <= c <= c2 - 1:
            value = _render(cell, value_render)
            if value != "":
                rendered[(r - (r1 - 1), c - (c1 - 1))] = value
    out: dict[str, Any] = {"range": _range_string(sheet, r1, c1, r2, c2), "majorDimension": major}
    if not rendered:
        return out
    if major == "COLUMNS":
        rendered = {(c, r): v for (r, c), v in rendered.items()}
    n_outer = max(k[0] for k in rendered) + 1
    widths = [0] * n_outer
    for i, j in rendered:
        widths[i] = max(widths[i], j + 1)
    out["values"] = [[rendered.get((i, j), "") for j in range(widths[i])] for i in range(n_outer)]
    return out


def _check_values(values: Any, where: str) -> list[list[Any]]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise _bad(f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.ListValue), {json.dumps(values)}")
    for i, row in enumerate(values):
        if not isinstance(row, list):
            raise _bad(
                f"Invalid value at '{where}[{i}]' (type.googleapis.com/google.protobuf.ListValue), {json.dumps(row)}"
            )
        for j, v in enumerate(row):
            if isinstance(v, (list, dict)):
                raise _bad(
                    f"Invalid values[{i}][{j}]: {'list_value' if isinstance(v, list) else 'struct_value'} {json.dumps(v)}"
                )
            if isinstance(v, str) and len(v) > MAX_CELL_CHARS:
                raise _bad(
                    f"Your input contains more than the maximum of {MAX_CELL_CHARS} characters in a single cell."
                )
    return values


def _input_cell(value: Any, existing: Cell | None) -> Cell | None:
    """The cell a RAW write stores: strings as they are (never parsed), numbers and booleans as such."""
    fmt = existing.number_format if existing is not None else None
    if isinstance(value, str):
        cell = Cell(value) if value != "" else None
    elif isinstance(value, bool) or _is_number(value):
        cell = Cell(value)
    else:
        raise _bad(f"Invalid value {value!r}")
    if cell is None:
        return Cell(None, number_format=fmt) if fmt else None
    if cell.number_format is None:
        cell.number_format = fmt
    return cell


def _write(
    ss: _Spreadsheet,
    rng: _Range,
    values: list[list[Any]],
    major: str,
    *,
    grow: bool = False,
) -> dict[str, Any]:
    """Write values anchored at the range's top-left cell; returns an UpdateValuesResponse."""
    sheet = rng.sheet
    if major == "COLUMNS":
        height = max((len(col) for col in values), default=0)
        values = [[col[i] if i < len(col) else None for col in values] for i in range(height)]
    limit_r, limit_c = rng.write_limits()
    writes: list[tuple[int, int, Any]] = []
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            r, c = rng.r1 + i, rng.c1 + j
            if limit_r is not None and r > limit_r:
                raise _bad(f"Requested writing within range [{rng.text}], but tried writing to row [{r}]")
            if limit_c is not None and c > limit_c:
                raise _bad(
                    f"Requested writing within range [{rng.text}], but tried writing to column [{_col_letters(c)}]"
                )
            if v is None:
                continue
            if r > sheet.row_count or c > sheet.col_count:
                if not grow:
                    raise _grid_error(rng.text, sheet)
                sheet.row_count = max(sheet.row_count, r)
                sheet.col_count = max(sheet.col_count, c)
            writes.append((r, c, v))
    if not grow and (rng.r1 > sheet.row_count or rng.c1 > sheet.col_count):
        raise _grid_error(rng.text, sheet)
    for r, c, v in writes:
        existing = sheet.cells.get((r - 1, c - 1))
        sheet.set_cell(r - 1, c - 1, _input_cell(v, existing))
    n_rows = len(values)
    n_cols = max((len(row) for row in values), default=0)
    if n_rows and n_cols:
        updated_range = _range_string(sheet, rng.r1, rng.c1, rng.r1 + n_rows - 1, rng.c1 + n_cols - 1)
    else:
        updated_range = _range_string(sheet, rng.r1, rng.c1, rng.r1, rng.c1)
    resp = {
        "spreadsheetId": ss.key,
        "updatedRange": updated_range,
        "updatedRows": len({r for r, _, _ in writes}),
        "updatedColumns": len({c for _, c, _ in writes}),
        "updatedCells": len(writes),
    }
    resp["_sheet"] = sheet.sheet_id  # internal, stripped by callers
    resp["_cells"] = {(sheet.sheet_id, r, c) for r, c, _ in writes}
    return resp


def _public(resp: dict[str, Any]) -> dict[str, Any]:
    return _drop_zero({k: v for k, v in resp.items() if not k.startswith("_")})


def _values_batch_update(ss: _Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
    option = body.get("valueInputOption") or "INPUT_VALUE_OPTION_UNSPECIFIED"
    if option not in _INPUT_OPTIONS:
        raise _bad(f"Invalid valueInputOption: {option}")
    if option != "RAW":
        raise _Unimplemented(501, f"valueInputOption {option} is not emulated: the tool writes RAW")
    data = body.get("data") or []
    if not isinstance(data, list):
        raise _bad("Invalid value at 'data'")
    responses = []
    cells: set[tuple[int, int, int]] = set()
    for i, vr in enumerate(data):
        if not isinstance(vr, dict) or not vr.get("range"):
            raise _bad(f"Invalid data[{i}]: range is required")
        major = vr.get("majorDimension") or "ROWS"
        if major not in _DIMENSIONS:
            raise _bad(f"Invalid value at 'data[{i}].major_dimension', \"{major}\"")
        rng = ss.parse_range(vr["range"])
        resp = _write(ss, rng, _check_values(vr.get("values"), f"data[{i}].values"), major)
        cells |= resp["_cells"]
        responses.append(resp)
    out: dict[str, Any] = {"spreadsheetId": ss.key}
    out.update(
        _drop_zero(
            {
                "totalUpdatedRows": len({(s, r) for s, r, _ in cells}),
                "totalUpdatedColumns": len({(s, c) for s, _, c in cells}),
                "totalUpdatedCells": len(cells),
                "totalUpdatedSheets": len({s for s, _, _ in cells}),
            }
        )
    )
    if _bool_param(body.get("includeValuesInResponse")):
        raise _Unimplemented(501, "includeValuesInResponse is not emulated: the tool does not ask for it")
    if responses:
        out["responses"] = [_public(r) for r in responses]
    return out


def _number_format_pattern(fmt: dict[str, Any]) -> str | None:
    kind = fmt.get("type") or "NUMBER"
    pattern = fmt.get("pattern")
    if pattern:
        return pattern
    return {
        "TEXT": "@",
        "NUMBER": "#,##0.00",
        "PERCENT": "0.00%",
        "CURRENCY": '"$"#,##0.00',
        "DATE": "yyyy-mm-dd",
        "TIME": "h:mm:ss am/pm",
        "DATE_TIME": "yyyy-mm-dd h:mm:ss",
        "SCIENTIFIC": "0.00E+00",
    }.get(kind)


def _spreadsheet_batch_update(ss: _Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
    requests = body.get("requests")
    if not requests:
        raise _bad("Must specify at least one request.")
    replies: list[dict[str, Any]] = []
    for i, req in enumerate(requests):
        if not isinstance(req, dict) or len(req) != 1:
            raise _bad(f"Invalid requests[{i}]: exactly one kind of request must be set")
        ((name, spec),) = req.items()
        where = f"requests[{i}].{name}"
        spec = spec or {}
        reply: dict[str, Any] = {}
        if name == "appendDimension":
            sheet = ss.sheet_by_id(spec.get("sheetId"))
            length = int(spec.get("length") or 0)
            if length < 1:
                raise _bad(f"Invalid {where}: length must be at least 1")
            if spec.get("dimension") == "ROWS":
                sheet.row_count += length
            elif spec.get("dimension") == "COLUMNS":
                sheet.col_count += length
            else:
                raise _bad(f"Invalid {where}: dimension must be ROWS or COLUMNS")
        elif name == "repeatCell":
            grid_range = spec.get("range") or {}
            sheet = ss.sheet_by_id(grid_range.get("sheetId"))
            fields = (spec.get("fields") or "").replace(" ", "")
            fmt = ((spec.get("cell") or {}).get("userEnteredFormat") or {}).get("numberFormat")
            touches_number_format = fields in ("*", "userEnteredFormat") or "numberFormat" in fields
            if touches_number_format:
                pattern = _number_format_pattern(fmt) if fmt else None
                r_from = int(grid_range.get("startRowIndex") or 0)
                r_to = min(int(grid_range.get("endRowIndex") or sheet.row_count), sheet.row_count)
                c_from = int(grid_range.get("startColumnIndex") or 0)
                c_to = min(int(grid_range.get("endColumnIndex") or sheet.col_count), sheet.col_count)
                for r in range(r_from, r_to):
                    for c in range(c_from, c_to):
                        old = sheet.cells.get((r, c))
                        cell = copy.copy(old) if old is not None else Cell()
                        cell.number_format = pattern
                        sheet.set_cell(r, c, cell)
        elif name in _NOOP_REQUESTS:
            pass
        else:
            raise _Unimplemented(400, f"Invalid {where}: the emulator does not implement '{name}'")
        replies.append(reply)
    return {"spreadsheetId": ss.key, "replies": replies}


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server_version = "ESF"
    sys_version = ""
    timeout = 60

    def setup(self) -> None:
        super().setup()
        emulator: SheetsEmulator = self.server.emulator  # type: ignore[attr-defined]
        with emulator._lock:
            emulator._connections.add(self.connection)

    def finish(self) -> None:
        emulator: SheetsEmulator = self.server.emulator  # type: ignore[attr-defined]
        with emulator._lock:
            emulator._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _serve(self) -> None:
        emulator: SheetsEmulator = self.server.emulator  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        status, payload, content_type, extra = emulator._dispatch(self.command, self.path, self.headers, body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass
