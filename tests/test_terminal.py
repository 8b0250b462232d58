"""What a terminal would act on never reaches it from cell text: bidi overrides, C1 controls, tabs, newlines.

A customer name (or any cell) holding U+202E (right-to-left override), U+009B (the
one-byte escape that starts a terminal command), a tab or a newline is shown written
out (``\\u202e``) by every command, in text and in ``--json``; and a bidi override
never reaches the ``To:`` display name of a reminder.
"""

from __future__ import annotations

import json
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from tests.conftest import AS_OF_TEXT, invoke
from tests.reminder_kit import invoice, make_book

HOSTILE = "Evil\u202eCorp\u009b31m\tTab\nLine"
RAW = re.compile("[\u202e\u009b\t\u2066]")


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """A workbook whose customer names and an invoice number carry bidi overrides and controls."""
    return make_book(
        tmp_path,
        [
            invoice("INV-1", HOSTILE, 40, 100.0, email="ap@evil.example"),
            invoice("INV-2\u2066", "Good Co", 5, 100.0),
            invoice("INV-3", "Late\u202eName", 5, 100.0, **{"Due Date": "x\u202ey"}),
        ],
    )


@pytest.mark.parametrize(
    "command",
    [
        ("run",),
        ("check",),
        ("check", "--json"),
        ("preview",),
        ("preview", "--customer", "evil"),
        ("report",),
        ("report", "--json"),
    ],
)
def test_every_command_writes_hostile_text_out(command: tuple[str, ...], book: Path) -> None:
    """No raw U+202E, U+009B, U+2066 or tab reaches the terminal, and the name is still there to read."""
    result = invoke(command[0], book, "--as-of", AS_OF_TEXT, *command[1:])
    assert result.exit_code in (0, 1), result.output
    assert RAW.findall(result.output) == []
    assert "\\u202e" in result.output
    if "--json" in command:
        json.loads(result.output)  # still valid JSON: the escapes are JSON's own


def test_report_table_rows_stay_one_line_each(book: Path) -> None:
    """A newline in a name does not split a report row: the name's row holds its figures."""
    output = invoke("report", book, "--as-of", AS_OF_TEXT).output
    rows = [line for line in output.splitlines() if line.startswith("Evil")]
    assert rows and all("100" in line for line in rows)
    assert not any(line.startswith("Line") for line in output.splitlines())


def test_a_bidi_override_never_reaches_the_to_display_name(book: Path) -> None:
    """The .eml To: header carries the name without U+202E (and on one line)."""
    invoke("run", book, "--as-of", AS_OF_TEXT)
    [eml] = (book.parent / "outbox" / AS_OF_TEXT).glob("*evil*.eml")
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    [address] = message["To"].addresses
    assert address.display_name == "EvilCorp 31m Tab Line"
    assert address.addr_spec == "ap@evil.example"
