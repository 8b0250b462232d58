"""Shared fixtures: workbooks built in tmp_path, the CLI runner, the fixed as-of date."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tests.factory import make_workbook, sample_rows
from toolkit.cli import cli
from toolkit.manual import load_manual
from toolkit.pipeline import Analysis, analyse
from toolkit.xlsx.source import XlsxSource

AS_OF = date(2026, 11, 20)
AS_OF_TEXT = AS_OF.isoformat()
ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_workbooks"


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    """About twenty realistic invoices, dated relative to AS_OF, with no mistakes in them."""
    return sample_rows(AS_OF)


@pytest.fixture
def workbook(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    """The accountant's workbook: title rows, styled frozen header, formulas with cached values, extras."""
    return make_workbook(tmp_path / "receivables.xlsx", rows)


@pytest.fixture
def build(tmp_path: Path) -> Callable[..., Path]:
    """Build a workbook from row dicts (keyword arguments go to tests.factory.make_workbook)."""

    def _build(rows: list[dict[str, Any]], name: str = "receivables.xlsx", **kwargs: Any) -> Path:
        return make_workbook(tmp_path / name, rows, **kwargs)

    return _build


def invoke(*args: str | Path, input: str | None = None) -> Result:
    """Run the receivables CLI in-process, as a user would type it."""
    result = CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # A traceback reaching the user is itself a failure: show it to whoever reads the test.
        raise AssertionError(
            "the CLI raised instead of printing a message:\n" + "".join(traceback.format_exception(result.exception))
        )
    return result


def run(path: str | Path, *extra: str | Path, as_of: str = AS_OF_TEXT, code: int = 0) -> str:
    """The output of ``receivables run PATH --as-of AS_OF ...``, which must end with exit status ``code``."""
    result = invoke("run", path, "--as-of", as_of, *extra)
    assert result.exit_code == code, result.output
    return result.output


def analysed(workbook: Path, manual_path: Path | None = None) -> Analysis:
    """A workbook read and analysed as a command does (``XlsxSource``, the manual given or built in), as of AS_OF."""
    manual = load_manual(manual_path)
    source = XlsxSource(workbook, writes=False)
    try:
        return analyse(source.read(manual), manual, AS_OF)
    finally:
        source.close()


class FakeTime:
    """A clock that only moves when the code sleeps on it (or a test moves it)."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A plain SMTP relay on 127.0.0.1 (aiosmtpd, no login), and the environment pointing at it."""
    from tests.reminder_kit import point_at  # imported here: reminder_kit imports this module
    from tests.smtp_server import smtp_server

    with smtp_server("none") as running:
        point_at(monkeypatch, running)
        yield running
