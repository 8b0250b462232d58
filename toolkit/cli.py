"""The ``receivables`` command: a thin click layer over the library.

Each command parses its options, calls one library function and turns a
library error into a one-line message. This is the only module that imports click.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from toolkit import __version__
from toolkit.errors import ToolkitError
from toolkit.manual import MANUAL_FILENAME, BillingManual, find_manual, load_manual, starter_text
from toolkit.pipeline import Source, XlsxSource, run_source
from toolkit.report import build_report
from toolkit.report_render import print_report, report_json, write_csv, write_html
from toolkit.summary import analysis_json, print_problems, print_summary

F = TypeVar("F", bound=Callable[..., Any])


# -- shared options, defined once ------------------------------------------------------------


def manual_option(func: F) -> F:
    return click.option(
        "--manual",
        "manual_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"The billing manual. Default: {MANUAL_FILENAME} next to the workbook, else built-in defaults.",
    )(func)


def as_of_option(func: F) -> F:
    return click.option(
        "--as-of",
        "as_of",
        type=click.DateTime(formats=["%Y-%m-%d"]),
        help="Compute aging as of this date (YYYY-MM-DD). Default: today.",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for other programs.")(func)


def friendly_errors(func: F) -> F:
    """Turn a library error into a one-line message; never show a traceback to the user."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ToolkitError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("Interrupted; the workbook was not changed by this run.", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: say so plainly, keep the traceback for those who ask
            if os.environ.get("RECEIVABLES_DEBUG"):
                raise
            raise click.ClickException(
                f"internal error ({type(exc).__name__}: {exc}). Nothing was written. "
                "Set RECEIVABLES_DEBUG=1 to see the details, and please report it."
            ) from None

    return wrapper  # type: ignore[return-value]


def _as_of(value: Any) -> date:
    return value.date() if value is not None else date.today()


def open_source(target: str, manual_path: Path | None, output: Path | None = None) -> tuple[Source, BillingManual]:
    """The source named on the command line, and its billing manual.

    The manual is --manual, else billing-manual.toml next to the workbook (for a Google
    Sheet: in the current folder), else the built-in defaults.
    """
    if target.startswith(("gsheet:", "https://docs.google.com/spreadsheets/")):
        if output is not None:
            raise click.UsageError("--output is for workbook files; a Google Sheet is updated in place")
        here = Path(MANUAL_FILENAME)
        manual = load_manual(manual_path or (here if here.is_file() else None))
        from toolkit.gsheet import open_google_sheet

        return open_google_sheet(target, manual), manual
    path = Path(target)
    return XlsxSource(path, output=output), load_manual(manual_path or find_manual(path))


# -- commands -------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="receivables")
def cli() -> None:
    """Keep accounts receivable in a spreadsheet and get paid on time.

    Start with 'receivables init' to write a billing manual, then run
    'receivables run receivables.xlsx' once a day.
    """


@cli.command()
@click.argument("workbook")
@manual_option
@as_of_option
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result to this file instead of updating the workbook in place.",
)
@friendly_errors
def run(workbook: str, manual_path: Path | None, as_of: Any, output: Path | None) -> None:
    """Check the invoices and write Status, Days Overdue, Aging and Problems into the workbook.

    WORKBOOK is an .xlsx/.xlsm file, updated in place (the previous version is kept
    in receivables-backups/ next to it) unless --output is given; or a Google Sheet,
    as gsheet:KEY or its https://docs.google.com/spreadsheets/d/KEY/... address.
    Nothing else in the workbook is changed.
    """
    source, manual = open_source(workbook, manual_path, output)
    if isinstance(source, XlsxSource):
        source.check_writable()
    console = Console(highlight=False)
    with _progress() as progress:
        analysis, report = run_source(source, manual, _as_of(as_of), progress=progress)
    print_summary(console, analysis, report)


@cli.command()
@click.argument("workbook")
@manual_option
@as_of_option
@json_option
@friendly_errors
def check(workbook: str, manual_path: Path | None, as_of: Any, as_json: bool) -> None:
    """List every problem in the workbook, with its cell; change nothing.

    Exits with status 1 when there is any error (rows that cannot be trusted),
    0 when there are only warnings or nothing at all.
    """
    source, manual = open_source(workbook, manual_path)
    analysis, _ = run_source(source, manual, _as_of(as_of), write=False)
    if as_json:
        click.echo(json.dumps(analysis_json(analysis), indent=2, ensure_ascii=False))
    else:
        console = Console(highlight=False)
        console.print(f"{analysis.source}: {len(analysis.invoices)} invoices checked against {manual.source}.")
        print_problems(console, analysis)
    if analysis.errors:
        sys.exit(1)


@cli.command("report")
@click.argument("workbook")
@manual_option
@as_of_option
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report as one self-contained web page with charts (opens offline, prints well).",
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write one row per customer (aging, credit use, grade) to this CSV file for spreadsheets.",
)
@json_option
@friendly_errors
def report_command(
    workbook: str, manual_path: Path | None, as_of: Any, html_path: Path | None, csv_path: Path | None, as_json: bool
) -> None:
    """Show who owes what and how late: aging by customer, DSO, default rate, payers, credit use.

    WORKBOOK is an .xlsx/.xlsm file or a Google Sheet; it is only read, never changed.
    Rows with errors are left out of the figures ('receivables check' lists them).
    """
    source, manual = open_source(workbook, manual_path)
    path = source.path if isinstance(source, XlsxSource) else None
    with _progress() as progress:
        analysis, _ = run_source(source, manual, _as_of(as_of), progress=progress, write=False)
    # The reminder journal (when there is one) passes its (invoice number, date sent) records here.
    result = build_report(analysis, reminders=None)
    protect = [path] if path is not None else []
    written = []
    if html_path is not None:
        write_html(result, html_path, protect)
        written.append(f"Wrote the report page to {html_path}.")
    if csv_path is not None:
        write_csv(result, csv_path, protect)
        written.append(f"Wrote one row per customer to {csv_path}.")
    if as_json:
        click.echo(json.dumps(report_json(result), indent=2, ensure_ascii=False))
        for line in written:
            click.echo(line, err=True)
        return
    print_report(Console(highlight=False), result)
    for line in written:
        click.echo(line)


@cli.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
@friendly_errors
def init(folder: Path) -> None:
    """Write a fully commented billing manual (billing-manual.toml) into FOLDER.

    It never overwrites an existing manual.
    """
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MANUAL_FILENAME
    try:
        with target.open("x", encoding="utf-8") as fh:
            fh.write(starter_text())
    except FileExistsError:
        raise click.ClickException(f"{target}: already exists; not overwritten (edit it, or delete it first)") from None
    click.echo(f"Wrote {target}. Edit it to match your billing policy, then run 'receivables check WORKBOOK'.")


@contextlib.contextmanager
def _progress() -> Iterator[Callable[[int], None] | None]:
    """A progress line on the terminal while a large workbook is read (nothing when not a terminal)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("reading rows: {task.completed:,}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("read", total=None)
        yield lambda rows: bar.update(task, completed=rows)


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="receivables")


if __name__ == "__main__":
    main()
