"""Time ``receivables reconcile``: a bank CSV matched against a workbook, previewed and applied.

    python bench/reconcile_bench.py                          # 10,000 invoices, 1,000 bank lines
    python bench/reconcile_bench.py --invoices 50000 --lines 5000 --repeat 3

The workbook (``--invoices`` invoices of ``--invoices / 12`` customers, made by
tests/factory.py) and the statement (half the lines naming their invoice, half
paying by the customer's name and the exact balance) are made in a temporary
folder, untimed. Then the CLI runs in a fresh process per repeat: the preview on the
workbook, then ``--apply`` on a fresh copy (each with an empty payments ledger).
Reported: the median wall time and the peak memory of each. Figures are in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.factory import make_workbook  # noqa: E402

AS_OF = date(2026, 11, 20)


def build(folder: Path, invoices: int, lines: int) -> tuple[Path, Path]:
    """The workbook and the bank CSV, in ``folder``."""
    rng = random.Random(1)
    customers = max(invoices // 12, 1)
    rows = []
    for i in range(invoices):
        due = AS_OF - timedelta(days=rng.randint(-20, 90))
        rows.append(
            {
                "Invoice": f"INV-{100000 + i}",
                "Customer": f"Customer {i % customers} Ltda",
                "Email": f"c{i % customers}@example.com",
                "Issue Date": due - timedelta(days=30),
                "Due Date": due,
                "Amount": float(rng.randint(100, 9000)),
                "Paid": 0,
                "Payment Method": "Bank transfer",
                "Terms": "Net 30",
            }
        )
    workbook = make_workbook(folder / "pristine.xlsx", rows, extras=False)
    text = ["Date,Amount,Description,Reference,Payer"]
    for k, row in enumerate(rng.sample(rows, min(lines, len(rows)))):
        paid_by = f",{row['Invoice']}," if k % 2 else f",,{str(row['Customer']).upper()}"
        text.append(f"19/11/2026,{row['Amount']:.2f},Payment{paid_by}")
    statement = folder / "bank.csv"
    statement.write_text("\n".join(text) + "\n", encoding="utf-8")
    return workbook, statement


def timed(args: list[str], folder: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one CLI process."""
    (folder / "receivables-payments.jsonl").unlink(missing_ok=True)
    shutil.copy(folder / "pristine.xlsx", folder / "wb.xlsx")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "toolkit.cli", *args], cwd=folder, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    return elapsed, max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        build(folder, options.invoices, options.lines)
        for label, extra in (("preview", []), ("--apply", ["--apply"])):
            runs = [
                timed(["reconcile", "wb.xlsx", "bank.csv", "--as-of", AS_OF.isoformat(), *extra], folder)
                for _ in range(options.repeat)
            ]
            seconds = statistics.median(r[0] for r in runs)
            peak = max(r[1] for r in runs) / 1024
            print(f"{options.invoices:,} invoices, {options.lines:,} lines, {label}: {seconds:.2f} s, {peak:.0f} MB")


if __name__ == "__main__":
    main()
