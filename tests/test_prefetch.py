"""A large sheet's reading started by the console script, before the toolkit is imported (``toolkit.xlsx.prefetch``).

The process the script forks is taken as the reading process only when it read the very
file the command fingerprinted and the very sheet the command chose; otherwise it is
ended, and the sheet is read as ever. These tests fork it for real (in this process, the
size from which a sheet is read alongside set to 0, which the forked process inherits)
and run the real console script on a sheet large enough for it.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Iterator
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.conftest import AS_OF_TEXT, analysed
from tests.factory import make_workbook
from tests.reminder_kit import invoice
from tests.test_streaming import header_row, invoice_row, write_package
from toolkit.pipeline import Analysis
from toolkit.xlsx import prefetch
from toolkit.xlsx import read as reader
from toolkit.xlsx.read import _SentAhead

pytestmark = pytest.mark.filterwarnings("ignore:Workbook contains no default style")


@pytest.fixture
def alongside(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every sheet read alongside; what each ``claim`` answered; no prefetching process left afterwards."""
    monkeypatch.setattr(reader, "READ_ALONGSIDE_BYTES", 0)
    answers: list[Any] = []
    claim = prefetch.claim

    def recorded(*args: Any) -> Any:
        answer = claim(*args)
        answers.append(answer)
        return answer

    monkeypatch.setattr(prefetch, "claim", recorded)
    yield answers
    prefetch.discard()


def ledger(tmp_path: Path, name: str = "book.xlsx", count: int = 300) -> Path:
    rows = [invoice(f"INV-{n}", f"Customer {n % 7}", 40 - n % 60, 100.0 + n) for n in range(count)]
    return make_workbook(tmp_path / name, rows)


def same(a: Analysis, b: Analysis) -> bool:
    return list(a.invoices) == list(b.invoices) and dict(a.results) == dict(b.results) and a.findings == b.findings


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["run", "{book}"], True),
        (["check", "{book}", "--as-of", "2026-11-20"], True),
        (["report", "--html", "page.html", "{book}"], True),
        (["run", "{book}", "--send", "--output", "out.xlsx"], True),
        (["run", "--as-of=2026-11-20", "{book}"], True),
        (["run", "{book}", "{book}"], False),  # two workbooks: a batch
        (["run", "{book}", "--clients", "list.csv"], False),
        (["init", "{book}"], False),
        (["run", "missing.xlsx"], False),
        (["run", "{folder}"], False),
        ([], False),
    ],
)
def test_the_workbook_a_command_reads(argv: list[str], named: bool, tmp_path: Path) -> None:
    book = ledger(tmp_path, count=1)
    given = [arg.format(book=book, folder=tmp_path) for arg in argv]
    assert prefetch.single_workbook(given) == (book if named else None)


def test_a_sheet_read_from_the_start_is_taken_and_read_the_same(tmp_path: Path, alongside: list[Any]) -> None:
    book = ledger(tmp_path)
    prefetch.start(["run", str(book)])
    quick = analysed(book)
    assert alongside and alongside[0] is not None  # the prefetching process was taken as the reader
    assert alongside[0][1].name == "sheet-prefetch"
    alongside.clear()
    assert same(quick, analysed(book)) and alongside == [None]  # and without one: the same analysis


def test_a_prefetch_of_another_sheet_is_ended(tmp_path: Path, alongside: list[Any]) -> None:
    """The first visible sheet holds notes, the invoices are on the second: the guess is wrong, and dropped."""
    book = ledger(tmp_path)
    workbook = openpyxl.load_workbook(book)
    workbook.create_sheet("Notes", 0)["A1"] = "Read me first"
    workbook.save(book)
    prefetch.start(["run", str(book)])
    pending = prefetch._pending
    assert pending is not None
    result = analysed(book)
    assert alongside == [None] and not pending.process.is_alive()
    assert len(result.invoices) == 300


def test_a_prefetch_of_the_file_before_it_changed_is_not_used(tmp_path: Path, alongside: list[Any]) -> None:
    """Saved again after the prefetching process read it: the command reads the file as it is now."""
    book = ledger(tmp_path)
    prefetch.start(["run", str(book)])
    pending = prefetch._pending
    assert pending is not None and pending.receiver.poll(10)  # it has fingerprinted the file
    ledger(tmp_path, count=120)  # saved again, with fewer invoices
    result = analysed(book)
    assert alongside == [None] and not pending.process.is_alive()
    assert len(result.invoices) == 120


def test_rows_sent_ahead_stop_once_nobody_takes_them() -> None:
    """The prefetching process's sender gives up, not hangs, when the command closed its end of the pipe."""
    receiver, sender = Pipe(duplex=False)
    ahead = _SentAhead(sender)
    receiver.close()
    with pytest.raises(BrokenPipeError):
        for _ in range(10_000):
            ahead([(n, {1: "x" * 100}) for n in range(1000)])
    ahead.close()
    assert not ahead.thread.is_alive()


def test_the_console_script_reads_a_large_sheet_from_its_start(tmp_path: Path) -> None:
    """The real ``receivables`` command on a sheet read alongside: what it writes and says is what it was."""
    rows = header_row() + "".join(invoice_row(n, f"INV-{n}") for n in range(2, 27_000))  # over 8 MB of rows
    book = write_package(tmp_path / "large.xlsx", rows)
    assert zipfile.ZipFile(book).getinfo("xl/worksheets/sheet1.xml").file_size >= reader.READ_ALONGSIDE_BYTES
    script = Path(sys.executable).with_name("receivables")
    outputs: list[tuple[str, bytes]] = []
    for command in ([str(script)], [sys.executable, "-m", "toolkit.cli"]):  # from its start, and as ever
        out = tmp_path / f"out-{len(outputs)}.xlsx"
        done = subprocess.run(
            [*command, "run", str(book), "--as-of", AS_OF_TEXT, "--output", str(out), "--outbox", str(tmp_path)],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )
        assert done.returncode in (0, 1), done.stderr
        with zipfile.ZipFile(out) as written:
            outputs.append((done.stdout.replace(str(out), "OUT"), written.read("xl/worksheets/sheet1.xml")))
    assert outputs[0] == outputs[1]
    assert outputs[0][1].count(b"<t>Overdue</t>") == 26_998  # every invoice aged
