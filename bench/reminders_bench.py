"""Time the reminders preview stage of ``receivables run``: build the messages, write the .eml files, print the summary.

    python bench/reminders_bench.py                       # 2,000 customers x 4 and x 35 invoices
    python bench/reminders_bench.py --per-customer 35 --repeat 5
    python bench/reminders_bench.py --manual sample_workbooks/brasil/billing-manual.toml

The invoices are made in memory (no workbook to read): ``--customers`` customers,
each with ``--per-customer`` unpaid invoices spread from a few days before their due
date to four months past it, so every reminder stage and both message shapes (one
invoice, many) occur. They go through the real ``analyse`` and ``plan_today``
untimed; then the three steps ``receivables run`` takes for a preview are timed:
``prepare_messages`` (render and build each email), ``write_outbox`` (the .eml
files) and ``print_reminders`` (the summary, printed to a throw-away console).

It times the toolkit next to it (``bench/..``): for a before/after comparison, run the
same script from a checkout of the earlier commit. Figures are in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import io
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from rich.console import Console  # noqa: E402

from toolkit.manual import BillingManual, load_manual  # noqa: E402
from toolkit.pipeline import Analysis, analyse  # noqa: E402
from toolkit.reminders.compose import write_outbox  # noqa: E402
from toolkit.reminders.daily import PREVIEW, ReminderRun, plan_today, prepare_messages  # noqa: E402
from toolkit.reminders.journal import JournalContents  # noqa: E402
from toolkit.rows.layout import SheetData, SheetLayout, SourceRow  # noqa: E402
from toolkit.summary import money, print_reminders  # noqa: E402

AS_OF = date(2026, 11, 20)
FIELDS = ("invoice", "customer", "email", "issue_date", "due_date", "amount", "paid")


def synthetic_analysis(manual: BillingManual, customers: int, per_customer: int, seed: int = 7) -> Analysis:
    """``customers`` x ``per_customer`` unpaid invoices, analysed as ``receivables run`` would."""
    rng = random.Random(seed)
    layout = SheetLayout("Invoices", 1, {f: i for i, f in enumerate(FIELDS, start=1)}, dict(enumerate(FIELDS, 1)))
    rows = []
    number = 0
    for c in range(customers):
        name, email = f"Customer {c:04d} Ltd", f"billing{c:04d}@customer{c:04d}.example.com"
        if c % 50 == 0:
            name = f"Comércio São João {c:04d} Ltda"  # some names need RFC 2047 encoding
        for _ in range(per_customer):
            number += 1
            due = AS_OF - timedelta(days=rng.randrange(-3, 120))
            amount = round(rng.uniform(50, 20000), 2)
            paid = rng.choice((0.0, 0.0, 0.0, round(amount / 2, 2)))
            values = {
                "invoice": f"INV-{number:07d}",
                "customer": name,
                "email": email,
                "issue_date": datetime.combine(due - timedelta(days=30), datetime.min.time()),
                "due_date": datetime.combine(due, datetime.min.time()),
                "amount": amount,
                "paid": paid,
            }
            rows.append(SourceRow(number + 1, values))
    return analyse(SheetData("bench.xlsx", layout, rows), manual, AS_OF)


def time_preview(analysis: Analysis, outbox: Path) -> tuple[dict[str, float], ReminderRun]:
    """Seconds for each step of the preview: build, write, summary."""
    schedule, _ = plan_today(analysis, JournalContents(outbox / "journal.jsonl"))
    sender = "Acme Supplies Ltd <billing@acme.example>"
    started = time.perf_counter()
    messages, held_back = prepare_messages(analysis, schedule, sender)
    built = time.perf_counter()
    write_outbox(messages, outbox)
    written = time.perf_counter()
    run = ReminderRun(PREVIEW, schedule, messages, held_back, outbox, outbox / "journal.jsonl")
    console = Console(file=io.StringIO(), width=120, force_terminal=False)
    print_reminders(console, run, lambda amount: money(amount, analysis), "receivables run x.xlsx --send")
    done = time.perf_counter()
    return {"build": built - started, "write": written - built, "summary": done - written}, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--per-customer", type=int, action="append", help="invoices per customer (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; the median is shown")
    parser.add_argument("--manual", type=Path, help="a billing manual (default: the built-in defaults, en_US/USD)")
    parser.add_argument("--outbox-in", type=Path, help="where the outbox folders go (default: a temporary folder)")
    args = parser.parse_args()
    manual = load_manual(args.manual)
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, {manual.locale}")
    print(
        f"{'invoices':>10} {'messages':>9} {'lines':>7} {'build':>8} {'write':>8} {'summary':>8} {'total':>8}", end=""
    )
    print(f" {'ms/message':>11} {'µs/line':>8}")
    for per_customer in args.per_customer or [4, 35]:
        analysis = synthetic_analysis(manual, args.customers, per_customer)
        runs = []
        with tempfile.TemporaryDirectory(dir=args.outbox_in) as folder:
            for repeat in range(args.repeat):
                # A new day's folder each time, as the daily run finds it.
                times, run = time_preview(analysis, Path(folder) / f"outbox-{repeat}")
                runs.append(times)
        median = {step: statistics.median(t[step] for t in runs) for step in runs[0]}
        total = sum(median.values())
        messages, lines = len(run.messages), run.invoice_count
        print(
            f"{len(analysis.invoices):>10,} {messages:>9,} {lines:>7,}"
            + "".join(f" {median[step]:>7.2f}s" for step in ("build", "write", "summary"))
            + f" {total:>7.2f}s {1000 * total / max(messages, 1):>11.2f} {1e6 * total / max(lines, 1):>8.1f}"
        )


if __name__ == "__main__":
    main()
