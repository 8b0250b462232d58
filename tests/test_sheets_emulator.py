"""The Sheets API emulator, driven by the REAL gspread 6.2.1 client through tests/gspread_local.py."""

from __future__ import annotations

import datetime as dt

import gspread
import pytest
from gspread.exceptions import APIError, SpreadsheetNotFound
from gspread.utils import DateTimeOption, Dimension, ValueRenderOption

try:  # tests/ as a plain directory (pytest's default rootdir/prepend import mode)
    from gspread_local import LocalHTTPClient, StaticTokenCredentials, local_client, patch_gspread_auth
    from sheets_emulator import WRITE_KINDS, EmulatorError, Formatted, Formula, SheetsEmulator, date_to_serial
except ImportError:  # tests/ as a package
    from tests.gspread_local import LocalHTTPClient, StaticTokenCredentials, local_client, patch_gspread_auth
    from tests.sheets_emulator import (
        WRITE_KINDS,
        EmulatorError,
        Formatted,
        Formula,
        SheetsEmulator,
        date_to_serial,
    )

KEY = "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
# The renderings the tool asks for; the emulator serves no other (see tests/sheets_emulator.py).
UNFORMATTED = {"valueRenderOption": "UNFORMATTED_VALUE"}
RAW_VALUES = ValueRenderOption.unformatted
DUE_1 = dt.date(2026, 11, 20)
DUE_2 = dt.date(2026, 12, 1)
SERIAL_1 = 46346  # 2026-11-20
SERIAL_2 = 46357  # 2026-12-01

INVOICES = [
    ["Invoice", "Customer", "Due Date", "Amount", "Paid"],
    ["INV-001", "Acme", DUE_1, 1234.5, False],
    ["INV-002", "Beta Ltd", DUE_2, Formatted(99, "#,##0.00"), True],
    ["INV-003", "Gamma", Formula("=40+2", 42), 10, None],
]


@pytest.fixture
def emulator():
    with SheetsEmulator() as emu:
        emu.add_spreadsheet(
            KEY,
            "Receivables 2026",
            {"Invoices": INVOICES, "My Customers": [["Name", "Email"], ["Acme", "ap@acme.test"]]},
        )
        yield emu


@pytest.fixture
def gc(emulator):
    return local_client(emulator.base_url)


@pytest.fixture
def ws(gc):
    return gc.open_by_key(KEY).worksheet("Invoices")


# ---- opening ---------------------------------------------------------------------------------


def test_open_by_key_fetches_metadata_once(emulator, gc):
    """open_by_key makes exactly one GET /v4/spreadsheets/{id}?includeGridData=false and reads the title."""
    sh = gc.open_by_key(KEY)
    assert sh.title == "Receivables 2026"
    assert sh.locale == "en_US"
    assert emulator.request_log == [("GET", f"/v4/spreadsheets/{KEY}", {"includeGridData": ["false"]})]


def test_worksheet_by_title_refetches_metadata(emulator, gc):
    """Spreadsheet.worksheet(title) fetches the metadata again and exposes sheetId/index/grid size."""
    sh = gc.open_by_key(KEY)
    inv = sh.worksheet("Invoices")
    cust = sh.worksheet("My Customers")
    assert (inv.id, inv.index, inv.row_count, inv.col_count) == (0, 0, 1000, 26)
    assert cust.index == 1 and cust.id != 0
    assert emulator.count("spreadsheets.get") == 3
    with pytest.raises(gspread.exceptions.WorksheetNotFound):
        sh.worksheet("invoices")  # gspread matches titles case-sensitively on its side


# ---- reading -----------------------------------------------------------------------------------


def test_get_values_unformatted_serial_returns_date_serials(ws):
    """UNFORMATTED_VALUE + SERIAL_NUMBER returns dates as serial numbers, numbers/bools typed, formulas' cached values."""
    values = ws.get_values(
        "A1:E",
        value_render_option=ValueRenderOption.unformatted,
        date_time_render_option=DateTimeOption.serial_number,
    )
    assert values[1] == ["INV-001", "Acme", SERIAL_1, 1234.5, False]
    assert values[2] == ["INV-002", "Beta Ltd", SERIAL_2, 99, True]
    assert values[3][2:4] == [42, 10]
    assert isinstance(values[1][2], int) and isinstance(values[2][3], int)


def test_batch_get_with_render_options_is_one_request(emulator, ws):
    """batch_get sends one values:batchGet with repeated ranges, each answered as a ValueRange."""
    emulator.clear_log()
    dates, amounts = ws.batch_get(
        ["C2:C3", "D2:D3"],
        value_render_option=ValueRenderOption.unformatted,
        date_time_render_option=DateTimeOption.serial_number,
    )
    assert dates == [[SERIAL_1], [SERIAL_2]] and dates.range == "Invoices!C2:C3"
    assert amounts == [[1234.5], [99]]
    assert emulator.count("values.batchGet") == 1 and len(emulator.request_log) == 1
    assert emulator.request_log[0].query["ranges"] == ["'Invoices'!C2:C3", "'Invoices'!D2:D3"]


def test_formula_render_returns_formula_text(ws):
    """FORMULA returns formula text for formula cells and unformatted values elsewhere."""
    assert ws.get("C3:D4", value_render_option=ValueRenderOption.formula) == [[SERIAL_2, 99], ["=40+2", 10]]


def test_trailing_empty_cells_and_rows_are_trimmed(emulator, ws):
    """Responses drop trailing empty cells/rows, keep interior blanks as "", and omit values when empty."""
    emulator.set_cell(KEY, "Invoices", "C10", "far")
    result = ws.spreadsheet.values_get("'Invoices'!A4:Z20", params=UNFORMATTED)
    assert result["range"] == "Invoices!A4:Z20"
    assert result["values"][0] == ["INV-003", "Gamma", 42, 10]
    assert result["values"][1:] == [[], [], [], [], [], ["", "", "far"]]
    empty = ws.spreadsheet.values_get("Invoices!M1:N5", params=UNFORMATTED)
    assert "values" not in empty and empty["majorDimension"] == "ROWS"


def test_major_dimension_columns(ws):
    """majorDimension=COLUMNS transposes (col_values uses it)."""
    assert ws.col_values(2, value_render_option=ValueRenderOption.unformatted) == [
        "Customer",
        "Acme",
        "Beta Ltd",
        "Gamma",
    ]
    assert ws.get("A1:B2", major_dimension=Dimension.cols, value_render_option=ValueRenderOption.unformatted) == [
        ["Invoice", "INV-001"],
        ["Customer", "Acme"],
    ]


def test_range_notations(ws):
    """Quoted/unquoted/case-insensitive sheet names, open-ended and whole-sheet ranges resolve like Google."""
    sh = ws.spreadsheet
    assert sh.values_get("'My Customers'!A1:B", params=UNFORMATTED)["range"] == "'My Customers'!A1:B1000"
    assert sh.values_get("'My Customers'!A:A", params=UNFORMATTED)["values"] == [["Name"], ["Acme"]]
    assert sh.values_get("Invoices!A:A", params=UNFORMATTED)["range"] == "Invoices!A1:A1000"
    assert sh.values_get("Invoices", params=UNFORMATTED)["range"] == "Invoices!A1:Z1000"
    assert sh.values_get("invoices!A2", params=UNFORMATTED)["values"] == [["INV-001"]]
    assert sh.values_get("A1:B1", params=UNFORMATTED)["range"] == "Invoices!A1:B1"  # no sheet name -> first sheet
    assert sh.values_get("Invoices!A3:3", params=UNFORMATTED)["values"] == [["INV-002", "Beta Ltd", SERIAL_2, 99, True]]
    assert sh.values_get("Invoices!2:2", params=UNFORMATTED)["range"] == "Invoices!A2:Z2"
    with pytest.raises(APIError) as err:
        sh.values_get("Nope!A1", params=UNFORMATTED)
    assert err.value.code == 400 and "Unable to parse range" in err.value.error["message"]


def test_read_clamps_to_grid_but_rejects_start_outside(emulator, ws):
    """Reads clamp an oversized end to the grid; a start outside the grid is 400 'exceeds grid limits'."""
    emulator.set_grid(KEY, "Invoices", rows=5, cols=5)
    assert ws.spreadsheet.values_get("Invoices!A1:ZZ9999", params=UNFORMATTED)["range"] == "Invoices!A1:E5"
    with pytest.raises(APIError) as err:
        ws.get("F1", value_render_option=RAW_VALUES)
    assert err.value.code == 400
    assert "exceeds grid limits. Max rows: 5, max columns: 5" in err.value.error["message"]


# ---- writing -----------------------------------------------------------------------------------


def test_batch_update_raw_keeps_types_and_text(emulator, ws):
    """values:batchUpdate with RAW stores numbers/bools typed and strings verbatim (no formulas, no parsing)."""
    result = ws.batch_update(
        [{"range": "F1:H2", "values": [["Note", "=1+1", "007"], [12.5, True, "2026-11-20"]]}],
        raw=True,
    )
    assert result["totalUpdatedCells"] == 6 and result["totalUpdatedSheets"] == 1
    assert result["responses"][0]["updatedRange"] == "Invoices!F1:H2"
    assert emulator.get_values(KEY, "Invoices")[0][5:8] == ["Note", "=1+1", "007"]
    assert emulator.get_values(KEY, "Invoices")[1][5:8] == [12.5, True, "2026-11-20"]
    assert set(emulator.formulas(KEY, "Invoices")) == {"C4"}  # only the seeded formula
    assert emulator.requests[-1].body["valueInputOption"] == "RAW"


def test_overwrite_keeps_cell_number_format(emulator, ws):
    """Writing a RAW serial into a date-formatted cell keeps it a date (formats belong to cells, not values)."""
    ws.batch_update([{"range": "C2", "values": [[date_to_serial(dt.date(2027, 1, 31))]]}], raw=True)
    assert emulator.get_cell(KEY, "Invoices", "C2").is_date
    ws.batch_update([{"range": "C2", "values": [["not a date"]]}], raw=True)
    assert emulator.get_values(KEY, "Invoices")[1][2] == "not a date"


def test_write_outside_grid_fails_until_append_dimension(emulator, ws):
    """Writing beyond columnCount is 400 'exceeds grid limits'; appendDimension (as the tool sends it) fixes it."""
    emulator.set_grid(KEY, "Invoices", cols=5)
    with pytest.raises(APIError) as err:
        ws.batch_update([{"range": "F1", "values": [["Reminder sent"]]}], raw=True)
    assert err.value.code == 400 and "exceeds grid limits" in err.value.error["message"]
    ws.spreadsheet.batch_update(
        {"requests": [{"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 1}}]}
    )
    ws.batch_update([{"range": "F1", "values": [["Reminder sent"]]}], raw=True)
    assert emulator.grid_size(KEY, "Invoices") == (1000, 6)
    assert emulator.get_values(KEY, "Invoices")[0][5] == "Reminder sent"


def test_repeat_cell_sets_the_number_format_of_a_range(emulator, ws):
    """repeatCell with userEnteredFormat.numberFormat DATE makes the cells of a column dates (the tool's one format)."""
    ws.spreadsheet.batch_update(
        {
            "requests": [
                {
                    "repeatCell": {
                        "range": {"sheetId": 0, "startRowIndex": 1, "startColumnIndex": 3, "endColumnIndex": 4},
                        "cell": {"userEnteredFormat": {"numberFormat": {"type": "DATE"}}},
                        "fields": "userEnteredFormat.numberFormat",
                    }
                }
            ]
        }
    )
    assert emulator.get_cell(KEY, "Invoices", "D2").is_date
    assert (
        emulator.get_cell(KEY, "Invoices", "D40").number_format
        == emulator.get_cell(KEY, "Invoices", "D2").number_format
    )
    assert not emulator.get_cell(KEY, "Invoices", "D1").is_date  # the header row is left alone


def test_spreadsheet_batch_update_is_atomic(emulator, ws):
    """If one request of a spreadsheets:batchUpdate fails, none of them is applied."""
    with pytest.raises(APIError) as err:
        ws.spreadsheet.batch_update(
            {
                "requests": [
                    {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 10}},
                    {"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 0}},
                ]
            }
        )
    assert err.value.code == 400
    assert emulator.grid_size(KEY, "Invoices") == (1000, 26)


# ---- test controls -----------------------------------------------------------------------------


def test_insert_rows_control_moves_data(emulator, ws):
    """emulator.insert_rows(key, sheet, index, rows) inserts at 1-based row index and pushes data down."""
    emulator.insert_rows(KEY, "Invoices", 2, [["INV-NEW", "Newco", DUE_2, 1, False]])
    col_a = ws.col_values(1, value_render_option=RAW_VALUES)
    assert col_a == ["Invoice", "INV-NEW", "INV-001", "INV-002", "INV-003"]
    assert emulator.grid_size(KEY, "Invoices") == (1001, 26)


def test_on_request_hook_can_change_data_between_read_and_write(emulator, ws):
    """on_request runs before a request is served, so a row inserted there shifts what a stale write hits."""
    rows = ws.get_values(value_render_option=RAW_VALUES)
    target_row = next(i for i, r in enumerate(rows, start=1) if r[0] == "INV-002")

    def sneak_in(info):
        if info.is_write:
            remove()
            emulator.insert_rows(KEY, "Invoices", 2, [["INV-SNEAK", "Intruder"]])

    remove = emulator.on_request(sneak_in)
    ws.batch_update([{"range": f"E{target_row}", "values": [[True]]}], raw=True)
    assert emulator.get_values(KEY, "Invoices")[target_row - 1][:2] == ["INV-001", "Acme"]
    assert emulator.get_values(KEY, "Invoices")[target_row - 1][4] is True  # the wrong invoice got marked


def test_request_log_counts_requests(emulator, gc):
    """request_log holds (method, decoded path, parsed query) for every request, failed ones included."""
    sh = gc.open_by_key(KEY)
    ws = sh.worksheet("Invoices")
    ws.get_values("A1:B2", value_render_option=ValueRenderOption.unformatted)
    ws.batch_update([{"range": "F1", "values": [["x"]]}])
    assert [(m, p) for m, p, _ in emulator.request_log] == [
        ("GET", f"/v4/spreadsheets/{KEY}"),
        ("GET", f"/v4/spreadsheets/{KEY}"),
        ("GET", f"/v4/spreadsheets/{KEY}/values/'Invoices'!A1:B2"),
        ("POST", f"/v4/spreadsheets/{KEY}/values:batchUpdate"),
    ]
    assert emulator.request_log[2].query == {"valueRenderOption": ["UNFORMATTED_VALUE"]}
    assert emulator.count(method="GET") == 3 and emulator.count("values.batchUpdate") == 1


# ---- failures ----------------------------------------------------------------------------------


def test_fail_next_429_then_success(emulator, ws):
    """fail_next(1) answers one request with 429 RESOURCE_EXHAUSTED; gspread does not retry by itself."""
    emulator.fail_next(1)
    with pytest.raises(APIError) as err:
        ws.get_values(value_render_option=RAW_VALUES)
    assert err.value.code == 429
    assert err.value.error["status"] == "RESOURCE_EXHAUSTED"
    assert err.value.error["message"].startswith("Quota exceeded for quota metric 'Read requests'")
    assert ws.get_values(value_render_option=RAW_VALUES)[1][0] == "INV-001"
    assert [r.status for r in emulator.requests[-2:]] == [429, 200]


def test_fail_next_can_target_writes_only(emulator, ws):
    """fail_next(kind=WRITE_KINDS) lets reads through and fails the next write, with nothing written."""
    emulator.fail_next(1, 503, kind=WRITE_KINDS)
    assert ws.get("A2", value_render_option=RAW_VALUES).first() == "INV-001"
    with pytest.raises(APIError) as err:
        ws.batch_update([{"range": "F1", "values": [["x"]]}], raw=True)
    assert (err.value.code, err.value.error["status"]) == (503, "UNAVAILABLE")
    assert emulator.get_values(KEY, "Invoices")[0] == INVOICES[0]


def test_fail_always_and_502_html(emulator, ws):
    """fail_always(500) fails every request until cleared; a 502 is an HTML page, so APIError.code is -1."""
    emulator.fail_always(500)
    for _ in range(3):
        with pytest.raises(APIError) as err:
            ws.get_values(value_render_option=RAW_VALUES)
        assert (err.value.code, err.value.error["status"]) == (500, "INTERNAL")
    emulator.fail_always(None)
    emulator.fail_next(1, 502)
    with pytest.raises(APIError) as err:
        ws.get_values(value_render_option=RAW_VALUES)
    assert err.value.code == -1 and err.value.response.status_code == 502
    assert ws.get_values(value_render_option=RAW_VALUES)


def test_unknown_key_raises_spreadsheet_not_found(emulator, gc):
    """An unknown key is 404 NOT_FOUND, which open_by_key turns into SpreadsheetNotFound."""
    with pytest.raises(SpreadsheetNotFound) as err:
        gc.open_by_key("does-not-exist")
    cause = err.value.__cause__
    assert isinstance(cause, APIError) and cause.code == 404 and cause.error["status"] == "NOT_FOUND"


def test_not_shared_raises_builtin_permission_error(emulator, gc):
    """A spreadsheet not shared with the caller is 403 PERMISSION_DENIED; open_by_key raises builtin PermissionError."""
    emulator.share(KEY, shared=False)
    with pytest.raises(PermissionError) as err:
        gc.open_by_key(KEY)
    assert err.value.__cause__.code == 403
    assert err.value.__cause__.error["message"] == "The caller does not have permission"


def test_missing_auth_is_401_and_resent_by_google_auth(emulator):
    """No Authorization header -> 401 UNAUTHENTICATED; google-auth's AuthorizedSession re-sends it twice."""
    creds = StaticTokenCredentials(token=None)
    client = gspread.Client(creds, http_client=LocalHTTPClient.bound_to(emulator.base_url))
    with pytest.raises(APIError) as err:
        client.open_by_key(KEY)
    assert (err.value.code, err.value.error["status"]) == (401, "UNAUTHENTICATED")
    assert len(emulator.request_log) == 3 and creds.refresh_count == 2


def test_backoff_client_retries_429(emulator, monkeypatch):
    """local_client(backoff=True) uses gspread's BackOffHTTPClient, which retries 429s (sleep patched out)."""
    sleeps = []
    monkeypatch.setattr(gspread.http_client.time, "sleep", sleeps.append)
    client = local_client(emulator.base_url, backoff=True)
    emulator.fail_next(2, 429)
    assert client.open_by_key(KEY).title == "Receivables 2026"
    assert sleeps == [2, 4] and len(emulator.request_log) == 3


@pytest.mark.parametrize(
    "call, gap",
    [
        (lambda ws: ws.spreadsheet.batch_update({"requests": [{"addChart": {}}]}), "addChart"),
        (lambda ws: ws.spreadsheet.batch_update({"requests": [{"deleteDimension": {}}]}), "deleteDimension"),
        (lambda ws: ws.get_values(), "formatted rendering is not emulated"),
        (lambda ws: ws.batch_update([{"range": "F1", "values": [["=1+1"]]}], raw=False), "USER_ENTERED"),
        (lambda ws: ws.update([["x"]], "F1"), "unsupported endpoint: PUT"),
        (lambda ws: ws.append_rows([["x"]]), "unsupported endpoint: POST"),
    ],
)
def test_what_the_tool_never_asks_is_a_recorded_gap(emulator, ws, call, gap):
    """A request the tool never makes is answered with an error and recorded as a gap (check() raises)."""
    with pytest.raises(APIError):
        call(ws)
    with pytest.raises(EmulatorError, match=gap):
        emulator.check()
    emulator.internal_errors.clear()


# ---- plumbing ----------------------------------------------------------------------------------


def test_local_client_ignores_proxy_environment(emulator, monkeypatch):
    """The session has trust_env=False, so proxy variables cannot capture loopback traffic."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    client = local_client(emulator.base_url)
    assert client.http_client.session.trust_env is False
    assert client.open_by_key(KEY).title == "Receivables 2026"


def test_local_client_refuses_other_urls(emulator):
    """LocalHTTPClient rewrites only Google API URLs and refuses anything else."""
    client = local_client(emulator.base_url)
    cls = type(client.http_client)
    assert cls.rewrite("https://sheets.googleapis.com/v4/spreadsheets/x") == emulator.base_url + "/v4/spreadsheets/x"
    assert cls.rewrite("https://www.googleapis.com/drive/v3/files/x") == emulator.base_url + "/drive/v3/files/x"
    with pytest.raises(RuntimeError):
        client.http_client.request("get", "https://example.com/")
    assert emulator.request_log == []


def test_patch_gspread_auth_returns_local_client(emulator, monkeypatch):
    """patch_gspread_auth makes gspread.service_account(...) return a client bound to the emulator."""
    calls = patch_gspread_auth(monkeypatch, emulator.base_url)
    client = gspread.service_account(filename="/nonexistent/creds.json")
    assert client.open_by_key(KEY).title == "Receivables 2026"
    assert calls == [("service_account", (), {"filename": "/nonexistent/creds.json"})]
