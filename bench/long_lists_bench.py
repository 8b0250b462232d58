"""The daily run with its reminders preview at 100,000 rows: 2,000 customers, and 7 customers holding them all.

    python bench/long_lists_bench.py                   # both workbooks, 3 runs each, median
    python bench/long_lists_bench.py --repeat 1 --base /tmp/toolkit-before

Each workbook is built once into bench/output/ (``bench/make_workbook.py``; the second with
``customers=7``, so each customer has about 14,000 invoices, about 1,700 of them due a
reminder). ``receivables run --output`` (reminders previewed into an outbox) is timed in its
own process with its peak memory, as ``bench/run_bench.py`` does. With 7 customers each
reminder is cut at ``[reminders] max_invoices_in_message`` (25) and carries the customer's
statement as PDF and CSV, so the figure includes building 7 statements of about 14,000 lines.

``--base DIR`` also times a copy of an earlier toolkit (``git archive COMMIT | tar -x -C DIR``),
for the before/after comparison in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from make_workbook import cached_workbook  # noqa: E402
from run_bench import AS_OF, machine, measure  # noqa: E402


def outbox_size(folder: Path) -> tuple[int, int]:
    """The number of .eml files in the outbox and their total size in bytes."""
    files = [p for p in folder.rglob("*.eml")]
    return len(files), sum(p.stat().st_size for p in files)


def time_run(workbook: Path, toolkit: Path, repeat: int) -> tuple[float, float, float, int, int]:
    """Median wall and CPU seconds and peak MB of ``receivables run --output`` with ``toolkit``; messages, bytes.

    CPU time (user + system, of the run and every process it started) is what to compare on a
    machine shared with other work: the wall time then also counts the waits for a core.
    """
    seconds, cpu, peaks = [], [], []
    messages = size = 0
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            command = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
                       "from toolkit.cli import main; main()", str(toolkit), "run", str(workbook),
                       "--output", str(out / "out.xlsx"), "--as-of", AS_OF, "--outbox", str(out / "outbox")]  # fmt: skip
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            result = measure(command, out / "log.txt")
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            seconds.append(result.seconds)
            peaks.append(result.peak_mb)
            messages, size = outbox_size(out / "outbox")
    return statistics.median(seconds), statistics.median(cpu), max(peaks), messages, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--base", type=Path, help="an earlier toolkit's folder, timed too")
    parser.add_argument("--customers", type=int, action="append", help="customers in the workbook (repeatable)")
    parser.add_argument("--output", type=Path, default=HERE / "output")
    args = parser.parse_args()
    print(machine())
    toolkits = [("this toolkit", HERE.parent)] + ([("base", args.base)] if args.base else [])
    print(f"{'workbook':<34} {'toolkit':<13} {'run':>8} {'cpu':>8} {'peak':>8} {'messages':>9} {'outbox':>9}")
    for customers in args.customers or [2000, 7]:
        workbook = cached_workbook(args.output, args.rows, customers=customers)
        for label, toolkit in toolkits:
            seconds, cpu, peak, messages, size = time_run(workbook, toolkit, args.repeat)
            name = f"{args.rows:,} rows, {customers:,} customers"
            print(
                f"{name:<34} {label:<13} {seconds:>7.2f}s {cpu:>7.2f}s {peak:>6.0f}MB {messages:>9,} {size / 1e6:>7.1f}MB"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
