"""Time ``receivables run --output`` against openpyxl's load + save, on the same workbook, in the same run.

    python bench/run_bench.py --rows 100000
    python bench/run_bench.py --rows 10000 --rows 100000 --rows 1000000 --no-openpyxl-above 100000

Ours is timed twice: the read, check and write-back alone (reminders turned
off by bench/no-reminders.toml), which is what openpyxl's load + save compares
with, and the whole daily run, which also previews the reminders due (one
.eml per customer, written to bench/output/outbox).

Each measurement runs in its own process, so its peak memory (the maximum
resident set size reported by the kernel for that process) is its own. The
workbooks are built once with openpyxl into bench/output/ and reused; see
bench/make_workbook.py for what they hold. After our run the output is checked:
every part but the invoice sheet byte for byte as it was, every cell the
accountant wrote (formulas with their cached results included) still there.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from make_workbook import AS_OF as BENCH_AS_OF  # noqa: E402
from make_workbook import HEADER_ROW, cached_workbook  # noqa: E402

from toolkit.xlsx.package import XlsxPackage  # noqa: E402
from toolkit.xlsx.read import iter_sheet_rows  # noqa: E402

AS_OF = BENCH_AS_OF.isoformat()
SHEET = "xl/worksheets/sheet1.xml"
OPENPYXL_ROUNDTRIP = "import sys, openpyxl; openpyxl.load_workbook(sys.argv[1]).save(sys.argv[2])"


@dataclass
class Measure:
    seconds: float
    peak_mb: float


def measure(cmd: list[str], log: Path, ok: tuple[int, ...] = (0,)) -> Measure:
    """Wall time and peak memory of one command, run in its own process.

    Where /proc exists, the peak is the memory of the process and all its children
    together (receivables reads a large sheet in a second process), sampled every
    100 ms; the sample counts proportional set sizes, so pages a forked child still
    shares with its parent count once. Elsewhere it is the kernel's maximum resident
    set size of the process.
    """
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeMemory(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok:
        sys.exit(f"{' '.join(cmd)} failed with status {proc.returncode}; see {log}")
    if sampler.peak_kb:
        # Not ru_maxrss where the tree is sampled: Linux carries a process's maximum resident size
        # over fork and exec, so a command started after this script had grown (verifying a
        # million-row output) would report this script's size as its own.
        return Measure(seconds, sampler.peak_kb / 1024)
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    return Measure(seconds, usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024))


class TreeMemory:
    """Samples the resident memory of a process and its descendants, summed, on a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb = pid, 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        if Path(f"/proc/{pid}").exists():
            self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.1):  # reading smaps_rollup costs about 1 ms: keep it rare
            self.peak_kb = max(self.peak_kb, self._tree_kb())

    def _tree_kb(self) -> int:
        total, stack = 0, [self.pid]
        while stack:
            pid = stack.pop()
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup")
                field = "Pss:" if rollup.exists() else "VmRSS:"
                for line in (rollup if rollup.exists() else Path(f"/proc/{pid}/status")).read_text().splitlines():
                    if line.startswith(field):
                        total += int(line.split()[1])
                        break
                for task in Path(f"/proc/{pid}/task").iterdir():
                    stack.extend(int(child) for child in (task / "children").read_text().split())
            except (OSError, ValueError):
                continue  # the process ended meanwhile
        return total

    def stop(self) -> None:
        self.done.set()
        if self.thread.is_alive():
            self.thread.join()


def receivables_entry() -> list[str]:
    """How to start the ``receivables`` command of this environment."""
    script = Path(sys.executable).with_name("receivables")
    return [str(script)] if script.exists() else [sys.executable, "-m", "toolkit.cli"]


def receivables_command(workbook: Path, output: Path, reminders: bool = True) -> list[str]:
    """``receivables run --output``: the daily run (with its reminders preview), or with reminders off."""
    command = [*receivables_entry(), "run", str(workbook), "--output", str(output), "--as-of", AS_OF]
    if not reminders:
        command += ["--manual", str(HERE / "no-reminders.toml")]
    else:
        command += ["--outbox", str(output.parent / "outbox")]
    return command


def read_only_cells(workbook: Path, folder: Path, rows: int) -> str:
    """``receivables check`` and ``report`` on the workbook: time and peak memory of each, as table cells.

    ``check`` exits 1 when the ledger has errors (the benchmark's has about 1% of rows wrong).
    """
    cells = []
    for command in ("check", "report"):
        cmd = [*receivables_entry(), command, str(workbook), "--as-of", AS_OF]
        result = measure(cmd, folder / f"receivables-{command}-{rows}.log", ok=(0, 1))
        cells.append(f"{result.seconds:.2f} s | {result.peak_mb:.0f} MB")
    return " | ".join(cells)


def previews_in(log: Path) -> str:
    """How many reminder messages a run previewed, from its summary."""
    match = re.search(r"(\d[\d,]*) reminders? ready for (\d[\d,]*) customers?", log.read_text(errors="replace"))
    return f"{match.group(2)} messages" if match else "no messages"


def verify(source: Path, output: Path) -> str:
    """Check the preservation guarantees on our output; return a one-line verdict."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(output) as zout:
        before = {i.filename: i for i in zin.infolist()}
        after = {i.filename: i for i in zout.infolist()}
        if set(before) != set(after):
            return f"FAILED: parts differ: {sorted(set(before) ^ set(after))}"
        for name, info in before.items():
            if name != SHEET and (zin.read(name) != zout.read(name) or info.CRC != after[name].CRC):
                return f"FAILED: part {name} changed"
    with XlsxPackage(source) as src, XlsxPackage(output) as out:
        rows = 0
        for (n1, v1), (n2, v2) in zip(iter_sheet_rows(src, SHEET), iter_sheet_rows(out, SHEET), strict=True):
            if n1 != n2 or any(v2.get(col) != value for col, value in v1.items()):
                return f"FAILED: row {n1} lost a value"
            if n1 > HEADER_ROW and not v2.get(11):
                return f"FAILED: row {n1} has no status"
            rows += 1
    formulas, cached = count_cached_results(output)
    if formulas != cached:
        return f"FAILED: {formulas - cached} formulas lost their cached result"
    return f"ok: {rows:,} rows, other parts byte-identical, {cached:,} formulas keep their cached results"


def count_cached_results(path: Path) -> tuple[int, int]:
    """How many formulas the invoice sheet has, and how many of them carry a cached result."""
    with zipfile.ZipFile(path) as z, z.open(SHEET) as sheet:
        data = sheet.read()
    return data.count(b"</f>"), len(re.findall(rb"</f><v>[^<]", data))


def cached_results_kept(path: Path) -> str:
    formulas, cached = count_cached_results(path)
    return f"{cached:,} of {formulas:,} formulas keep a cached result"


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or model
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, action="append", help="invoices in the workbook (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; the median time is shown")
    parser.add_argument(
        "--no-openpyxl-above", type=int, default=None, metavar="ROWS", help="skip openpyxl for larger workbooks"
    )
    parser.add_argument("--regenerate", action="store_true", help="build the workbooks again")
    parser.add_argument("--output", type=Path, default=HERE / "output", help="where workbooks and logs go")
    args = parser.parse_args()
    sizes = args.rows or [10_000, 100_000]
    folder: Path = args.output
    folder.mkdir(parents=True, exist_ok=True)

    print(f"machine: {machine()}; load average at start {os.getloadavg()[0]:.2f}")
    print(
        "| rows | sheet XML | receivables run | per 1,000 rows | peak memory "
        "| openpyxl load+save | peak memory | ratio | run with reminders previewed | peak memory | ratio "
        "| check | peak memory | report | peak memory | output check |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for rows in sizes:
        workbook = cached_workbook(folder, rows, regenerate=args.regenerate)
        with zipfile.ZipFile(workbook) as z:
            xml_mb = z.getinfo(SHEET).file_size / 1e6
        ours_out = folder / f"receivables-{rows}.xlsx"
        ours = [
            measure(receivables_command(workbook, ours_out, reminders=False), folder / f"receivables-{rows}.log")
            for _ in range(args.repeat)
        ]
        verdict = verify(workbook, ours_out)
        daily_log = folder / f"receivables-daily-{rows}.log"
        daily_out = folder / f"receivables-daily-{rows}.xlsx"
        daily = [measure(receivables_command(workbook, daily_out), daily_log) for _ in range(args.repeat)]
        verdict += "; " + verify(workbook, daily_out).replace("ok: ", "daily run ok: ", 1)
        daily_s = statistics.median(m.seconds for m in daily)
        daily_cells = f"{daily_s:.2f} s ({previews_in(daily_log)}) | {max(m.peak_mb for m in daily):.0f} MB"
        theirs: list[Measure] = []
        if args.no_openpyxl_above is None or rows <= args.no_openpyxl_above:
            theirs_out = folder / f"openpyxl-{rows}.xlsx"
            cmd = [sys.executable, "-c", OPENPYXL_ROUNDTRIP, str(workbook), str(theirs_out)]
            theirs = [measure(cmd, folder / f"openpyxl-{rows}.log") for _ in range(args.repeat)]
            verdict += f"; openpyxl: {cached_results_kept(theirs_out)}"
        ours_s = statistics.median(m.seconds for m in ours)
        ours_mb = max(m.peak_mb for m in ours)
        if theirs:
            theirs_s = statistics.median(m.seconds for m in theirs)
            theirs_mb = max(m.peak_mb for m in theirs)
            their_cells = f"{theirs_s:.1f} s | {theirs_mb:.0f} MB | {ours_s / theirs_s:.2f}"
            daily_cells += f" | {daily_s / theirs_s:.2f}"
        else:
            their_cells = "skipped | | "
            daily_cells += " | "
        print(
            f"| {rows:,} | {xml_mb:.0f} MB | {ours_s:.2f} s | {ours_s / rows * 1000 * 1000:.0f} ms "
            f"| {ours_mb:.0f} MB | {their_cells} | {daily_cells} | {read_only_cells(workbook, folder, rows)} | {verdict} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
