"""A preview's messages rendered by a second process while the sheet is written (``daily.Rendering``).

The process is only a way to use the other core: the previews must be the very ones
rendered in the run's own process, a failed process must change nothing but the time
taken, and a run whose sheet cannot be written must leave no preview and no process.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AS_OF_TEXT, SAMPLES, invoke
from toolkit.errors import TemplateError, WriteRefused
from toolkit.reminders import daily
from toolkit.reminders.compose import MessageBuilder, Reminder
from toolkit.xlsx.source import XlsxSource


def sample(folder: Path) -> Path:
    folder.mkdir()
    for name in ("receivables.xlsx", "billing-manual.toml"):
        shutil.copyfile(SAMPLES / "acme" / name, folder / name)
    return folder / "receivables.xlsx"


def previews(folder: Path) -> dict[str, bytes]:
    """The day's .eml files, without what is made anew for every message (date, message id, boundary)."""
    found = {}
    for path in sorted((folder / "outbox").rglob("*.eml")):
        content = re.sub(rb"^Date: .*$", b"Date:", path.read_bytes(), flags=re.M)
        content = re.sub(rb"<\d+\.\d+\.\d+\.reminder@", b"<ID@", content)
        found[path.name] = re.sub(rb"={15}\d+==", b"BOUNDARY", content)
    return found


def run_preview(book: Path) -> str:
    """What the daily run says, without the backup's time stamp (to the microsecond)."""
    result = invoke("run", book, "--as-of", AS_OF_TEXT)
    assert result.exit_code in (0, 1), result.output
    return re.sub(r"\d{8}-\d{6}-\d{6}", "STAMP", result.output)


def test_the_previews_rendered_alongside_are_those_rendered_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[Any] = []
    real = daily.Rendering.alongside

    def spied(self: daily.Rendering) -> None:
        real(self)
        started.append(self._process)

    monkeypatch.setattr(daily.Rendering, "alongside", spied)
    alongside = run_preview(sample(tmp_path / "xqxqa"))  # names of one length: lines wrap alike
    assert started and started[0] is not None and started[0].exitcode == 0  # a process did render them
    monkeypatch.setattr(daily.multiprocessing, "get_all_start_methods", lambda: ["spawn"])  # no fork: here
    here = run_preview(sample(tmp_path / "xqxqb"))
    assert alongside.replace("xqxqa", "xqxqb") == here
    assert previews(tmp_path / "xqxqa") == previews(tmp_path / "xqxqb") != {}
    assert not list(tmp_path.rglob(".*preview*"))


def test_a_rendering_process_that_fails_changes_nothing_but_the_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = run_preview(sample(tmp_path / "xqxqa"))

    def fails(*_: Any) -> None:
        sys.exit(1)

    monkeypatch.setattr(daily, "_render_into", fails)
    failed = run_preview(sample(tmp_path / "xqxqb"))
    assert failed.replace("xqxqb", "xqxqa") == expected
    assert previews(tmp_path / "xqxqb") == previews(tmp_path / "xqxqa") != {}


def test_a_sheet_not_written_leaves_no_preview_and_no_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stopped: list[Any] = []
    real_stop = daily.Rendering.stop

    def spied_stop(self: daily.Rendering) -> None:
        process = self._process
        real_stop(self)
        stopped.append(process)

    def refuses(*_: Any, **__: Any) -> None:
        raise WriteRefused("the sheet cannot be written (a test)")

    monkeypatch.setattr(daily.Rendering, "stop", spied_stop)
    monkeypatch.setattr(XlsxSource, "write", refuses)
    book = sample(tmp_path / "book")
    before = book.read_bytes()
    result = invoke("run", book, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1 and "the sheet cannot be written (a test)" in result.output
    assert book.read_bytes() == before and not (book.parent / "outbox").exists()
    assert len(stopped) == 1 and stopped[0] is not None and not stopped[0].is_alive()


def test_a_template_failing_on_one_customer_only_says_the_sheet_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each template is tried here on its first message; one that fails on a later one is said plainly."""
    seen: dict[str, set[str]] = {}  # template -> customers rendered with it (in either process)
    real = MessageBuilder.render

    def fails_on_a_later_one(self: MessageBuilder, reminder: Reminder) -> Any:
        customers = seen.setdefault(reminder.stage.template, set())
        customers.add(reminder.customer)
        if len(customers) > 1:  # the second customer of a template: never the one tried first
            raise TemplateError(f"{reminder.stage.template}.txt:3: 'x' is undefined ({reminder.customer})")
        return real(self, reminder)

    monkeypatch.setattr(MessageBuilder, "render", fails_on_a_later_one)
    book = sample(tmp_path / "book")
    before = book.read_bytes()
    result = invoke("run", book, "--as-of", AS_OF_TEXT)
    assert result.exit_code == 1, result.output
    assert "is undefined" in result.output and "the sheet was written; no reminder was previewed" in result.output
    assert book.read_bytes() != before and not list((book.parent / "outbox").rglob("*.eml"))


def test_a_failing_process_prints_nothing(tmp_path: Path) -> None:
    """The real command, its rendering process failing: no traceback of that process reaches the terminal."""
    book = sample(tmp_path / "book")
    script = (
        "import sys\n"
        "from toolkit.reminders import daily\n"
        "def fails(builder, reminders, file):\n"
        "    raise RuntimeError('a failure in the rendering process')\n"
        "daily._render_into = fails\n"
        "from toolkit.cli import main\n"
        f"sys.argv = ['receivables', 'run', {str(book)!r}, '--as-of', {AS_OF_TEXT!r}]\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    assert "Traceback" not in done.stderr + done.stdout and "a failure in the rendering process" not in done.stderr
    assert list((book.parent / "outbox").rglob("*.eml"))
