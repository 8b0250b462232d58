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
DUE_1 = dt.date(2026, 11, 20)
DUE_2 = dt.date(2026, 12, 1)
SERIAL_1 = 46346  # 2026-11-20
SERIAL_2 = 46357  # 2026-12-01

INVOICES = [
    ["Invoice", "Customer", "Due Date", "Amount", "Paid"],
    ["INV-001", "Acme", DUE_1, 1234.5, False],
    ["INV-002", "Beta Ltd", DUE_2, Formatted(99, "#,##0.00"), True],
    ["INV-003", "Gamma", Formula("=40+2"), 10, None],
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


def test_open_by_title_goes_through_drive(emulator, gc):
    """Client.open(title) lists files via Drive v3, then fetches the Sheets metadata."""
    assert gc.open("Receivables 2026").id == KEY
    assert [r.kind for r in emulator.requests] == ["drive.files.list", "spreadsheets.get"]
    with pytest.raises(SpreadsheetNotFound):
        gc.open("No such title")


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


def test_formatted_value_renders_display_text(ws):
    """The default FORMATTED_VALUE renders dates, number formats and booleans as display strings."""
    values = ws.get_values()
    assert values[1] == ["INV-001", "Acme", "2026-11-20", "1234.5", "FALSE"]
    assert values[2][2:5] == ["2026-12-01", "99.00", "TRUE"]


def test_batch_get_with_render_options_is_one_request(emulator, ws):
    """batch_get sends one values:batchGet with repeated ranges; FORMATTED_STRING formats only date cells."""
    emulator.clear_log()
    dates, amounts = ws.batch_get(
        ["C2:C3", "D2:D3"],
        value_render_option=ValueRenderOption.unformatted,
        date_time_render_option=DateTimeOption.serial_number,
    )
    assert dates == [[SERIAL_1], [SERIAL_2]] and dates.range == "Invoices!C2:C3"
    assert amounts == [[1234.5], [99]]
    (formatted,) = ws.batch_get(
        ["C2:D3"],
        value_render_option=ValueRenderOption.unformatted,
        date_time_render_option=DateTimeOption.formatted_string,
    )
    assert formatted == [["2026-11-20", 1234.5], ["2026-12-01", 99]]
    assert emulator.count("values.batchGet") == 2 and len(emulator.request_log) == 2
    assert emulator.request_log[0].query["ranges"] == ["'Invoices'!C2:C3", "'Invoices'!D2:D3"]


def test_formula_render_returns_formula_text(ws):
    """FORMULA returns formula text for formula cells and unformatted values elsewhere."""
    assert ws.get("C3:D4", value_render_option=ValueRenderOption.formula) == [[SERIAL_2, 99], ["=40+2", 10]]


def test_trailing_empty_cells_and_rows_are_trimmed(emulator, ws):
    """Responses drop trailing empty cells/rows, keep interior blanks as "", and omit values when empty."""
    emulator.set_cell(KEY, "Invoices", "C10", "far")
    result = ws.spreadsheet.values_get("'Invoices'!A4:Z20")
    assert result["range"] == "Invoices!A4:Z20"
    assert result["values"][0] == ["INV-003", "Gamma", "42", "10"]
    assert result["values"][1:] == [[], [], [], [], [], ["", "", "far"]]
    empty = ws.spreadsheet.values_get("Invoices!M1:N5")
    assert "values" not in empty and empty["majorDimension"] == "ROWS"


def test_major_dimension_columns(ws):
    """majorDimension=COLUMNS transposes (col_values uses it)."""
    assert ws.col_values(2) == ["Customer", "Acme", "Beta Ltd", "Gamma"]
    assert ws.get("A1:B2", major_dimension=Dimension.cols) == [["Invoice", "INV-001"], ["Customer", "Acme"]]


def test_range_notations(ws):
    """Quoted/unquoted/case-insensitive sheet names, open-ended and whole-sheet ranges resolve like Google."""
    sh = ws.spreadsheet
    assert sh.values_get("'My Customers'!A1:B")["range"] == "'My Customers'!A1:B1000"
    assert sh.values_get("'My Customers'!A:A")["values"] == [["Name"], ["Acme"]]
    assert sh.values_get("Invoices!A:A")["range"] == "Invoices!A1:A1000"
    assert sh.values_get("Invoices")["range"] == "Invoices!A1:Z1000"
    assert sh.values_get("invoices!A2")["values"] == [["INV-001"]]
    assert sh.values_get("A1:B1")["range"] == "Invoices!A1:B1"  # no sheet name -> first sheet
    assert sh.values_get("Invoices!A3:3")["values"] == [["INV-002", "Beta Ltd", "2026-12-01", "99.00", "TRUE"]]
    assert sh.values_get("Invoices!2:2")["range"] == "Invoices!A2:Z2"
    with pytest.raises(APIError) as err:
        sh.values_get("Nope!A1")
    assert err.value.code == 400 and "Unable to parse range" in err.value.error["message"]


def test_read_clamps_to_grid_but_rejects_start_outside(emulator, ws):
    """Reads clamp an oversized end to the grid; a start outside the grid is 400 'exceeds grid limits'."""
    emulator.set_grid(KEY, "Invoices", rows=5, cols=5)
    assert ws.spreadsheet.values_get("Invoices!A1:ZZ9999")["range"] == "Invoices!A1:E5"
    with pytest.raises(APIError) as err:
        ws.get("F1")
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


def test_batch_update_user_entered_makes_formulas(emulator, ws):
    """USER_ENTERED turns a string starting with '=' into a formula (the injection tests must catch)."""
    ws.batch_update([{"range": "F2", "values": [["=1+1", '=HYPERLINK("http://x")']]}], raw=False)
    assert emulator.formulas(KEY, "Invoices")["F2"] == "=1+1"
    assert emulator.formulas(KEY, "Invoices")["G2"].startswith("=HYPERLINK")
    assert emulator.get_cell(KEY, "Invoices", "F2").value == 2
    assert ws.get("F2:G2", value_render_option=ValueRenderOption.unformatted) == [[2, "#NAME?"]]


def test_user_entered_parses_like_the_ui(emulator, ws):
    """USER_ENTERED: '007'->7, apostrophe forces text, ISO/US dates -> date serials, '1,234.50'/'$5'/'12%' -> numbers."""
    ws.update([["007", "'=1+1", "2026-11-20", "11/20/2026", "1,234.50", "$5", "12%", "TRUE", "x"]], "F2", raw=False)
    row = ws.get("F2:N2", value_render_option=ValueRenderOption.unformatted)[0]
    assert row == [7, "=1+1", SERIAL_1, SERIAL_1, 1234.5, 5, 0.12, True, "x"]
    assert ws.get("F2:N2")[0] == ["7", "=1+1", "2026-11-20", "11/20/2026", "1,234.50", "$5.00", "12%", "TRUE", "x"]
    assert "G2" not in emulator.formulas(KEY, "Invoices")


def test_plain_text_format_keeps_user_entered_strings(emulator, ws):
    """A cell formatted as plain text ('@') keeps USER_ENTERED '=...' and '007' as text."""
    ws.format("F2:G2", {"numberFormat": {"type": "TEXT"}})
    ws.update([["=1+1", "007"]], "F2", raw=False)
    assert emulator.formulas(KEY, "Invoices") == {"C4": "=40+2"}
    assert ws.get("F2:G2", value_render_option=ValueRenderOption.unformatted) == [["=1+1", "007"]]


def test_overwrite_keeps_cell_number_format(ws):
    """Writing a RAW serial into a date-formatted cell renders as a date (formats belong to cells)."""
    ws.update([[date_to_serial(dt.date(2027, 1, 31))]], "C2")
    assert ws.get("C2").first() == "2027-01-31"
    ws.update([["not a date"]], "C2")
    assert ws.get("C2").first() == "not a date"


def test_update_put_anchors_at_single_cell_and_enforces_bounds(emulator, ws):
    """PUT values/{range}: a single cell is an anchor; a bounded range rejects overflowing values; null skips."""
    resp = ws.update([["a", "b"], ["c", None]], "F1")
    assert resp["updatedRange"] == "Invoices!F1:G2" and resp["updatedCells"] == 3
    assert emulator.requests[-1].query == {"valueInputOption": ["RAW"]}
    with pytest.raises(APIError) as err:
        ws.update([["x", "y", "z"]], "F1:G1")
    assert err.value.code == 400 and "tried writing to column [H]" in err.value.error["message"]
    assert emulator.get_values(KEY, "Invoices")[0][5:7] == ["a", "b"]


def test_update_cell_is_always_user_entered(emulator, ws):
    """gspread's update_cell/update_acell always send USER_ENTERED, so '=...' text becomes a formula."""
    ws.update_acell("F5", "=2*3")
    assert emulator.requests[-1].query["valueInputOption"] == ["USER_ENTERED"]
    assert emulator.formulas(KEY, "Invoices")["F5"] == "=2*3"


def test_write_outside_grid_fails_until_add_cols(emulator, ws):
    """Writing beyond columnCount is 400 'exceeds grid limits'; add_cols (updateSheetProperties) fixes it."""
    emulator.set_grid(KEY, "Invoices", cols=5)
    ws = ws.spreadsheet.worksheet("Invoices")
    with pytest.raises(APIError) as err:
        ws.update([["Reminder sent"]], "F1")
    assert err.value.code == 400 and "exceeds grid limits" in err.value.error["message"]
    ws.add_cols(1)
    body = emulator.requests[-1].body
    assert body["requests"][0]["updateSheetProperties"]["fields"] == "gridProperties/columnCount"
    ws.update([["Reminder sent"]], "F1")
    assert emulator.grid_size(KEY, "Invoices") == (1000, 6)
    assert emulator.get_values(KEY, "Invoices")[0][5] == "Reminder sent"


def test_resize_and_delete_rows(emulator, ws):
    """resize() shrinks the grid (dropping data); delete_rows() is deleteDimension and shifts rows up."""
    ws.delete_rows(2)
    assert [r[0] for r in emulator.get_values(KEY, "Invoices")] == ["Invoice", "INV-002", "INV-003"]
    ws.resize(rows=2)
    assert emulator.grid_size(KEY, "Invoices") == (2, 26)
    assert emulator.get_values(KEY, "Invoices")[1][0] == "INV-002" and len(emulator.get_values(KEY, "Invoices")) == 2


def test_append_rows_goes_after_the_table(emulator, ws):
    """values:append writes after the last contiguous data row and grows the grid when needed."""
    emulator.set_grid(KEY, "Invoices", rows=4)
    resp = ws.append_rows([["INV-004", "Delta", "", 5]])
    assert resp["tableRange"] == "Invoices!A1:E4"
    assert resp["updates"]["updatedRange"] == "Invoices!A5:D5"
    assert emulator.grid_size(KEY, "Invoices")[0] == 5
    assert emulator.get_values(KEY, "Invoices")[4] == ["INV-004", "Delta", "", 5]


def test_gspread_insert_rows_is_insert_dimension_then_append(emulator, ws):
    """Worksheet.insert_rows = batchUpdate insertDimension + values:append at the new row; data moves down."""
    emulator.clear_log()
    ws.insert_rows([["INV-000", "Zeta"]], row=2)
    assert [r.kind for r in emulator.requests] == ["spreadsheets.batchUpdate", "values.append"]
    assert [r[0] for r in emulator.get_values(KEY, "Invoices")][:3] == ["Invoice", "INV-000", "INV-001"]
    assert emulator.grid_size(KEY, "Invoices") == (1001, 26)


def test_spreadsheet_batch_update_is_atomic(emulator, ws):
    """If one request of a spreadsheets:batchUpdate fails, none of them is applied."""
    with pytest.raises(APIError) as err:
        ws.spreadsheet.batch_update(
            {
                "requests": [
                    {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 10}},
                    {
                        "deleteDimension": {
                            "range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0, "endIndex": 5000}
                        }
                    },
                ]
            }
        )
    assert err.value.code == 400
    assert emulator.grid_size(KEY, "Invoices") == (1000, 26)


# ---- test controls -----------------------------------------------------------------------------


def test_insert_rows_control_moves_data(emulator, ws):
    """emulator.insert_rows(key, sheet, index, rows) inserts at 1-based row index and pushes data down."""
    emulator.insert_rows(KEY, "Invoices", 2, [["INV-NEW", "Newco", DUE_2, 1, False]])
    col_a = ws.col_values(1)
    assert col_a == ["Invoice", "INV-NEW", "INV-001", "INV-002", "INV-003"]
    assert emulator.grid_size(KEY, "Invoices") == (1001, 26)


def test_on_request_hook_can_change_data_between_read_and_write(emulator, ws):
    """on_request runs before a request is served, so a row inserted there shifts what a stale write hits."""
    rows = ws.get_values()
    target_row = next(i for i, r in enumerate(rows, start=1) if r[0] == "INV-002")

    def sneak_in(info):
        if info.is_write:
            remove()
            emulator.insert_rows(KEY, "Invoices", 2, [["INV-SNEAK", "Intruder"]])

    remove = emulator.on_request(sneak_in)
    ws.update([[True]], f"E{target_row}")
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
        ws.get_values()
    assert err.value.code == 429
    assert err.value.error["status"] == "RESOURCE_EXHAUSTED"
    assert err.value.error["message"].startswith("Quota exceeded for quota metric 'Read requests'")
    assert ws.get_values()[1][0] == "INV-001"
    assert [r.status for r in emulator.requests[-2:]] == [429, 200]


def test_fail_next_can_target_writes_only(emulator, ws):
    """fail_next(kind=WRITE_KINDS) lets reads through and fails the next write, with nothing written."""
    emulator.fail_next(1, 503, kind=WRITE_KINDS)
    assert ws.get("A2").first() == "INV-001"
    with pytest.raises(APIError) as err:
        ws.update([["x"]], "F1")
    assert (err.value.code, err.value.error["status"]) == (503, "UNAVAILABLE")
    assert emulator.get_values(KEY, "Invoices")[0] == INVOICES[0]


def test_fail_always_and_502_html(emulator, ws):
    """fail_always(500) fails every request until cleared; a 502 is an HTML page, so APIError.code is -1."""
    emulator.fail_always(500)
    for _ in range(3):
        with pytest.raises(APIError) as err:
            ws.get_values()
        assert (err.value.code, err.value.error["status"]) == (500, "INTERNAL")
    emulator.fail_always(None)
    emulator.fail_next(1, 502)
    with pytest.raises(APIError) as err:
        ws.get_values()
    assert err.value.code == -1 and err.value.response.status_code == 502
    assert ws.get_values()


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


def test_unimplemented_request_is_recorded(emulator, ws):
    """A batchUpdate request kind the emulator lacks is a 400 and an entry in internal_errors (check() raises)."""
    with pytest.raises(APIError):
        ws.spreadsheet.batch_update({"requests": [{"addChart": {}}]})
    with pytest.raises(EmulatorError, match="addChart"):
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


def test_pt_br_locale_formats_and_parses(emulator, gc):
    """A pt_BR spreadsheet formats 1234.5 as '1.234,50' and parses '20/11/2026' and '1.234,50' when USER_ENTERED."""
    emulator.add_spreadsheet(
        "BR", "Cobranca", {"Faturas": [["Valor"], [Formatted(1234.5, "#,##0.00")]]}, locale="pt_BR"
    )
    ws = gc.open_by_key("BR").sheet1
    assert ws.get("A2").first() == "1.234,50"
    ws.update([["20/11/2026", "1.234,50", "1.5"]], "B2", raw=False)
    assert ws.get("B2:D2", value_render_option=ValueRenderOption.unformatted) == [[SERIAL_1, 1234.5, "1.5"]]
