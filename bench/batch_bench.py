"""Time ``receivables run`` over an accounting firm's clients: many small workbooks in one command.

    python bench/batch_bench.py                         # 300 clients of 2,000 rows, --jobs 1 and --jobs 2
    python bench/batch_bench.py --clients 50 --jobs 2

Each client is a folder under bench/output/clients-N-R/ holding a copy of the benchmark
workbook of R rows (bench/make_workbook.py) and the built-in manual (no manual file):
the daily run previews each client's reminders into its own outbox. Before each
measurement the workbooks are restored and the outboxes removed, so every run does the
whole work (a second run on the same day would find the workbooks up to date).

Measured: ``receivables run FOLDER --jobs N`` for each N asked, and the shell loop it
replaces (one ``receivables run WORKBOOK`` per client), wall time and the peak memory of
the whole process tree. The load average is printed before and after: on a shared
machine the times say little without it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_workbook import cached_workbook  # noqa: E402
from run_bench import AS_OF, Measure, machine, measure, receivables_entry  # noqa: E402


def build_clients(root: Path, clients: int, rows: int, regenerate: bool) -> tuple[Path, Path]:
    """``clients`` client folders of one workbook each, and the pristine workbook they are restored from."""
    pristine = cached_workbook(root, rows, regenerate)
    folder = root / f"clients-{clients}-{rows}"
    for n in range(1, clients + 1):
        (folder / f"client-{n:03d}").mkdir(parents=True, exist_ok=True)
    return folder, pristine


def restore(folder: Path, pristine: Path) -> None:
    """Every client's workbook as built, no outbox, no backups: the state of a fresh morning."""
    for client in sorted(folder.iterdir()):
        for made in ("outbox", "receivables-backups"):
            shutil.rmtree(client / made, ignore_errors=True)
        shutil.copyfile(pristine, client / "receivables.xlsx")


def shell_loop(folder: Path, log: Path) -> Measure:
    """The loop a firm runs today: one process per client, one after the other."""
    script = folder.parent / "loop.sh"
    lines = [
        f"{' '.join(receivables_entry())} run {client / 'receivables.xlsx'} --as-of {AS_OF} > /dev/null || exit 1"
        for client in sorted(folder.iterdir())
    ]
    script.write_text("\n".join(["set -e", *lines]) + "\n", encoding="utf-8")
    return measure(["sh", str(script)], log)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clients", type=int, default=300, help="how many client workbooks")
    parser.add_argument("--rows", type=int, default=2000, help="invoices in each client's workbook")
    parser.add_argument("--jobs", type=int, action="append", help="worker processes (repeatable; default 1 and 2)")
    parser.add_argument("--no-loop", action="store_true", help="do not time the shell loop")
    parser.add_argument("--regenerate", action="store_true", help="build the workbook again")
    parser.add_argument("--output", type=Path, default=HERE / "output", help="where workbooks and logs go")
    args = parser.parse_args()
    folder, pristine = build_clients(args.output, args.clients, args.rows, args.regenerate)
    print(f"{machine()}; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{args.clients} clients of {args.rows:,} rows each\n")
    print("| command | time | per client | peak memory (all processes) |")
    print("|---|---:|---:|---:|")
    runs: list[tuple[str, list[str] | None]] = [
        (
            f"receivables run FOLDER --jobs {jobs}",
            [*receivables_entry(), "run", str(folder), "--as-of", AS_OF, "--jobs", str(jobs)],
        )
        for jobs in (args.jobs or [1, 2])
    ]
    if not args.no_loop:
        runs.append(("shell loop, one receivables run per client", None))
    for label, command in runs:
        restore(folder, pristine)
        log = args.output / f"batch-{len(label)}.log"
        result = shell_loop(folder, log) if command is None else measure(command, log)
        if command is not None:
            done = log.read_text(errors="replace")
            if f"{args.clients} clients: {args.clients} done." not in done:
                sys.exit(f"{label}: not every client was done; see {log}")
        print(
            f"| {label} | {result.seconds:.1f} s | {result.seconds / args.clients * 1000:.0f} ms | {result.peak_mb:.0f} MB |"
        )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    subprocess.run(["uptime"], check=False)


if __name__ == "__main__":
    main()
