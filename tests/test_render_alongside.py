"""Reminders rendered on two cores (``toolkit.reminders.alongside``) are the messages one process makes.

Each test runs the real ``receivables run`` preview twice on copies of one workbook:
once with the share-out (lowered to a few messages so that a small workbook uses it)
and once in one process, and compares the .eml files part by part, byte for byte, less
what differs between any two runs (see ``previews``). The forked process is
real; so are its failures: it is killed, it hangs, and a template fails in it.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.conftest import AS_OF_TEXT, invoke
from tests.reminder_kit import clear_environment, invoice, make_book
from toolkit.reminders import alongside
from toolkit.reminders.compose import builtin_templates

CUSTOMERS = 24


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_environment(monkeypatch)


def ledger(folder: Path) -> Path:
    """``CUSTOMERS`` customers at every stage (one, two or three invoices each), and one with a cut list."""
    rows = []
    for n in range(CUSTOMERS):
        days = (-3, 2, 16, 31, 45)[n % 5]
        rows += [
            invoice(f"INV-{n:02d}-{k}", f"Customer {n:02d}", days + k, 100.0 * (n + 1) + k) for k in range(n % 3 + 1)
        ]
    rows += [invoice(f"LONG-{k:02d}", "Northwind Traders", 40 + k, 50.0 + k) for k in range(30)]
    return make_book(folder, rows)


def previews(folder: Path) -> dict[str, list[tuple[str, str, bytes]]]:
    """The outbox's .eml files by name, as (part, headers, content) less what differs in any two runs.

    That is: the Date and Message-ID headers, the MIME boundary, and a statement PDF's time of
    making (its text is compared instead).
    """
    outbox = folder / "outbox" / AS_OF_TEXT
    differ = {"date", "message-id"}
    made: dict[str, list[tuple[str, str, bytes]]] = {}
    for path in sorted(outbox.glob("*.eml")):
        msg = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        parts = []
        for part in msg.walk():
            headers = "".join(f"{k}: {v}\n" for k, v in part.items() if k.lower() not in differ)
            headers = re.sub(r"={15}\d+==", "B", headers)
            if part.is_multipart():
                parts.append((part.get_content_type(), headers, b""))
                continue
            content = part.get_payload(decode=True) or b""
            if part.get_content_type() == "application/pdf":
                content = "".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages).encode()
            parts.append((part.get_content_type(), headers, content))
        made[path.name] = parts
    return made


def run_preview(folder: Path) -> dict[str, list[tuple[str, str, bytes]]]:
    result = invoke("run", folder / "receivables.xlsx", "--as-of", AS_OF_TEXT)
    assert result.exit_code == 0, result.output
    return previews(folder)


@pytest.fixture
def one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[str, str, bytes]]]:
    """The previews one process makes (the share-out threshold out of reach)."""
    folder = copy_of_ledger(tmp_path, "one")
    with monkeypatch.context() as patch:
        patch.setattr(alongside, "SPLIT_AT", 10**9)
        made = run_preview(folder)
    assert len(made) == CUSTOMERS + 1
    return made


def copy_of_ledger(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    ledger(folder)
    return folder


def count_starts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Lower the threshold so the ledger is shared out; the list gets the size of each share sent away."""
    monkeypatch.setattr(alongside, "SPLIT_AT", 4)
    started: list[int] = []
    real_start = alongside._Helper.start.__func__  # type: ignore[attr-defined]

    def start(cls: type, builder: object, reminders: object, indices: list[int]) -> object:
        helper = real_start(cls, builder, reminders, indices)
        if helper is not None:
            started.append(len(indices))
        return helper

    monkeypatch.setattr(alongside._Helper, "start", classmethod(start))
    return started


def test_two_processes_make_the_same_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_process: dict[str, list[tuple[str, str, bytes]]]
) -> None:
    started = count_starts(monkeypatch)
    shared = run_preview(copy_of_ledger(tmp_path, "two"))
    assert started and started[0] >= 4, "the forked process was not used"
    assert shared == one_process
    # The cut message still carries the statement (attached here, after the other process rendered).
    northwind = next(parts for name, parts in shared.items() if "northwind" in name)
    assert [kind for kind, _, _ in northwind].count("application/pdf") == 1


def test_a_killed_process_is_rendered_for_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_process: dict[str, list[tuple[str, str, bytes]]]
) -> None:
    started = count_starts(monkeypatch)
    monkeypatch.setattr(alongside, "_render_in_process", lambda *args: os.kill(os.getpid(), 9))
    assert run_preview(copy_of_ledger(tmp_path, "killed")) == one_process
    assert started


def test_a_process_that_hangs_is_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_process: dict[str, list[tuple[str, str, bytes]]]
) -> None:
    started = count_starts(monkeypatch)
    monkeypatch.setattr(alongside, "_render_in_process", lambda *args: time.sleep(600))
    monkeypatch.setattr(alongside, "_GRACE_SECONDS", 1.0)
    begun = time.monotonic()
    assert run_preview(copy_of_ledger(tmp_path, "hung")) == one_process
    assert started
    assert time.monotonic() - begun < 60  # the wait ended at its limit, and the process was ended


@pytest.mark.parametrize("failing", ["Customer 06", "Customer 12"])
def test_a_template_mistake_is_reported_with_its_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """A mistake only some customers meet: the run names the file and line and writes nothing, whichever
    process rendered that customer."""
    started = count_starts(monkeypatch)
    folder = copy_of_ledger(tmp_path, "mistake")
    mine = folder / "templates"
    shutil.copytree(builtin_templates() / "en", mine)
    for name in ("first_reminder.txt", "second_reminder.txt"):  # the two stages the failing customers are at
        template = mine / name
        mistake = f'{{% if customer == "{failing}" %}}{{{{ no_such_thing }}}}{{% endif %}}\n'
        template.write_text(template.read_text(encoding="utf-8") + mistake, encoding="utf-8")
    manual = folder / "billing-manual.toml"
    manual.write_text(
        manual.read_text(encoding="utf-8").replace("[reminders]\n", '[reminders]\ntemplates = "templates"\n', 1),
        encoding="utf-8",
    )
    before = (folder / "receivables.xlsx").read_bytes()
    result = invoke("run", folder / "receivables.xlsx", "--as-of", AS_OF_TEXT)
    assert result.exit_code != 0
    assert re.search(r"(first|second)_reminder\.txt:\d+: 'no_such_thing' is undefined", result.output), result.output
    assert (folder / "receivables.xlsx").read_bytes() == before
    assert not list((folder / "outbox").glob("*/*.eml"))
    assert started
