"""Many clients in one command: `receivables run/check/report` over a folder, several workbooks or a clients file."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AS_OF_TEXT, ROOT, invoke
from tests.reminder_kit import (
    MANUAL,
    clear_environment,
    invoice,
    journal_events,
    make_book,
    server_env,
    sheet_rows,
    write_manual,
)
from tests.smtp_server import SmtpTestServer, free_port, smtp_server
from toolkit.batch.clients import Client, collect_clients, read_clients_file
from toolkit.batch.pace import SharedPace
from toolkit.batch.tasks import FAILED, ClientResult
from toolkit.batch.workers import run_each
from toolkit.errors import BatchError


@pytest.fixture(autouse=True)
def _no_machine_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)


def smtp_table(port: int, host: str = "127.0.0.1") -> str:
    """The [smtp] table of a client's manual (the password, when needed, comes from the environment)."""
    return f'[smtp]\nhost = "{host}"\nport = {port}\nsecurity = "none"\n'


def client_folder(root: Path, name: str, customers: int = 2, manual_extra: str = "") -> Path:
    """A client's folder: its workbook (every customer one day late: the first reminder is due) and its manual."""
    folder = root / name
    folder.mkdir(parents=True)
    write_manual(folder, manual_extra)
    rows = [invoice(f"{name.upper()}-{n}", f"{name.title()} Customer {n}", 1) for n in range(1, customers + 1)]
    make_book(folder, rows)
    return folder


def recipients(server: SmtpTestServer) -> list[str]:
    return [m.rcpt_tos[0] for m in server.messages]


def test_a_folder_runs_every_client_with_its_own_manual_journal_and_outbox(tmp_path: Path) -> None:
    """run FOLDER previews each client's reminders into its own outbox and writes each workbook, one table for all."""
    clients = tmp_path / "clients"
    for name in ("alpha", "beta", "gamma"):
        client_folder(clients, name)
    result = invoke("run", clients, "--as-of", AS_OF_TEXT, "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "3 clients: 3 done." in result.output
    for name in ("alpha", "beta", "gamma"):
        assert f" {name} " in result.output
        emls = list((clients / name / "outbox").rglob("*.eml"))
        assert len(emls) == 2 and all(name.title() in e.read_text(encoding="utf-8") for e in emls)
        assert sheet_rows(clients / name / "receivables.xlsx")[f"{name.upper()}-1"]["Status"] == "Overdue"
        assert journal_events(clients / name) == []  # a preview records nothing as sent
    assert "2 prepared" in result.output and "--send" in result.output


def test_one_locked_one_invalid_one_refused_and_the_others_sent(tmp_path: Path) -> None:
    """A locked workbook, an invalid manual and a refusing SMTP server each fail their client only; the rest are sent."""
    clients = tmp_path / "clients"
    with smtp_server("none") as server:
        good = smtp_table(server.port)
        for name in ("alpha", "beta", "delta"):
            client_folder(clients, name, manual_extra=good)
        locked = client_folder(clients, "locked", manual_extra=good)
        (locked / "~$receivables.xlsx").write_bytes(bytes([4]) + b"Rita" + b"\x00" * 40)
        invalid = client_folder(clients, "invalid", manual_extra=good)
        (invalid / "billing-manual.toml").write_text(MANUAL + "\n[reminders\n", encoding="utf-8")
        client_folder(clients, "refused", manual_extra=smtp_table(free_port()))
        result = invoke("run", clients, "--as-of", AS_OF_TEXT, "--send", "--jobs", "2")

        assert result.exit_code == 1, result.output
        assert "6 clients: 3 done, 3 failed." in result.output
        assert "locked: " in result.output and "open by Rita in Excel" in result.output
        assert "invalid: " in result.output and "not valid TOML" in result.output
        assert "refused: " in result.output and "Nothing was sent" in result.output
        assert sorted(recipients(server)) == sorted(
            f"ap@{name}customer{n}.example" for name in ("alpha", "beta", "delta") for n in (1, 2)
        )
    assert result.output.count("2 sent") == 3
    for name in ("alpha", "beta", "delta"):
        events = journal_events(clients / name)
        customers = {e["customer"] for e in events if "customer" in e}
        assert customers == {f"{name.title()} Customer 1", f"{name.title()} Customer 2"}  # never another's
        assert sheet_rows(clients / name / "receivables.xlsx")[f"{name.upper()}-1"]["Reminder Stage"] == "first"
    for name in ("locked", "invalid", "refused"):
        assert journal_events(clients / name) == [] or all(
            e.get("event") != "sent" for e in journal_events(clients / name)
        )


def test_two_workbooks_sharing_a_journal_are_refused_not_mixed(tmp_path: Path) -> None:
    """Two clients whose send journal would be the same file are not run; each is told why and what to do."""
    shared = tmp_path / "shared"
    shared.mkdir()
    make_book(shared, [invoice("A-1", "Ann", 1)], name="ann.xlsx")
    make_book(shared, [invoice("B-1", "Bob", 1)], name="bob.xlsx")
    client_folder(tmp_path, "own")
    result = invoke("run", shared / "ann.xlsx", shared / "bob.xlsx", tmp_path / "own", "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1
    assert "would also be" in result.output and "a folder of its own" in result.output
    assert "3 clients: 1 done, 2 failed." in result.output
    assert not (shared / "outbox").exists()
    assert "Status" not in sheet_rows(shared / "ann.xlsx")["A-1"]


def test_a_clients_file_names_each_workbook_its_manual_and_its_name(tmp_path: Path) -> None:
    """--clients FILE (CSV: workbook, manual, name) reads paths from the file's folder and shows the names."""
    alpha = client_folder(tmp_path, "alpha")
    beta = client_folder(tmp_path, "beta")
    (tmp_path / "manuals").mkdir()
    eur = (alpha / "billing-manual.toml").read_text(encoding="utf-8").replace('"USD"', '"EUR"')
    (tmp_path / "manuals" / "euro.toml").write_text(eur, encoding="utf-8")
    listing = tmp_path / "clients.csv"
    listing.write_text(
        "workbook,manual,name\n# the firm's clients\nalpha/receivables.xlsx,manuals/euro.toml,Alpha GmbH\n"
        "beta/receivables.xlsx,,\n",
        encoding="utf-8",
    )
    result = invoke("check", "--clients", listing, "--as-of", AS_OF_TEXT, "--json")
    assert result.exit_code == 0, result.output
    found = {c["client"]: c for c in json.loads(result.output)["clients"]}
    assert set(found) == {"Alpha GmbH", "beta/receivables.xlsx"}
    assert found["Alpha GmbH"]["currency"] == "EUR" and found["beta/receivables.xlsx"]["currency"] == "USD"
    assert found["Alpha GmbH"]["invoices"] == 2 and found["Alpha GmbH"]["result"]["findings"] == []
    assert Path(found["beta/receivables.xlsx"]["workbook"]) == beta / "receivables.xlsx"


def test_a_clients_file_without_its_columns_line_is_refused_with_its_place(tmp_path: Path) -> None:
    """A clients file whose first line does not name the columns gives a one-line error naming the file and line."""
    listing = tmp_path / "clients.csv"
    listing.write_text("alpha.xlsx,manual.toml\n", encoding="utf-8")
    with pytest.raises(BatchError, match=r"clients.csv:1: the first line must name the columns"):
        read_clients_file(listing)
    result = invoke("run", "--clients", listing)
    assert result.exit_code == 1 and "clients.csv:1:" in result.output and "Traceback" not in result.output


def test_a_folder_skips_backups_and_lock_files(tmp_path: Path) -> None:
    """The workbooks of a folder are its own and those one folder down, not backups nor Excel's lock files."""
    alpha = client_folder(tmp_path, "alpha")
    (alpha / "receivables-backups").mkdir()
    (alpha / "receivables-backups" / "receivables-1.xlsx").write_bytes(b"old")
    (alpha / "~$receivables.xlsx").write_bytes(b"lock")
    make_book(tmp_path, [invoice("T-1", "Top", 1)], name="top.xlsx")
    clients = collect_clients([str(tmp_path)], None)
    assert [c.name for c in clients] == ["alpha", "top.xlsx"]


def test_report_html_over_many_clients_writes_a_portfolio_linking_each_page(tmp_path: Path) -> None:
    """report --html over a folder writes one row per client and each client's own page, linked from its row."""
    clients = tmp_path / "clients"
    client_folder(clients, "alpha")
    client_folder(clients, "beta", customers=3)
    broken = clients / "broken"
    broken.mkdir()
    (broken / "receivables.xlsx").write_bytes(b"not a workbook")
    page = tmp_path / "portfolio.html"
    result = invoke("report", clients, "--as-of", AS_OF_TEXT, "--html", page)
    assert result.exit_code == 1, result.output
    html = page.read_text(encoding="utf-8")
    for name, count in (("alpha", 2), ("beta", 3)):
        link = f"portfolio/{'001' if name == 'alpha' else '002'}-{name}.html"
        assert f'<a href="{link}">{name}</a></td><td>{count}</td>' in html
        assert (tmp_path / link).read_text(encoding="utf-8").count(f"{name.title()} Customer") >= count
    assert '<tr class="failed"><td>broken</td>' in html
    assert "3 clients: 2 done, 1 failed." in html


def test_a_worker_that_dies_fails_its_client_only() -> None:
    """A worker process killed mid-client is reported as that client's failure; the others finish."""
    clients = [Client(name, name) for name in ("one", "dies", "three")]
    results = run_each(clients, _die_on_dies, _failed, jobs=2)
    assert [r.outcome for r in results] == ["done", FAILED, "done"]
    assert "stopped by signal 9" in results[1].detail


def _die_on_dies(client: Client) -> ClientResult:
    if client.name == "dies":
        os.kill(os.getpid(), signal.SIGKILL)
    return ClientResult(client.name, client.target, "done")


def _failed(client: Client, reason: str) -> ClientResult:
    return ClientResult(client.name, client.target, FAILED, reason)


def test_the_rate_limit_is_shared_across_worker_processes() -> None:
    """Workers sending to one server through a SharedPace start their sends at least an interval apart."""
    import multiprocessing

    with multiprocessing.Manager() as manager:
        pace = SharedPace(manager)
        results = run_each([0, 1, 2], _PaceThrice(pace), lambda _, reason: reason, jobs=3)
    starts = sorted(t for times in results for t in times)
    assert len(starts) == 9
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= 0.1 - 0.01, gaps


class _PaceThrice:
    def __init__(self, pace: SharedPace) -> None:
        self.pace = pace

    def __call__(self, _: Any) -> list[float]:
        times = []
        for _ in range(3):
            self.pace("127.0.0.1:25", 0.1)
            times.append(time.time())
        return times


@pytest.mark.skipif(sys.platform == "win32", reason="uses POSIX signals")
def test_a_batch_killed_mid_send_and_run_again_sends_no_client_anything_twice(tmp_path: Path) -> None:
    """kill -9 of the whole batch while sending; the rerun sends the rest, and no customer gets a message twice."""
    clients = tmp_path / "clients"
    with smtp_server("none") as server:
        for name in ("alpha", "beta", "gamma", "delta"):
            client_folder(clients, name, customers=3, manual_extra=smtp_table(server.port))
        command = [sys.executable, "-m", "toolkit.cli", "run", str(clients), "--as-of", AS_OF_TEXT, "--send"]
        batch = _kill_at(server, [*command, "--jobs", "2"], k=5)
        assert batch.returncode == -signal.SIGKILL
        first = len(server.messages)
        assert 5 <= first < 12

        rerun = subprocess.run(command, env=server_env(server), cwd=ROOT, capture_output=True, text=True, timeout=120)
        delivered = recipients(server)
        assert len(delivered) == len(set(delivered)), delivered  # nobody twice
        unconfirmed = [e for name in ("alpha", "beta", "gamma", "delta") for e in _unsettled(clients / name)]
        everyone = {f"ap@{name}customer{n}.example" for name in ("alpha", "beta", "gamma", "delta") for n in (1, 2, 3)}
        # Each customer got the message, or it is the one whose fate the killed run never heard (held, not resent).
        assert set(delivered) | set(unconfirmed) == everyone, rerun.stdout
        assert len(unconfirmed) <= 2 and ("unconfirmed" in rerun.stdout or not unconfirmed)
        again = subprocess.run(command, env=server_env(server), cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stdout + again.stderr
        assert recipients(server) == delivered  # a third run sends nothing


def _unsettled(folder: Path) -> list[str]:
    """The recipients of attempts the journal opened ("sending") and never closed: fate unknown."""
    events = journal_events(folder)
    closed = {e["id"] for e in events if e.get("event") != "sending"}
    return [e["to"] for e in events if e.get("event") == "sending" and e["id"] not in closed]


def _kill_at(server: SmtpTestServer, command: list[str], k: int) -> subprocess.Popen[bytes]:
    """Start the batch in a session of its own and kill all its processes while the k-th message is accepted."""
    victim: list[subprocess.Popen[bytes]] = []
    accept = server.handler.handle_DATA

    async def kill_at_k(srv: Any, session: Any, envelope: Any) -> str:
        reply = await accept(srv, session, envelope)
        if len(server.messages) == k:
            os.killpg(victim[0].pid, signal.SIGKILL)
        return reply

    server.handler.handle_DATA = kill_at_k  # type: ignore[method-assign]
    try:
        victim.append(
            subprocess.Popen(
                command,
                env=server_env(server),
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        victim[0].wait(timeout=120)
    finally:
        server.handler.handle_DATA = accept  # type: ignore[method-assign]
    return victim[0]


def test_options_for_one_workbook_are_refused_over_many(tmp_path: Path) -> None:
    """--output over several workbooks, and no workbook at all, are usage errors that say what to do."""
    first = client_folder(tmp_path, "first") / "receivables.xlsx"
    second = client_folder(tmp_path, "second") / "receivables.xlsx"
    many = invoke("run", first, second, "--output", tmp_path / "out.xlsx")
    assert many.exit_code == 2 and "--output is for one workbook" in many.output
    none = invoke("run")
    assert none.exit_code == 2 and "Missing argument 'WORKBOOK...'" in none.output
    assert not (tmp_path / "out.xlsx").exists()


# -- one client's task, in this process ---------------------------------------------------------


def test_each_task_gives_one_clients_line_as_the_single_command_would(tmp_path: Path) -> None:
    """run_client, check_client and report_client give a client's figures; a failure is that client's outcome."""
    from datetime import date

    from toolkit.batch.tasks import DONE, BatchOptions, check_client, report_client, run_client

    folder = client_folder(tmp_path, "acme", customers=3)
    book = next(folder.glob("*.xlsx"))
    client = Client("acme", str(book))
    options = BatchOptions(date.fromisoformat(AS_OF_TEXT), as_json=True, pages={str(book): tmp_path / "acme.html"})
    ran = run_client(client, options)
    assert (ran.outcome, ran.invoices, ran.reminders, ran.reminders_sent) == (DONE, 3, 3, False)
    assert ran.overdue is not None and ran.overdue > 0 and ran.errors == 0
    checked = check_client(client, options)
    assert checked.outcome == DONE and checked.details is not None and checked.details["invoices"] == 3
    reported = report_client(client, options)
    assert reported.page == tmp_path / "acme.html" and reported.page.is_file()
    assert reported.details is not None and reported.details["invoices"] == 3
    (folder / f"~${book.name}").write_bytes(b"\x05Maria")  # Excel's lock file: the workbook is open
    locked = run_client(client, options)
    assert locked.failed and locked.outcome == FAILED and "open" in locked.detail
    missing = check_client(Client("gone", str(tmp_path / "gone.xlsx")), options)
    assert missing.failed and "gone.xlsx" in missing.detail
