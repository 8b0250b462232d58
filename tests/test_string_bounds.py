"""How long one string may be: 4 MiB in the workbook's XML, 1,000 characters into a message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from tests.conftest import AS_OF, AS_OF_TEXT, invoke
from tests.factory import make_workbook, sample_rows
from tests.hostile import SHEET, Outcome, run_bounded, workbook_parts, write_package
from tests.hostile import sample_rows as hostile_rows
from toolkit.manual import load_manual
from toolkit.xlsx.package import MAX_SPAN_BYTES
from toolkit.xlsx.read import read_workbook

MANUAL = load_manual(None)
LONG = "x" * (MAX_SPAN_BYTES + 1024)  # just over the bound


def read(path: Path, stream: bool = True) -> Callable[[], object]:
    return lambda: read_workbook(path, MANUAL, stream=stream)


def assert_refused(outcome: Outcome, path: Path, *fragments: str) -> None:
    """A WorkbookError on one line that starts with the file, within modest memory."""
    assert outcome.toolkit_error and outcome.error == "WorkbookError", f"not a clean refusal: {outcome}"
    assert outcome.message.startswith(f"{path}: ") and "\n" not in outcome.message, outcome.message
    for fragment in fragments:
        assert fragment in outcome.message, outcome.message
    assert outcome.memory_mb < 250, outcome


def with_long_customer(tmp_path: Path, rich: bool = False) -> Path:
    rows = hostile_rows()
    rows[1][1] = LONG
    parts = workbook_parts(rows)
    if rich:  # the same text as one run of rich text: read by lxml, not from the bytes
        strings = parts["xl/sharedStrings.xml"]
        parts["xl/sharedStrings.xml"] = strings.replace(
            b'<si><t xml:space="preserve">xxx', b'<si><r><t xml:space="preserve">xxx', 1
        ).replace(b"xxx</t></si>", b"xxx</t></r></si>", 1)
    return write_package(tmp_path / "long.xlsx", parts)


@pytest.mark.parametrize("rich", [False, True], ids=["plain", "rich text"])
def test_a_shared_string_over_4_mib_is_refused_naming_it(tmp_path: Path, rich: bool) -> None:
    """One shared string longer than 4 MiB is refused, naming the part and which string, plain or rich."""
    path = with_long_customer(tmp_path, rich)
    assert_refused(run_bounded(read(path)), path, "xl/sharedStrings.xml", "4 MiB")
    if not rich:
        assert "shared string #9 is more than 4 MiB long" in run_bounded(read(path)).message


def test_the_plain_reader_refuses_a_long_string_at_the_end_of_the_table(tmp_path: Path) -> None:
    """A long last string, read in one final chunk by the byte reader, is refused too."""
    rows = hostile_rows()
    rows[3][1] = LONG  # the last new string of the table
    path = write_package(tmp_path / "last.xlsx", workbook_parts(rows))
    assert_refused(run_bounded(read(path)), path, "xl/sharedStrings.xml", "more than 4 MiB long")


@pytest.mark.parametrize("stream", [True, False], ids=["byte reader", "lxml reader"])
def test_an_inline_string_over_4_mib_is_refused(tmp_path: Path, stream: bool) -> None:
    """A cell's inline string longer than 4 MiB is refused by both readers, naming the sheet's part."""
    parts = workbook_parts()
    cell = b'<c r="H2" t="inlineStr"><is><t>' + LONG.encode() + b"</t></is></c>"
    parts[SHEET] = parts[SHEET].replace(b'</row><row r="3">', cell + b'</row><row r="3">', 1)
    path = write_package(tmp_path / "inline.xlsx", parts)
    assert_refused(run_bounded(read(path, stream)), path, SHEET, "cell H2 holds a string of", "4 MiB")


def test_a_string_just_under_the_bound_is_read(tmp_path: Path) -> None:
    """The bound refuses only what is over it: a 1 MiB note in a cell is read."""
    rows = hostile_rows()
    rows[1][1] = "y" * (1024 * 1024)
    path = write_package(tmp_path / "big.xlsx", workbook_parts(rows))
    outcome = run_bounded(read(path))
    assert outcome.error is None, outcome


def test_a_long_customer_name_never_reaches_a_message(tmp_path: Path) -> None:
    """A 30,000-character customer name is an error of its row: no reminder, and findings quote at most a little."""
    rows = sample_rows(AS_OF)
    overdue = next(r for r in rows if r["Invoice"] == "INV-2005")
    overdue["Customer"] = "Z" * 30_000  # near the 32,767 characters a cell can hold in Excel
    overdue["Due Date"] = "q" * 20_000
    workbook = make_workbook(tmp_path / "receivables.xlsx", rows)
    result = invoke("run", workbook, "--as-of", AS_OF_TEXT)
    assert "customer is 30,000 characters long, more than the 1,000" in result.output
    assert "(20,000 characters)" in result.output and "Z" * 1001 not in result.output
    sheet = openpyxl.load_workbook(workbook)["Invoices"]
    problems = [str(c.value) for c in sheet["R"] if c.value and "characters" in str(c.value)]
    assert problems and all(len(p) < 2000 for p in problems)
    assert all("Z" * 1001 not in eml.read_text(errors="replace") for eml in tmp_path.rglob("*.eml"))
    assert any(tmp_path.rglob("*.eml")), "the other overdue invoices still get their reminders"
