"""The ``receivables`` command: a thin click layer over the library.

Each command parses its options, calls one library function and turns a
library error into a one-line message. This is the only module that imports click.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from toolkit import __version__
from toolkit.batch.clients import collect_clients, is_batch
from toolkit.errors import ToolkitError, system_advice, system_reason
from toolkit.manual import MANUAL_FILENAME, load_manual, starter_text
from toolkit.pipeline import open_source, run_source
from toolkit.reminders.compose import message_for_terminal
from toolkit.reminders.daily import ReminderOptions, preview_customer, run_daily, sent_reminders
from toolkit.report.figures import build_report
from toolkit.summary import analysis_json, money, print_problems, print_reminders, print_summary
from toolkit.text import printable, terminal_safe_json

if TYPE_CHECKING:
    from toolkit.batch.tasks import ClientResult

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


def workbook_options(many: bool = False) -> Callable[[F], F]:
    """WORKBOOK (WORKBOOK... with ``many``), --manual and --as-of: the three every command reading a sheet takes."""

    def decorate(func: F) -> F:
        argument = click.argument("workbooks", metavar="WORKBOOK...", nargs=-1) if many else click.argument("workbook")
        return argument(manual_option(as_of_option(func)))

    return decorate


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON for other programs.")(func)


def batch_options(func: F) -> F:
    """--clients and --jobs: one command over many clients' workbooks."""
    func = click.option(
        "--jobs",
        type=click.IntRange(min=1),
        help="With many workbooks: how many clients run at once, each in a process of its own. Default: the cores.",
    )(func)
    return click.option(
        "--clients",
        "clients_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="A CSV file listing the clients: columns workbook, manual, name (see docs/batch.md).",
    )(func)


_KEPT: list[Any] = []  # what a command built, left for the end of the process to reclaim


def friendly_errors(func: F) -> F:
    """Turn a library error into a one-line message; never show a traceback to the user."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ToolkitError as exc:
            raise click.ClickException(printable(str(exc))) from None
        except KeyboardInterrupt:
            click.echo(
                "Interrupted. The workbook is only ever replaced whole, so it is either as before or fully "
                "updated; run the command again to finish.",
                err=True,
            )
            sys.exit(130)
        except BrokenPipeError:
            # The output went to a program that stopped reading (``| head``): not an error of ours.
            sys.stderr.close()
            sys.exit(0)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except OSError as exc:  # the system refused a file the library did not name: still one line, with the file
            if os.environ.get("RECEIVABLES_DEBUG"):
                raise
            where = os.fsdecode(exc.filename) if exc.filename is not None else "a file"
            raise click.ClickException(
                printable(f"{where}: {system_reason(exc)}. {system_advice(exc, output_hint=False)}")
            ) from None
        except Exception as exc:  # a bug: say so plainly, keep the traceback for those who ask
            if os.environ.get("RECEIVABLES_DEBUG"):
                raise
            raise click.ClickException(
                f"internal error ({type(exc).__name__}: {printable(str(exc))}). Nothing was written. "
                "Set RECEIVABLES_DEBUG=1 to see the details, and please report it."
            ) from None

    return wrapper  # type: ignore[return-value]


def _as_of(value: Any) -> date:
    return value.date() if value is not None else date.today()


# -- commands -------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="receivables")
def cli() -> None:
    """Keep accounts receivable in a spreadsheet and get paid on time.

    Start with 'receivables init' to write a billing manual, then run
    'receivables run receivables.xlsx' once a day.
    """


@cli.command()
@workbook_options(many=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the result to this file instead of updating the workbook in place.",
)
@click.option("--send", is_flag=True, help="Send the reminders due today (without it they are only previewed).")
@click.option(
    "--outbox",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write the .eml previews here (one folder per day). Default: 'outbox' next to the workbook.",
)
@click.option("--limit", type=click.IntRange(min=1), help="Prepare and send at most N messages this run.")
@click.option(
    "--statement",
    "statements",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A bank statement (OFX, CAMT.053, CSV) to reconcile first: certain payments are recorded in the sheet "
    "before aging and reminders, and an invoice a doubtful payment may be for is not chased today. Repeatable.",
)
@click.option(
    "--unconfirmed",
    type=click.Choice(["sent", "resend"]),
    help="Settle messages whose delivery is unknown (a run stopped, or the connection dropped before the "
    "server confirmed): 'sent' records them as delivered, 'resend' sends them again.",
)
@batch_options
@friendly_errors
def run(
    workbooks: tuple[str, ...],
    manual_path: Path | None,
    as_of: Any,
    output: Path | None,
    send: bool,
    outbox: Path | None,
    limit: int | None,
    statements: tuple[Path, ...],
    unconfirmed: str | None,
    clients_file: Path | None,
    jobs: int | None,
) -> None:
    """Check the invoices, write Status, Days Overdue, Aging and Problems, and prepare the reminders due.

    WORKBOOK is an .xlsx/.xlsm file, updated in place (the previous version is kept
    in receivables-backups/ next to it) unless --output is given; or a Google Sheet,
    as gsheet:KEY or its https://docs.google.com/spreadsheets/d/KEY/... address.
    Nothing else in the workbook is changed.

    The reminders due today (by the billing manual's schedule) are written as .eml
    files into the outbox, one per customer, and nothing is sent. With --send they
    are sent over SMTP, recorded in the send journal, and Last Reminder and
    Reminder Stage are written into the workbook; a rerun never sends one twice.

    Several WORKBOOKs, a folder (its workbooks and those one folder down) or
    --clients FILE run every client in a worker process of its own, each with its
    own manual, journal, outbox and backups, and end with one table; the exit
    status is 1 when any client failed.
    """
    if statements and output is not None:
        raise click.UsageError("--statement records payments in the workbook itself; it cannot go with --output")
    options = ReminderOptions(
        send=send, outbox=outbox, limit=limit, unconfirmed=unconfirmed, statements=list(statements)
    )
    if _is_batch(workbooks, clients_file):
        from toolkit.batch.summary import print_batch
        from toolkit.batch.tasks import BatchOptions, run_clients

        _refuse_for_batch(output=output, outbox=outbox)
        if statements:
            raise click.UsageError("--statement is for one workbook: reconcile each client's statement on its own")
        batch = BatchOptions(_as_of(as_of), manual_path, options)
        results = _in_batch(run_clients, workbooks, clients_file, batch, jobs)
        print_batch(Console(highlight=False), results, reminders=True)
        if not send and any(r.reminders for r in results):
            hint = shlex.join(["receivables", "run", *_batch_args(workbooks, clients_file, manual_path, as_of)])
            click.echo(f"Nothing was sent. To send the reminders prepared, run: {hint} --send")
        sys.exit(1 if any(r.failed for r in results) else 0)
    workbook = workbooks[0]
    source, manual = open_source(workbook, manual_path, output)
    path = source.path
    source.check_writable()
    console = Console(highlight=False)
    with _progress() as progress:
        result = run_daily(source, manual, _as_of(as_of), options, workbook=path, progress=progress)
    _KEPT.append(result)  # freed by the system at exit, not object by object (see main)
    if result.reconciliation is not None:
        from toolkit.payments.report import print_reconciliation

        print_reconciliation(console, result.reconciliation, None)
    print_summary(console, result.analysis, result.report)
    if result.reminders is None:
        if send:
            console.print(f"Reminders are turned off in {manual.source} ([reminders] enabled); nothing was sent.")
        return
    hint = _command("run", workbook, manual_path, as_of, outbox=outbox, output=output) + " --send"
    print_reminders(console, result.reminders, lambda amount: money(amount, result.analysis), hint)
    if result.statements is not None:
        from toolkit.statements.monthly import summary_lines

        for line in summary_lines(result.statements, result.reminders.outbox):
            console.print(printable(line), markup=False)
    if result.reminders.stopped:
        sys.exit(1)


@cli.command()
@workbook_options()
@click.option("--customer", help="The customer whose message to show (part of the name will do).")
@click.option("--html", "show_html", is_flag=True, help="Show the HTML part instead of the plain-text one.")
@friendly_errors
def preview(workbook: str, manual_path: Path | None, as_of: Any, customer: str | None, show_html: bool) -> None:
    """Show the reminder one customer would get today, as it would be sent; change nothing.

    Without --customer, shows the first message due and lists the other customers.
    """
    source, manual = open_source(workbook, manual_path, writes=False)
    path = source.path
    shown = preview_customer(source, manual, _as_of(as_of), customer, workbook=path)
    if shown.message is None:
        click.echo(f"{source.name}: no reminders are due on {_as_of(as_of).isoformat()}.")
        return
    # Customer text from the sheet is shown line by line with control characters written out.
    for line in message_for_terminal(shown.message.message, html=show_html).split("\n"):
        click.echo(printable(line))
    if shown.others and customer is None:
        names = ", ".join(printable(r.customer) for r in shown.others[:10])
        more = f" and {len(shown.others) - 10} more" if len(shown.others) > 10 else ""
        click.echo(f"\nAlso due today: {names}{more}. Show one with --customer NAME.")


@cli.command()
@workbook_options(many=True)
@json_option
@batch_options
@friendly_errors
def check(
    workbooks: tuple[str, ...],
    manual_path: Path | None,
    as_of: Any,
    as_json: bool,
    clients_file: Path | None,
    jobs: int | None,
) -> None:
    """List every problem in the workbook, with its cell; change nothing.

    Exits with status 1 when there is any error (rows that cannot be trusted),
    0 when there are only warnings or nothing at all.

    Over several WORKBOOKs, a folder or --clients FILE: one table with each
    client's problems; the exit status is 1 when any client has errors or failed.
    """
    if _is_batch(workbooks, clients_file):
        from toolkit.batch.summary import batch_json, print_batch
        from toolkit.batch.tasks import BatchOptions, check_clients

        batch = BatchOptions(_as_of(as_of), manual_path, as_json=as_json)
        results = _in_batch(check_clients, workbooks, clients_file, batch, jobs)
        if as_json:
            click.echo(json.dumps(batch_json(results), indent=2, ensure_ascii=False))
        else:
            print_batch(Console(highlight=False), results)
        sys.exit(1 if any(r.failed or r.errors for r in results) else 0)
    workbook = workbooks[0]
    source, manual = open_source(workbook, manual_path, writes=False)
    analysis, _ = run_source(source, manual, _as_of(as_of), write=False)
    if as_json:
        click.echo(terminal_safe_json(json.dumps(analysis_json(analysis), indent=2, ensure_ascii=False)))
    else:
        console = Console(highlight=False)
        console.print(
            f"{printable(analysis.source)}: {len(analysis.invoices)} invoices checked against {manual.source}.",
            markup=False,
        )
        print_problems(console, analysis)
    if analysis.errors:
        sys.exit(1)


@cli.command("report")
@workbook_options(many=True)
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
@batch_options
@friendly_errors
def report_command(
    workbooks: tuple[str, ...],
    manual_path: Path | None,
    as_of: Any,
    html_path: Path | None,
    csv_path: Path | None,
    as_json: bool,
    clients_file: Path | None,
    jobs: int | None,
) -> None:
    """Show who owes what and how late: aging by customer, DSO, default rate, payers, credit use.

    WORKBOOK is an .xlsx/.xlsm file or a Google Sheet; it is only read, never changed.
    Rows with errors are left out of the figures ('receivables check' lists them).

    Over several WORKBOOKs, a folder or --clients FILE: one row per client, and with
    --html a portfolio page linking to each client's own page (written into a folder
    named after the page).
    """
    if _is_batch(workbooks, clients_file):
        _report_batch(workbooks, clients_file, manual_path, as_of, html_path, csv_path, as_json, jobs)
        return
    workbook = workbooks[0]
    source, manual = open_source(workbook, manual_path, writes=False)
    path = source.path
    with _progress() as progress:
        analysis, _ = run_source(source, manual, _as_of(as_of), progress=progress, write=False)
    # The send journal, when there is one, tells which invoices were reminded and when.
    result = build_report(analysis, reminders=sent_reminders(manual, path))
    # Imported here: the page template and the charts are for this command only.
    from toolkit.report.render import print_report, report_json, write_csv, write_html

    protect = [path] if path is not None else []
    written = []
    if html_path is not None:
        write_html(result, html_path, protect)
        written.append(f"Wrote the report page to {html_path}.")
    if csv_path is not None:
        write_csv(result, csv_path, protect)
        written.append(f"Wrote one row per customer to {csv_path}.")
    if as_json:
        click.echo(terminal_safe_json(json.dumps(report_json(result), indent=2, ensure_ascii=False)))
        for line in written:
            click.echo(line, err=True)
        return
    print_report(Console(highlight=False), result)
    for line in written:
        click.echo(line)


@cli.command()
@click.argument("folder", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--templates",
    "with_templates",
    is_flag=True,
    help="Also copy the built-in email templates into FOLDER/templates, to edit them.",
)
@click.option(
    "--workbook",
    "with_workbook",
    is_flag=True,
    help="Also write a starter workbook (receivables.xlsx) for a business that keeps none yet.",
)
@friendly_errors
def init(folder: Path, with_templates: bool, with_workbook: bool) -> None:
    """Write a fully commented billing manual (billing-manual.toml) into FOLDER.

    It never overwrites an existing manual, templates folder or workbook. With --workbook
    and a manual already there, that manual is kept and the workbook follows it.
    """
    from toolkit.reminders.compose import copy_builtin_templates
    from toolkit.starter_workbook import WORKBOOK_FILENAME, write_starter_workbook

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / MANUAL_FILENAME
    if target.exists() and not with_workbook:
        raise click.ClickException(f"{target}: already exists; not overwritten (edit it, or delete it first)")
    if with_templates:
        copied = copy_builtin_templates(folder / "templates")
        click.echo(
            f"Copied {len(copied)} email templates into {folder / 'templates'}; "
            'set templates = "templates" under [reminders] in the manual to use your edited copies.'
        )
    if not target.exists():
        with target.open("x", encoding="utf-8") as fh:
            fh.write(starter_text())
        click.echo(f"Wrote {target}. Edit it to match your billing policy, then run 'receivables check WORKBOOK'.")
    if with_workbook:
        book = write_starter_workbook(folder / WORKBOOK_FILENAME, load_manual(target))
        click.echo(
            f"Wrote {book}: an Invoices sheet with two example rows and a Customers sheet with credit limits. "
            f"Replace the examples with your invoices, then run 'receivables run {book}'."
        )


@cli.command()
@workbook_options()
@click.argument("statements", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--apply", "do_apply", is_flag=True, help="Record the matched payments in the sheet (Paid, Payment Date)."
)
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the matches and the payments for review to this CSV file.",
)
@json_option
@friendly_errors
def reconcile(
    workbook: str,
    statements: tuple[Path, ...],
    manual_path: Path | None,
    as_of: Any,
    do_apply: bool,
    csv_path: Path | None,
    as_json: bool,
) -> None:
    """Match the payments in bank STATEMENTS (OFX, CAMT.053 or CSV) to the open invoices of WORKBOOK.

    Shows which bank line pays which invoice, and by which rule (invoice number in the
    text, payer name and amount, payer name and a sum of invoices); a payment with two
    candidates or none is listed for review and never applied. Nothing is changed unless
    --apply is given: then Paid and the payment date are written for the matched
    payments, each bank line once, however often it is given (see docs/payments.md).
    """
    from toolkit.payments.reconcile import reconcile as reconcile_statements
    from toolkit.payments.report import print_reconciliation, reconciliation_json, write_csv
    from toolkit.reminders.daily import journal_path

    source, manual = open_source(workbook, manual_path, writes=do_apply)
    path = source.path
    if do_apply:
        source.check_writable()
    result = reconcile_statements(
        source, manual, list(statements), _as_of(as_of), journal=journal_path(manual, path), apply=do_apply
    )
    if csv_path is not None:
        write_csv(result, csv_path)
    if as_json:
        click.echo(json.dumps(reconciliation_json(result), indent=2, ensure_ascii=False))
        return
    parts = ["receivables", "reconcile", workbook, *map(str, statements)]
    if manual_path is not None:
        parts += ["--manual", str(manual_path)]
    if as_of is not None:
        parts += ["--as-of", _as_of(as_of).isoformat()]
    hint = shlex.join([*parts, "--apply"])
    print_reconciliation(Console(highlight=False), result, hint)
    if csv_path is not None:
        click.echo(f"Wrote the reconciliation to {csv_path}.")


# -- receivables credit ----------------------------------------------------------------------


class _ErrorsExitFour(click.Command):
    """A command whose own exit statuses (0-3) carry meaning: any error, even a usage error, exits 4."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.ClickException as exc:
            from toolkit.credit.decision import ERROR_EXIT  # here: only a refused credit command needs it

            exc.exit_code = ERROR_EXIT  # type: ignore[misc]
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            from toolkit.credit.decision import ERROR_EXIT

            exc.exit_code = ERROR_EXIT  # type: ignore[misc]
            raise


@cli.command("credit", cls=_ErrorsExitFour)
@workbook_options()
@click.option("--customer", required=True, help="The customer, as the workbook names them (case and accents ignored).")
@click.option("--amount", required=True, type=str, help="The order amount, e.g. 1250.00.")
@click.option("--new-customer", is_flag=True, help="A name the workbook does not know is a first purchase.")
@json_option
@friendly_errors
def credit_command(
    workbook: str, customer: str, amount: str, new_customer: bool, manual_path: Path | None, as_of: Any, as_json: bool
) -> None:
    """Decide on an order on credit: approve, approve with conditions, refer (to the owner) or decline.

    Every rule of the manual's [credit_policy] is checked against the customer's record
    (headroom, payer grade, oldest balance, broken promises, holds, first purchase, large
    order). WORKBOOK is only read, also while it is open in Excel.

    Exit status: 0 approve, 1 approve with conditions, 2 refer, 3 decline, 4 the tool
    could not decide (a message on stderr says why).
    """
    from decimal import Decimal, InvalidOperation

    from toolkit.credit.decision import credit_decision, decision_json
    from toolkit.credit.render import print_decision
    from toolkit.money import CurrencyFormat

    try:
        order = Decimal(amount.replace(",", "").strip())
    except InvalidOperation:
        raise click.BadParameter(f"{amount!r} is not an amount; write it like 1250.00", param_hint="--amount") from None
    if not order.is_finite() or order <= 0:
        raise click.BadParameter(f"{amount!r} must be more than zero", param_hint="--amount")
    source, manual = open_source(workbook, manual_path, writes=False)
    result = credit_decision(source, manual, _as_of(as_of), customer, order, new_customer=new_customer)
    if as_json:
        click.echo(json.dumps(decision_json(result), indent=2, ensure_ascii=False))
    else:
        shown = CurrencyFormat(manual.locale, manual.currency).format(order)
        print_decision(Console(highlight=False), result, shown)
    sys.exit(result.exit_status)


# -- receivables statement -------------------------------------------------------------------


@cli.command("statement")
@workbook_options()
@click.option("--customer", help="The customer, as the workbook names them (case and accents ignored).")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the statement as a web page (prints on A4).",
)
@click.option(
    "--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the statement as a PDF (A4)."
)
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the statement's lines as CSV."
)
@click.option(
    "--all", "every", is_flag=True, help="Every customer with a balance: HTML, PDF and CSV each, into --outdir."
)
@click.option("--outdir", type=click.Path(file_okay=False, path_type=Path), help="The folder for --all.")
@friendly_errors
def statement_command(
    workbook: str,
    customer: str | None,
    html_path: Path | None,
    pdf_path: Path | None,
    csv_path: Path | None,
    every: bool,
    outdir: Path | None,
    manual_path: Path | None,
    as_of: Any,
) -> None:
    """Write a customer's statement of account: open invoices with aging, payments, credits, total due.

    In the company's locale, with how to pay and whom to contact about a dispute.
    WORKBOOK is only read. Use --customer NAME with --html/--pdf/--csv, or --all --outdir DIR
    for one statement (HTML, PDF and CSV) per customer with a balance.
    """
    from toolkit.money import CurrencyFormat
    from toolkit.statements.files import write_statements

    if every == (customer is not None):
        raise click.UsageError("give either --customer NAME or --all --outdir DIR")
    if every and outdir is None:
        raise click.UsageError("--all needs --outdir DIR, the folder the statements go into")
    if not every and not (html_path or pdf_path or csv_path):
        raise click.UsageError("say what to write: --html FILE, --pdf FILE and/or --csv FILE")
    source, manual = open_source(workbook, manual_path, writes=False)
    protect = [source.path] if source.path is not None else []
    done = write_statements(
        source, manual, _as_of(as_of), customer=customer, html=html_path, pdf=pdf_path, csv=csv_path,
        outdir=outdir if every else None, protect=protect,
    )  # fmt: skip
    console = Console(highlight=False)
    for statement in done.statements:
        due = CurrencyFormat(manual.locale, manual.currency).format(statement.total_due)
        console.print(
            f"{printable(statement.customer)}: {len(statement.open_invoices)} open invoice(s), total due {due}.",
            markup=False,
        )
    for path in done.written:
        console.print(f"Wrote {path}.", markup=False)
    if every and not done.statements:
        console.print("No customer has a balance: no statements written.", markup=False)


def _is_batch(workbooks: tuple[str, ...], clients_file: Path | None) -> bool:
    if not workbooks and clients_file is None:
        raise click.UsageError("Missing argument 'WORKBOOK...' (or --clients FILE).")
    return is_batch(workbooks, clients_file)


def _refuse_for_batch(**given: Any) -> None:
    for name, value in given.items():
        if value is not None:
            raise click.UsageError(f"--{name} is for one workbook; over many clients each keeps its own")


def _in_batch(
    command: Callable[..., list[ClientResult]],
    workbooks: tuple[str, ...],
    clients_file: Path | None,
    options: Any,
    jobs: int | None,
    **extra: Any,
) -> list[ClientResult]:
    """Run a command over every client named, telling of each client as it finishes (on a terminal)."""
    from toolkit.batch.workers import default_jobs

    clients = collect_clients(workbooks, clients_file)
    count = len(clients)
    finished = 0

    def done(result: ClientResult) -> None:
        nonlocal finished
        finished += 1
        if sys.stderr.isatty():
            click.echo(f"[{finished}/{count}] {printable(result.client)}: {result.outcome}", err=True)

    return command(clients, options, jobs or default_jobs(), done=done, **extra)


def _report_batch(
    workbooks: tuple[str, ...],
    clients_file: Path | None,
    manual_path: Path | None,
    as_of: Any,
    html_path: Path | None,
    csv_path: Path | None,
    as_json: bool,
    jobs: int | None,
) -> None:
    """``report`` over many clients: the table (or JSON), and the portfolio page with --html."""
    from toolkit.batch.portfolio import pages_folder, report_portfolio
    from toolkit.batch.summary import batch_json, print_batch
    from toolkit.batch.tasks import BatchOptions, report_clients

    _refuse_for_batch(csv=csv_path)
    batch = BatchOptions(_as_of(as_of), manual_path, as_json=as_json)
    if html_path is not None:
        results = _in_batch(report_portfolio, workbooks, clients_file, batch, jobs, page=html_path)
    else:
        results = _in_batch(report_clients, workbooks, clients_file, batch, jobs)
    if as_json:
        click.echo(json.dumps(batch_json(results), indent=2, ensure_ascii=False))
    else:
        print_batch(Console(highlight=False), results)
    if html_path is not None:
        click.echo(
            f"Wrote the portfolio page to {html_path}, each client's page into {pages_folder(html_path)}.", err=as_json
        )
    sys.exit(1 if any(r.failed for r in results) else 0)


def _batch_args(
    workbooks: tuple[str, ...], clients_file: Path | None, manual_path: Path | None, as_of: Any
) -> list[str]:
    parts = list(workbooks)
    if clients_file is not None:
        parts += ["--clients", str(clients_file)]
    if manual_path is not None:
        parts += ["--manual", str(manual_path)]
    if as_of is not None:
        parts += ["--as-of", _as_of(as_of).isoformat()]
    return parts


def _command(
    name: str,
    workbook: str,
    manual_path: Path | None,
    as_of: Any,
    *,
    outbox: Path | None = None,
    output: Path | None = None,
) -> str:
    """The command line that repeats this one, for "to send them, run ..." hints."""
    parts = ["receivables", name, workbook]
    if manual_path is not None:
        parts += ["--manual", str(manual_path)]
    if as_of is not None:
        parts += ["--as-of", _as_of(as_of).isoformat()]
    if outbox is not None:
        parts += ["--outbox", str(outbox)]
    if output is not None:
        parts += ["--output", str(output)]
    return shlex.join(parts)


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
    """Entry point of the console script.

    Ends with ``os._exit`` once the output is flushed, as mypy does: the objects of
    a run over 100,000 invoices would otherwise be freed one by one on the way out,
    a quarter of a second of nothing. Every file the tool writes is closed (and
    synced) before a command returns, so there is nothing else to wait for.
    """
    try:
        cli.main(prog_name="receivables")
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if not isinstance(code, int):
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


if __name__ == "__main__":
    main()
