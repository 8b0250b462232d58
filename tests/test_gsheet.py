"""`receivables run gsheet:KEY`: the same pipeline on a shared Google Sheet, through the real gspread client.

Every test talks HTTP to the Sheets API emulator on 127.0.0.1 (tests/sheets_emulator.py). The CLI
tests sign in the way a user does (a service account JSON named by GOOGLE_APPLICATION_CREDENTIALS
or the manual); ``patch_gspread_auth`` only points the client gspread builds at the emulator.
Retries run in fake time: no test sleeps.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gspread
import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, FakeTime, invoke
from tests.conftest import run as run_command
from tests.factory import DEFAULT_HEADERS, make_workbook, sample_rows
from tests.gspread_local import LocalHTTPClient, local_client, patch_gspread_auth
from tests.reminder_kit import sheet_rows
from tests.sheets_emulator import WRITE_KINDS, Formula, RequestInfo, SheetsEmulator, date_to_serial
from toolkit.errors import GoogleSheetError, WriteRefused
from toolkit.manual import load_manual
from toolkit.pipeline import analyse, plan_columns, run_source
from toolkit.sheets import source as gsheet
from toolkit.sheets.api import RetryPolicy
from toolkit.sheets.source import GoogleSheetSource, open_google_sheet, parse_target, place_rows

KEY = "1Rcv2026AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
TITLE = "Receivables 2026"
BOT = "receivables-bot@acme-books.iam.gserviceaccount.com"
SECRET = "SECRET-KEY-MATERIAL-never-shown"
HEADER_ROW = 4
FIRST_DATA_ROW = 5
OUR_COLUMNS = ("Status", "Days Overdue", "Aging", "Problems")

# What each invoice of tests.factory.sample_rows() gets as of AS_OF: status, days overdue, aging.
EXPECTED = {
    "INV-2001": ("Open", 0, "Current"),
    "INV-2002": ("Overdue", 15, "1-30"),
    "INV-2003": ("Overdue", 45, "31-60"),
    "INV-2004": ("Overdue", 75, "61-90"),
    "INV-2005": ("Overdue", 120, "90+"),
    "INV-2006": ("Paid", 0, None),
    "INV-2007": ("Open", 0, "Current"),
    "INV-2008": ("On hold", 0, "On hold"),
    "INV-2009": ("Overdue", 61, "61-90"),
    "INV-2010": ("Paid", 0, None),
    "INV-2011": ("Overdue", 5, "1-30"),
    "INV-2012": ("Open", 0, "Current"),
    "INV-2013": ("Overdue", 1, "1-30"),
    "INV-2014": ("Overdue", 60, "31-60"),
    "INV-2015": ("Overdue", 90, "61-90"),
    "INV-2016": ("Overdue", 91, "90+"),
    "INV-2017": ("Open", 0, "Current"),
    "INV-2018": ("Overdue", 31, "31-60"),
    "INV-2019": ("Paid", 0, None),
    "INV-2020": ("Open", 0, "Current"),
}


# -- building sheets ---------------------------------------------------------------------------


def many_rows(n: int) -> tuple[list[dict[str, Any]], dict[str, tuple[str, int, str | None]]]:
    """``n`` invoices cycling through the sample ones, renumbered, with what each must get."""
    base = sample_rows(AS_OF)
    rows, expected = [], {}
    for i in range(n):
        row = dict(base[i % len(base)])
        number = f"INV-{5000 + i}"
        expected[number] = EXPECTED[row["Invoice"]]
        row["Invoice"] = number
        rows.append(row)
    return rows, expected


def invoice_grid(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The accountant's tab: two title rows, a blank row, the header on row 4, a Balance formula per row."""
    grid: list[list[Any]] = [["Acme Supplies Ltd - Accounts Receivable"], ["Maintained by the accountant"], []]
    grid.append(list(DEFAULT_HEADERS))
    balance = DEFAULT_HEADERS.index("Balance")
    for number, row in enumerate(rows, start=FIRST_DATA_ROW):
        values = [row.get(h) for h in DEFAULT_HEADERS]
        try:
            cached: Any = float(row.get("Amount") or 0) - float(row.get("Paid") or 0)
        except ValueError:
            cached = "#VALUE!"
        values[balance] = Formula(f"=F{number}-G{number}", cached)
        grid.append(values)
    return grid


def add_sheet(emu: SheetsEmulator, rows: list[dict[str, Any]], **kwargs: Any) -> None:
    """The spreadsheet KEY with an Invoices tab and a Customers tab."""
    customers = [["Customer", "Credit Limit"], ["Contoso Retail", 10_000_000]]
    emu.add_spreadsheet(KEY, TITLE, {"Invoices": invoice_grid(rows), "Customers": customers}, **kwargs)


def sheet_table(emu: SheetsEmulator, tab: str = "Invoices") -> dict[str, dict[str, Any]]:
    """Invoice number -> {header: value} as the API holds it (typed values, dates as serials)."""
    values = emu.get_values(KEY, tab)
    header = values[HEADER_ROW - 1]
    out = {}
    for row in values[HEADER_ROW:]:
        if row and row[0]:
            out[str(row[0])] = {h: (row[i] if i < len(row) else "") for i, h in enumerate(header)}
    return out


def computed(record: dict[str, Any]) -> tuple[Any, Any, Any]:
    return record["Status"], record["Days Overdue"], record["Aging"] or None


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    """Every run retries in fake time, with the longest waits full jitter can pick."""
    fake = FakeTime()
    monkeypatch.setattr(gsheet, "DEFAULT_RETRY", RetryPolicy(sleep=fake.sleep, clock=fake.clock, jitter=lambda: 1.0))
    return fake


@pytest.fixture
def emulator() -> Iterator[SheetsEmulator]:
    with SheetsEmulator() as emu:
        yield emu


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean user: empty home and state folders, no credentials in the environment, in an empty folder."""
    user = tmp_path / "home"
    user.mkdir()
    monkeypatch.setenv("HOME", str(user))
    monkeypatch.setenv("XDG_STATE_HOME", str(user / ".local" / "state"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return user


def service_account_json(
    path: Path, private_key: str | None = None, token_uri: str = "https://oauth2.googleapis.com/token"
) -> Path:
    key = private_key or f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"
    info = {
        "type": "service_account",
        "project_id": "acme-books",
        "private_key_id": "0123456789abcdef",
        "private_key": key,
        "client_email": BOT,
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(info), encoding="utf-8")
    return path


@pytest.fixture
def google(
    emulator: SheetsEmulator, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, tuple, dict]]:
    """A service account key named by GOOGLE_APPLICATION_CREDENTIALS; gspread's client talks to the emulator."""
    key_file = service_account_json(tmp_path / "acme-books-sa.json")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    return patch_gspread_auth(monkeypatch, emulator.base_url)


def run(target: str, *extra: str) -> str:
    """The output of a run that must succeed, with rich's line wrapping undone."""
    return " ".join(run_command(target, *extra).split())


def fails(*args: str) -> str:
    """The one-line message of a command that must fail."""
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    message = result.output.strip()
    assert "\n" not in message and message.startswith("Error: "), message
    assert SECRET not in result.output and "Traceback" not in result.output
    return message[len("Error: ") :]


def source_for(emu: SheetsEmulator, target: str = f"gsheet:{KEY}") -> GoogleSheetSource:
    return open_google_sheet(target, load_manual(), client=local_client(emu.base_url))


# -- a full run ----------------------------------------------------------------------------------


def test_full_run_on_a_few_hundred_rows(emulator: SheetsEmulator, google: list) -> None:
    """300 invoices: each gets its status, days and aging in new columns at the right of the header."""
    rows, expected = many_rows(300)
    add_sheet(emulator, rows)
    out = run(f"gsheet:{KEY}")
    assert f"{TITLE} (gsheet:{KEY}): 300 invoices on sheet 'Invoices'" in out
    assert "added columns Status, Days Overdue, Aging, Problems" in out
    header = emulator.get_values(KEY, "Invoices")[HEADER_ROW - 1]
    assert header == [*DEFAULT_HEADERS, *OUR_COLUMNS]
    table = sheet_table(emulator)
    assert len(table) == 300
    for number, want in expected.items():
        assert computed(table[number]) == want, number
        assert table[number]["Problems"] == ""
    assert google[0][0] == "service_account"
    assert google[0][2]["scopes"] == ["https://www.googleapis.com/auth/spreadsheets"]


def test_second_run_reads_and_writes_nothing(emulator: SheetsEmulator, google: list) -> None:
    """When the sheet already holds the right values the run makes two reads and no write."""
    rows, _ = many_rows(40)
    add_sheet(emulator, rows)
    run(f"gsheet:{KEY}")
    emulator.clear_log()
    out = run(f"gsheet:{KEY}")
    assert "is already up to date; nothing was written" in out
    assert [r.kind for r in emulator.requests] == ["spreadsheets.get", "values.batchGet"]


def test_only_changed_cells_are_written(emulator: SheetsEmulator, google: list) -> None:
    """A later run writes only the cells whose value changed; the others are sent as null (left alone)."""
    rows, _ = many_rows(20)
    add_sheet(emulator, rows)
    run(f"gsheet:{KEY}")
    emulator.clear_log()
    emulator.set_cell(KEY, "Invoices", f"E{FIRST_DATA_ROW + 1}", AS_OF - timedelta(days=20))  # INV-5001 was due later
    emulator.set_cell(KEY, "Invoices", f"E{FIRST_DATA_ROW + 2}", AS_OF - timedelta(days=25))  # INV-5002 too
    run(f"gsheet:{KEY}")
    (write,) = [r for r in emulator.requests if r.kind == "values.batchUpdate"]
    written = [(d["range"], [v for (v,) in d["values"]]) for d in write.body["data"]]
    assert written == [("'Invoices'!P6:P7", [20, 25]), ("'Invoices'!Q7:Q7", ["1-30"])]
    assert computed(sheet_table(emulator)["INV-5001"]) == ("Overdue", 20, "1-30")


def clear_invoice(emu: SheetsEmulator, row: int) -> None:
    """The accountant empties an invoice's cells (A..N), leaving our columns as they were."""
    for letter in "ABCDEFGHIJKLMN":
        emu.set_cell(KEY, "Invoices", f"{letter}{row}", None)


def test_an_emptied_invoice_row_loses_its_status(emulator: SheetsEmulator, google: list) -> None:
    """An invoice row the accountant emptied gets our cells cleared too, so no stale status lingers."""
    add_sheet(emulator, many_rows(6)[0])
    run(f"gsheet:{KEY}")
    clear_invoice(emulator, FIRST_DATA_ROW + 2)
    run(f"gsheet:{KEY}")
    assert emulator.get_values(KEY, "Invoices")[FIRST_DATA_ROW + 1] == []
    assert computed(sheet_table(emulator)["INV-5003"]) == EXPECTED["INV-2004"]


def test_an_emptied_row_is_left_for_later_when_rows_move(emulator: SheetsEmulator, google: list) -> None:
    """If rows move mid-run, an emptied row cannot be placed: it is skipped, the invoices are still written."""
    add_sheet(emulator, many_rows(6)[0])
    run(f"gsheet:{KEY}")
    clear_invoice(emulator, FIRST_DATA_ROW + 2)
    emulator.set_cell(KEY, "Invoices", f"E{FIRST_DATA_ROW}", AS_OF - timedelta(days=3))  # INV-5000 now overdue
    insert_before_check(emulator, lambda: emulator.insert_rows(KEY, "Invoices", FIRST_DATA_ROW, [["INV-NEW", "Newco"]]))
    run(f"gsheet:{KEY}")
    table = sheet_table(emulator)
    assert computed(table["INV-5000"]) == ("Overdue", 3, "1-30")
    assert emulator.get_values(KEY, "Invoices")[FIRST_DATA_ROW + 2][14] == "Overdue"  # the emptied row, moved down


def test_the_url_of_a_tab_selects_it(emulator: SheetsEmulator, google: list) -> None:
    """An address ending in #gid=N reads that tab, even when another tab comes first."""
    rows, _ = many_rows(5)
    emulator.add_spreadsheet(
        KEY, TITLE, {"Notes": [["Invoice", "Customer", "Due Date", "Amount"]], "AR": invoice_grid(rows)}
    )
    gid = next(
        s["properties"]["sheetId"]
        for s in local_client(emulator.base_url).http_client.fetch_sheet_metadata(KEY)["sheets"]
        if s["properties"]["title"] == "AR"
    )
    out = run(f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid={gid}")
    assert "5 invoices on sheet 'AR'" in out
    assert computed(sheet_table(emulator, "AR")["INV-5001"]) == EXPECTED["INV-2002"]


def test_manual_in_the_current_folder_names_the_worksheet(emulator: SheetsEmulator, google: list, home: Path) -> None:
    """billing-manual.toml in the current folder is read for a Google Sheet; [google] worksheet picks the tab."""
    rows, _ = many_rows(3)
    emulator.add_spreadsheet(KEY, TITLE, {"Old": invoice_grid(rows[:1]), "Current": invoice_grid(rows)})
    Path("billing-manual.toml").write_text('[google]\nworksheet = "current"\n', encoding="utf-8")
    assert "3 invoices on sheet 'Current'" in run(f"gsheet:{KEY}")
    Path("billing-manual.toml").write_text('[google]\nworksheet = "Archive"\n', encoding="utf-8")
    message = fails("check", f"gsheet:{KEY}")
    assert message.startswith(f"{TITLE} (gsheet:{KEY}): no tab named 'Archive'")
    assert "fix [google] worksheet in billing-manual.toml" in message


def test_check_reads_only(emulator: SheetsEmulator, google: list) -> None:
    """`receivables check gsheet:KEY` lists the problems with Invoices!E17-style cells and writes nothing."""
    rows, _ = many_rows(10)
    rows[3]["Due Date"] = "31/02/2026"
    add_sheet(emulator, rows)
    result = invoke("check", f"gsheet:{KEY}", "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1
    assert "Invoices!E8: due date '31/02/2026' is not a real date" in result.output
    assert emulator.count(WRITE_KINDS) == 0


def test_missing_columns_are_explained(emulator: SheetsEmulator, google: list) -> None:
    """A spreadsheet without the required columns gets the same message as a workbook, naming the sheet."""
    emulator.add_spreadsheet(KEY, TITLE, {"Sheet1": [["Invoice", "Client", "Total"], ["A-1", "Acme", 10]]})
    message = fails("run", f"gsheet:{KEY}")
    assert message.startswith(f"{TITLE} (gsheet:{KEY}): no sheet has the columns the billing manual asks for")
    assert "missing: due_date" in message


# -- a constant number of requests ---------------------------------------------------------------


@pytest.mark.parametrize("narrow", [False, True], ids=["wide-grid", "narrow-grid"])
def test_requests_per_run_do_not_grow_with_rows(emulator: SheetsEmulator, google: list, narrow: bool) -> None:
    """10 or 500 invoices: the same requests, one read and one write (plus one to widen a narrow grid)."""
    kinds = []
    for n in (10, 500):
        rows, _ = many_rows(n)
        grid = {"Invoices": (n + 10, len(DEFAULT_HEADERS))} if narrow else None
        add_sheet(emulator, rows, grid=grid)
        emulator.clear_log()
        run(f"gsheet:{KEY}")
        kinds.append([r.kind for r in emulator.requests])
        assert computed(sheet_table(emulator)[f"INV-{5000 + n - 1}"]) != ("", "", None)
    widen = ["spreadsheets.batchUpdate"] if narrow else []
    assert (
        kinds[0] == kinds[1] == ["spreadsheets.get", "values.batchGet", *widen, "values.batchGet", "values.batchUpdate"]
    )
    if narrow:
        assert emulator.grid_size(KEY, "Invoices")[1] == len(DEFAULT_HEADERS) + len(OUR_COLUMNS)


def test_the_read_is_unformatted_with_serial_dates(emulator: SheetsEmulator, google: list) -> None:
    """The one read asks for UNFORMATTED_VALUE and SERIAL_NUMBER for the invoice and customers tabs at once."""
    rows, _ = many_rows(3)
    add_sheet(emulator, rows)
    run(f"gsheet:{KEY}")
    read = next(r for r in emulator.requests if r.kind == "values.batchGet")
    assert read.query["ranges"] == ["'Invoices'", "'Customers'"]
    assert read.query["valueRenderOption"] == ["UNFORMATTED_VALUE"]
    assert read.query["dateTimeRenderOption"] == ["SERIAL_NUMBER"]


# -- values in and out ---------------------------------------------------------------------------


def test_dates_arrive_as_dates(emulator: SheetsEmulator) -> None:
    """Date cells come back as serials and reach validation as dates, with no 'format as a date' warning."""
    rows, _ = many_rows(4)
    rows[1]["Due Date"] = 17  # a small number in a date column is still not a date
    add_sheet(emulator, rows)
    source = source_for(emulator)
    data = source.read(load_manual())
    first = data.rows[0].values
    assert first["due_date"] == datetime.combine(rows[0]["Due Date"], datetime.min.time())
    assert isinstance(first["issue_date"], datetime)
    assert first["amount"] == 1200 and first["invoice"] == "INV-5000"
    analysis = analyse(data, load_manual(), AS_OF)
    assert not [f for f in analysis.findings if f.code == "date-as-number"]
    (bad,) = [f for f in analysis.findings if f.code == "bad-date"]
    assert (bad.location, bad.message) == ("Invoices!E6", "due date 17 is not a date")
    assert analysis.invoices[0].due_date == rows[0]["Due Date"]


def test_values_are_written_typed_and_text_stays_text(emulator: SheetsEmulator) -> None:
    """RAW write: numbers stay numbers, dates become date serials shown as dates, '=...' and '007' stay text."""
    rows, _ = many_rows(3)
    add_sheet(emulator, rows)
    manual = load_manual()
    source = source_for(emulator)
    data = source.read(manual)
    columns = plan_columns(data.layout, manual, ("status", "problems", "last_reminder"))
    values = {
        5: {"status": '=IMPORTXML("http://evil.test", "//a")', "problems": "007", "last_reminder": date(2026, 11, 18)},
        6: {"status": 12.5, "problems": "=1+1", "last_reminder": datetime(2026, 11, 19, 12, 0)},
    }
    emulator.clear_log()
    report = source.write(data, columns, values)
    assert report.changed and report.added_columns == ["Status", "Problems", "Last Reminder"]
    assert [r.kind for r in emulator.requests] == ["spreadsheets.batchUpdate", "values.batchGet", "values.batchUpdate"]
    assert emulator.requests[-1].query == {} and emulator.requests[-1].body["valueInputOption"] == "RAW"
    assert emulator.formulas(KEY, "Invoices") == {f"H{n}": f"=F{n}-G{n}" for n in (5, 6, 7)}  # no new formula
    table = sheet_table(emulator)
    assert table["INV-5000"]["Status"].startswith("=IMPORTXML(") and table["INV-5000"]["Problems"] == "007"
    assert table["INV-5001"]["Status"] == 12.5 and table["INV-5001"]["Problems"] == "=1+1"
    assert table["INV-5000"]["Last Reminder"] == date_to_serial(date(2026, 11, 18))
    assert table["INV-5001"]["Last Reminder"] == date_to_serial(datetime(2026, 11, 19, 12, 0))
    written = emulator.get_cell(KEY, "Invoices", f"Q{FIRST_DATA_ROW}")
    assert written is not None and written.is_date  # formatted as a date by the one batchUpdate


def test_days_overdue_are_numbers(emulator: SheetsEmulator, google: list) -> None:
    """Days Overdue is written as a number cell, not text; an Invalid row's days are left empty."""
    rows, _ = many_rows(3)
    rows[2]["Amount"] = "lots"
    add_sheet(emulator, rows)
    run(f"gsheet:{KEY}")
    cell = emulator.get_cell(KEY, "Invoices", f"P{FIRST_DATA_ROW + 1}")
    assert cell is not None and cell.value == 15 and isinstance(cell.value, int)
    invalid = sheet_table(emulator)["INV-5002"]
    assert invalid["Status"] == "Invalid" and invalid["Days Overdue"] == ""
    assert invalid["Problems"].startswith("F7: amount 'lots' is not a number")


# -- quotas and faults ---------------------------------------------------------------------------


def test_429_then_success(emulator: SheetsEmulator, google: list, fake_time: FakeTime) -> None:
    """Two 429 answers are waited out with growing jittered delays, then the run completes."""
    rows, expected = many_rows(20)
    add_sheet(emulator, rows)
    emulator.fail_next(2, 429)
    run(f"gsheet:{KEY}")
    assert fake_time.sleeps == [4.0, 8.0]
    assert [r.status for r in emulator.requests[:3]] == [429, 429, 200]
    assert computed(sheet_table(emulator)["INV-5001"]) == expected["INV-5001"]


def test_429_forever_ends_with_a_clear_message_in_bounded_time(
    emulator: SheetsEmulator, google: list, fake_time: FakeTime
) -> None:
    """A quota that never frees up: 5 attempts, under a minute of waiting, then a one-line message."""
    rows, _ = many_rows(20)
    add_sheet(emulator, rows)
    emulator.fail_always(429)
    message = fails("run", f"gsheet:{KEY}", "--as-of", AS_OF_TEXT)
    assert message == (
        f"gsheet:{KEY}: Google Sheets refused 5 times with 429 (quota: 60 requests a minute per user) "
        "while opening the spreadsheet in 58 s; wait a minute and run again"
    )
    assert len(emulator.requests) == 5
    assert fake_time.sleeps == [4.0, 8.0, 16.0, 30.0] and fake_time.now <= 60


def test_time_budget_stops_retries_early(emulator: SheetsEmulator, fake_time: FakeTime) -> None:
    """Retries stop when the next wait would pass the time budget, even with attempts left."""
    add_sheet(emulator, many_rows(3)[0])
    emulator.fail_always(503)
    policy = RetryPolicy(attempts=10, budget=20, sleep=fake_time.sleep, clock=fake_time.clock, jitter=lambda: 1.0)
    source = open_google_sheet(f"gsheet:{KEY}", load_manual(), client=local_client(emulator.base_url), retry=policy)
    with pytest.raises(GoogleSheetError) as err:
        source.read(load_manual())
    assert fake_time.sleeps == [4.0, 8.0] and len(emulator.requests) == 3
    assert "Google Sheets failed 3 times while opening the spreadsheet in 12 s (503 UNAVAILABLE x3)" in str(err.value)


def test_server_errors_and_html_502_are_retried(emulator: SheetsEmulator, google: list) -> None:
    """500, a 502 HTML page (gspread's code -1) and 503 are transient: retried, and the run completes."""
    rows, _ = many_rows(5)
    add_sheet(emulator, rows)
    emulator.fail_next(1, 500)
    emulator.fail_next(1, 502, kind="values.batchGet")
    emulator.fail_next(1, 503, kind="values.batchUpdate")
    run(f"gsheet:{KEY}")
    assert [r.status for r in emulator.requests if r.status != 200] == [500, 502, 503]
    assert computed(sheet_table(emulator)["INV-5004"]) == EXPECTED["INV-2005"]


def test_a_failed_write_is_retried_with_a_fresh_check(emulator: SheetsEmulator, google: list) -> None:
    """A 429 on the write retries the re-read of invoice numbers together with the write."""
    rows, _ = many_rows(5)
    add_sheet(emulator, rows)
    emulator.fail_next(1, 429, kind="values.batchUpdate")
    run(f"gsheet:{KEY}")
    assert [r.kind for r in emulator.requests][2:] == [
        "values.batchGet",
        "values.batchUpdate",
        "values.batchGet",
        "values.batchUpdate",
    ]


# -- concurrent edits ------------------------------------------------------------------------------


def insert_before_check(emu: SheetsEmulator, action: Callable[[], None]) -> None:
    """Run ``action`` (an edit by the accountant) just before the tool re-reads the invoice numbers."""
    reads = []

    def hook(info: RequestInfo) -> None:
        if info.kind == "values.batchGet":
            reads.append(info)
            if len(reads) == 2:
                remove()
                action()

    remove = emu.on_request(hook)


def test_row_inserted_between_read_and_write_misplaces_nothing(emulator: SheetsEmulator, google: list) -> None:
    """The accountant inserts a row mid-run: every status lands next to its own invoice, the new row is untouched."""
    rows, expected = many_rows(60)
    add_sheet(emulator, rows)
    new_row = ["INV-NEW", "Newco", "ap@newco.test", AS_OF, AS_OF + timedelta(days=30), 99.0]
    insert_before_check(emulator, lambda: emulator.insert_rows(KEY, "Invoices", FIRST_DATA_ROW + 2, [new_row]))
    out = run(f"gsheet:{KEY}")
    assert "Note: 58 invoices had moved to another row while the tool ran" in out
    table = sheet_table(emulator)
    for number, want in expected.items():
        assert computed(table[number]) == want, number
    assert table["INV-NEW"].get("Status", "") == ""
    assert emulator.get_values(KEY, "Invoices")[FIRST_DATA_ROW + 1][:2] == ["INV-NEW", "Newco"]


def test_row_deleted_between_read_and_write(emulator: SheetsEmulator, google: list) -> None:
    """A row deleted mid-run: the others are placed by invoice number and the owner is told which was not written."""
    rows, expected = many_rows(8)
    add_sheet(emulator, rows)
    insert_before_check(emulator, lambda: emulator.delete_rows(KEY, "Invoices", FIRST_DATA_ROW + 1))
    out = run(f"gsheet:{KEY}")
    assert "Note: no longer in the sheet, so not written: INV-5001." in out
    table = sheet_table(emulator)
    assert "INV-5001" not in table
    for number in ("INV-5000", "INV-5002", "INV-5007"):
        assert computed(table[number]) == expected[number]


def test_moved_rows_with_repeated_invoice_numbers_are_refused(emulator: SheetsEmulator, google: list) -> None:
    """Rows moved and an invoice number is on two rows: nothing is written, and the message says why."""
    rows, _ = many_rows(6)
    rows[4]["Invoice"] = "INV-5001"
    add_sheet(emulator, rows)
    insert_before_check(emulator, lambda: emulator.insert_rows(KEY, "Invoices", FIRST_DATA_ROW, [["INV-NEW", "Newco"]]))
    message = fails("run", f"gsheet:{KEY}", "--as-of", AS_OF_TEXT)
    assert message == (
        f"{TITLE} (gsheet:{KEY}): rows were inserted, deleted or moved while the tool ran, and INV-5001 is on "
        "more than one row, so its status cannot be placed with certainty; nothing was written: run again"
    )
    assert emulator.count("values.batchUpdate") == 0
    assert len(emulator.get_values(KEY, "Invoices")[HEADER_ROW - 1]) == len(DEFAULT_HEADERS)


def test_header_changed_between_read_and_write_is_refused(emulator: SheetsEmulator, google: list) -> None:
    """A column typed into the header mid-run (where ours would go): nothing is written."""
    add_sheet(emulator, many_rows(4)[0])
    insert_before_check(emulator, lambda: emulator.set_cell(KEY, "Invoices", f"O{HEADER_ROW}", "Collector"))
    message = fails("run", f"gsheet:{KEY}", "--as-of", AS_OF_TEXT)
    assert "the header row of tab 'Invoices' changed while the tool ran" in message
    assert emulator.count("values.batchUpdate") == 0


def test_a_write_applied_but_unanswered_is_retried_safely(emulator: SheetsEmulator, google: list) -> None:
    """If the write went through but its answer was lost, the retry finds our own headers and writes again."""
    add_sheet(emulator, many_rows(4)[0])

    def applied_then_lost(info: RequestInfo) -> None:
        if info.kind == "values.batchUpdate":
            remove()
            for col, header in zip("OPQR", OUR_COLUMNS, strict=True):
                emulator.set_cell(KEY, "Invoices", f"{col}{HEADER_ROW}", header)
            emulator.fail_next(1, 503)  # this very request: answered 503 after the change

    remove = emulator.on_request(applied_then_lost)
    run(f"gsheet:{KEY}")
    assert emulator.count("values.batchUpdate") == 2
    assert computed(sheet_table(emulator)["INV-5003"]) == EXPECTED["INV-2004"]


def test_place_rows() -> None:
    """Rows go where their invoice number now is; unchanged sheets keep rows; blanks in moved sheets refuse."""
    before = {5: "A", 6: "B", 7: "C"}
    same = place_rows(before, dict(before), [5, 6, 7, 8], "s")
    assert same.rows == {5: 5, 6: 6, 7: 7, 8: 8} and same.moved == 0
    shifted = place_rows(before, {5: "A", 6: "X", 7: "B", 8: "C"}, [5, 6, 7], "s")
    assert shifted.rows == {5: 5, 6: 7, 7: 8} and shifted.moved == 2
    sorted_ = place_rows(before, {5: "C", 6: "A"}, [5, 6, 7], "s")
    assert sorted_.rows == {5: 6, 7: 5} and sorted_.gone == ["B"]
    with pytest.raises(WriteRefused, match="row 9 has no invoice number"):
        place_rows(before, {6: "A", 7: "B", 8: "C"}, [5, 9], "s")


# -- signing in and opening ---------------------------------------------------------------------------


def test_not_shared_names_the_service_account(emulator: SheetsEmulator, google: list) -> None:
    """A sheet not shared with the service account: one line naming the address to share it with."""
    add_sheet(emulator, many_rows(3)[0], shared=False)
    assert fails("run", f"gsheet:{KEY}") == (
        f"gsheet:{KEY}: the sheet is not shared with the service account {BOT}; open it in Google Sheets, "
        f"click Share and add {BOT} as an Editor"
    )


def test_read_only_share_is_explained(emulator: SheetsEmulator, google: list) -> None:
    """Shared as Viewer: the write's 403 says to make the service account an Editor."""
    add_sheet(emulator, many_rows(3)[0])
    emulator.fail_next(1, 403, kind="values.batchUpdate", message="The caller does not have permission")
    message = fails("run", f"gsheet:{KEY}", "--as-of", AS_OF_TEXT)
    assert message.endswith(
        f"is shared read-only with {BOT}; in Google Sheets click Share and make {BOT} an Editor. Nothing was written"
    )


def test_protected_columns_are_explained(emulator: SheetsEmulator, google: list) -> None:
    """A write refused because the cells are protected says where to lift the protection."""
    add_sheet(emulator, many_rows(3)[0])
    emulator.fail_next(1, 403, kind="values.batchUpdate", message="You are trying to edit a protected cell or object.")
    message = fails("run", f"gsheet:{KEY}", "--as-of", AS_OF_TEXT)
    assert "Google refused to change protected cells" in message and f"let {BOT} edit" in message


def test_api_not_enabled_is_explained(emulator: SheetsEmulator, google: list) -> None:
    """Google's 'API has not been used in project' 403 tells the user to enable the Sheets API."""
    add_sheet(emulator, many_rows(3)[0])
    emulator.fail_next(
        1, 403, message="Google Sheets API has not been used in project 123 before or it is disabled. Enable it."
    )
    assert "the Google Sheets API is not enabled" in fails("run", f"gsheet:{KEY}")


def test_wrong_key(emulator: SheetsEmulator, google: list) -> None:
    """An unknown key: one line saying where to copy the key from."""
    add_sheet(emulator, many_rows(3)[0])
    assert fails("run", "gsheet:1NoSuchSheetKey") == (
        "gsheet:1NoSuchSheetKey: no spreadsheet has this key (Google answered 404 Not Found); copy the key from "
        "the sheet's address in the browser: it is the part between /d/ and /edit"
    )


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("gsheet:", "gsheet:: not a spreadsheet key"),
        ("gsheet:my sheet", "gsheet:my sheet: not a spreadsheet key"),
        ("https://docs.google.com/spreadsheets/u/0/", "no spreadsheet key in this address"),
    ],
)
def test_malformed_targets(google: list, target: str, expected: str) -> None:
    """A target that holds no key is refused before any request."""
    assert expected in fails("run", target)


def test_parse_target() -> None:
    """Keys come from gsheet:KEY or from the browser address, with the tab's gid when it has one."""
    assert parse_target(f"gsheet:{KEY}") == gsheet.SheetAddress(KEY)
    url = f"https://docs.google.com/spreadsheets/d/{KEY}/edit?usp=sharing#gid=1044"
    assert parse_target(url) == gsheet.SheetAddress(KEY, 1044)
    assert parse_target(f"https://docs.google.com/spreadsheets/d/{KEY}/edit") == gsheet.SheetAddress(KEY)


def test_missing_credentials(emulator: SheetsEmulator, home: Path) -> None:
    """No credentials anywhere: one line saying where to name the service account key."""
    assert fails("run", f"gsheet:{KEY}") == (
        f"gsheet:{KEY}: no Google credentials: set GOOGLE_APPLICATION_CREDENTIALS, or [google] credentials in "
        "billing-manual.toml ('receivables init' writes one), to the JSON key of a service account the sheet "
        "is shared with; "
        "see docs/google-sheets.md"
    )


def test_credentials_from_the_manual(
    emulator: SheetsEmulator, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """[google] credentials, relative to the manual's folder, wins over the environment variable."""
    calls = patch_gspread_auth(monkeypatch, emulator.base_url)
    add_sheet(emulator, many_rows(3)[0])
    books = tmp_path / "books"
    (books / "keys").mkdir(parents=True)
    service_account_json(books / "keys" / "sa.json")
    (books / "billing-manual.toml").write_text('[google]\ncredentials = "keys/sa.json"\n', encoding="utf-8")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "elsewhere.json"))
    run(f"gsheet:{KEY}", "--manual", str(books / "billing-manual.toml"))
    assert calls[0][2]["filename"] == str(books / "keys" / "sa.json")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "Google credentials file not found (named by the GOOGLE_APPLICATION_CREDENTIALS environment variable)"),
        ("not json {", "not a JSON credentials file"),
        (
            '{"type": "external_account"}',
            "not a service account key nor an OAuth client file (its \"type\" is 'external_account')",
        ),
        (
            '{"type": "service_account", "private_key": "' + SECRET + '"}',
            "this service account key lacks client_email, token_uri",
        ),
    ],
    ids=["missing", "not-json", "other-type", "incomplete"],
)
def test_wrong_credentials_file(
    emulator: SheetsEmulator,
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str | None,
    expected: str,
) -> None:
    """A credentials file that is missing, not JSON, of another kind or incomplete: one line, no secret."""
    path = tmp_path / "creds.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    message = fails("run", f"gsheet:{KEY}")
    assert message.startswith(f"{path}: ") and expected in message


def test_damaged_key_through_real_google_auth(
    emulator: SheetsEmulator, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service account key whose private key is damaged fails in google-auth itself; the message hides the key."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_json(tmp_path / "sa.json")))
    message = fails("run", f"gsheet:{KEY}")
    assert message == (
        f"{tmp_path / 'sa.json'}: this service account key cannot be used (damaged or incomplete); "
        "create a new JSON key (docs/google-sheets.md)"
    )


def test_gspread_default_key_file_is_found(
    emulator: SheetsEmulator, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With nothing configured, gspread's own ~/.config/gspread/service_account.json is used."""
    calls = patch_gspread_auth(monkeypatch, emulator.base_url)
    (home / ".config" / "gspread").mkdir(parents=True)
    key_file = service_account_json(home / ".config" / "gspread" / "service_account.json")
    add_sheet(emulator, many_rows(3)[0])
    run(f"gsheet:{KEY}")
    assert calls[0][2]["filename"] == str(key_file)


def test_oauth_client_uses_gspread_sign_in(
    emulator: SheetsEmulator, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An OAuth client file runs gspread's oauth() flow with the Sheets scope, remembering the sign-in per user."""
    calls = patch_gspread_auth(monkeypatch, emulator.base_url)
    client = tmp_path / "client_secret.json"
    client.write_text(json.dumps({"installed": {"client_id": "x.apps.googleusercontent.com", "client_secret": SECRET}}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(client))
    add_sheet(emulator, many_rows(3)[0])
    run(f"gsheet:{KEY}")
    ((name, _, kwargs),) = calls
    assert name == "oauth" and kwargs["credentials_filename"] == str(client)
    assert kwargs["authorized_user_filename"] == str(home / ".config" / "receivables" / "google-authorized-user.json")


def test_credentials_refused_with_401(
    emulator: SheetsEmulator, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google answering 401 (a token it does not accept) says to create a new key."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(service_account_json(tmp_path / "sa.json")))
    patch_gspread_auth(monkeypatch, emulator.base_url, token=None)
    add_sheet(emulator, many_rows(3)[0])
    assert fails("run", f"gsheet:{KEY}") == (
        f"gsheet:{KEY}: Google did not accept the credentials from {tmp_path / 'sa.json'} (401); "
        "create a new key (docs/google-sheets.md)"
    )


class TokenServer:
    """Google's OAuth token endpoint on 127.0.0.1: grants a token, or refuses the key (invalid_grant)."""

    def __init__(self, grant: bool) -> None:
        self.grant = grant
        self.posts = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server.posts += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if server.grant:
                    status, body = 200, {"access_token": "token-from-jwt", "expires_in": 3600, "token_type": "Bearer"}
                else:
                    status, body = 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def pem() -> str:
    """A real RSA private key, as in a service account's JSON key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.mark.parametrize("grant", [True, False], ids=["valid-key", "revoked-key"])
def test_real_service_account_key_signs_in(
    emulator: SheetsEmulator, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pem: str, grant: bool
) -> None:
    """A real RSA service account key: google-auth signs a JWT for the token endpoint; a revoked key gets one line."""
    from google.oauth2.service_account import Credentials

    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    tokens = TokenServer(grant)
    try:
        key_file = service_account_json(tmp_path / "sa.json", private_key=pem, token_uri=tokens.url)
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))

        def service_account(filename: str, scopes: list[str], **_: Any) -> gspread.Client:
            # gspread.service_account exactly, but the client's Sheets requests go to the emulator
            credentials = Credentials.from_service_account_file(filename, scopes=scopes)
            return gspread.Client(credentials, http_client=LocalHTTPClient.bound_to(emulator.base_url))

        monkeypatch.setattr(gspread, "service_account", service_account)
        add_sheet(emulator, many_rows(3)[0])
        if grant:
            run(f"gsheet:{KEY}")
            assert tokens.posts == 1 and emulator.count("values.batchUpdate") == 1
        else:
            assert fails("run", f"gsheet:{KEY}") == (
                f"{key_file}: Google refused the key of service account {BOT} (invalid_grant): it was deleted or "
                "disabled; create a new JSON key for it (docs/google-sheets.md)"
            )
            assert pem.splitlines()[1] not in invoke("run", f"gsheet:{KEY}").output
            assert len(emulator.requests) == 0
    finally:
        tokens.close()


# -- local state ---------------------------------------------------------------------------------


def test_state_dir_default_and_from_manual(emulator: SheetsEmulator, home: Path, tmp_path: Path) -> None:
    """The reminder journal's folder: per user and per sheet by default, or [google] state_dir from the manual."""
    source = source_for(emulator)
    assert source.state_dir == home / ".local" / "state" / "receivables" / KEY
    manual_file = tmp_path / "books" / "billing-manual.toml"
    manual_file.parent.mkdir()
    manual_file.write_text('[google]\nstate_dir = "journal"\n', encoding="utf-8")
    source = open_google_sheet(f"gsheet:{KEY}", load_manual(manual_file), client=local_client(emulator.base_url))
    assert source.state_dir == tmp_path / "books" / "journal"


def test_output_option_is_for_files_only(google: list) -> None:
    """--output with a Google Sheet is refused in one line naming the sheet: it is updated in place."""
    result = invoke("run", f"gsheet:{KEY}", "--output", "copy.xlsx")
    assert result.exit_code == 1 and f"gsheet:{KEY}: --output is for workbook files" in result.output


def test_run_source_on_the_library_api(emulator: SheetsEmulator) -> None:
    """open_google_sheet(..., client=) plugs into run_source like a workbook source."""
    rows, expected = many_rows(12)
    add_sheet(emulator, rows)
    source = source_for(emulator, f"https://docs.google.com/spreadsheets/d/{KEY}/edit")
    analysis, report = run_source(source, load_manual(), AS_OF)
    assert report is not None and report.changed and report.rows == 12
    assert source.name == f"{TITLE} (gsheet:{KEY})" and analysis.data.locator == f"gsheet:{KEY}"
    assert computed(sheet_table(emulator)["INV-5011"]) == expected["INV-5011"]


def test_the_google_sheets_guide_covers_the_settings_and_messages() -> None:
    """docs/google-sheets.md names every [google] setting, the command, and messages the tool gives."""
    from tests.conftest import ROOT

    guide = (ROOT / "docs" / "google-sheets.md").read_text(encoding="utf-8")
    for setting in load_manual().section("google"):
        assert f"`[google] {setting}`" in guide or f"{setting} = " in guide, setting
    assert "receivables run gsheet:<KEY>" in guide and "GOOGLE_APPLICATION_CREDENTIALS" in guide
    code = (ROOT / "toolkit" / "sheets" / "api.py").read_text(encoding="utf-8")
    for start in (
        "no Google credentials",
        "not a service account key nor an OAuth client file",
        "no spreadsheet has this key",
    ):
        assert start in guide and start in code


# -- many clients --------------------------------------------------------------------------------


def test_a_batch_runs_a_google_sheet_beside_a_workbook(emulator: SheetsEmulator, google: list, home: Path) -> None:
    """--clients FILE naming a Google Sheet and a workbook: both written, one table, each client's own figures."""
    rows, expected = many_rows(40)
    add_sheet(emulator, rows)
    folder = Path.cwd() / "beta"
    folder.mkdir()
    make_workbook(folder / "receivables.xlsx", sample_rows(AS_OF))
    (folder / "billing-manual.toml").write_text("[reminders]\nenabled = false\n", encoding="utf-8")
    listing = Path.cwd() / "clients.csv"
    listing.write_text(
        f"workbook,manual,name\ngsheet:{KEY},beta/billing-manual.toml,Bakery\nbeta/receivables.xlsx,,Beta\n",
        encoding="utf-8",
    )
    result = invoke("run", "--clients", listing, "--as-of", AS_OF_TEXT, "--jobs", "2")
    assert result.exit_code == 0, result.output
    cells = [[c.strip() for c in line.split("│")] for line in result.output.splitlines() if "│" in line]
    lines = {row[0]: row for row in cells}
    assert set(lines) == {"Bakery", "Beta"}, result.output
    assert lines["Bakery"][1] == "40" and lines["Bakery"][-1] == lines["Beta"][-1] == "done", result.output
    table = sheet_table(emulator)
    for number, want in expected.items():
        assert computed(table[number]) == want, number
    written = sheet_rows(folder / "receivables.xlsx")
    assert written and all(row["Status"] for row in written.values())
    assert lines["Beta"][1] == str(len(written))
