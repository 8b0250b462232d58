"""A bounded fault soak: SIGKILL ``receivables run`` and ``run --send`` at random moments; count what broke.

    python bench/fault_soak.py                                  # the figures in BENCHMARKS.md ("Reliability")
    python bench/fault_soak.py --run-trials 10 --send-trials 4  # a quick look
    make soak

Two kinds of trial, each against the real command in a child process:

* **run**: ``receivables run`` on a copy of the benchmark workbook (``--rows`` invoices),
  killed with SIGKILL at a random moment; in half the trials "the accountant" saves the
  workbook (a cell edited, written by rename as Excel does) at another random moment.
  Counted: *damaged* workbooks (the file no longer opens as a workbook), *lost saves*
  (the accountant's edit is gone from the file), leftover temporary files; then a rerun
  must succeed and give a workbook that opens.
* **send**: ``receivables run --send`` on a workbook of ``--customers`` customers (the
  final notices copied to the accountant), repeated until nothing is due, each run
  killed at a random moment (mostly within 0.6 s after its first message reached the
  server, sometimes anywhere, sometimes not at all), against a local SMTP server that at random stores
  a message and cuts the line before its reply, answers later than the client's
  timeout, or defers (451) one recipient. Between runs the owner settles an unconfirmed
  message the careful way: ``--unconfirmed sent`` when the server has it, ``resend``
  when it does not. Counted: *duplicates* (a recipient that got the same customer's
  reminder more than once) and *missed* reminders (an address that never got it).

It takes a few minutes with the defaults. It is not part of ``make test``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.smtp import SMTP, Envelope, Session  # noqa: E402

from bench.make_workbook import cached_workbook  # noqa: E402
from tests.conftest import AS_OF  # noqa: E402
from tests.reminder_kit import ACCOUNTANT, invoice, make_book, server_env  # noqa: E402
from tests.smtp_server import RecordingHandler, smtp_server  # noqa: E402

AS_OF_TEXT = AS_OF.isoformat()
MARKER = b"EDITED-BY-THE-ACCOUNTANT"
CLIENT_TIMEOUT = "0.5"


# --------------------------------------------------------------------------------------------
# A server that fails at random


@dataclass
class ChaosHandler(RecordingHandler):
    """The recording test handler, with random faults: drop before the reply, a late reply, a 451."""

    rng: random.Random = field(default_factory=random.Random)
    p_drop: float = 0.0
    p_late: float = 0.0
    p_defer: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """451 now and then; otherwise as the recording handler."""
        if self.rng.random() < self.p_defer:
            self.faults["451 deferred"] += 1
            return f"451 4.3.0 <{address}>: try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message, then at random cut the line before the reply, or reply too late."""
        number = len(self.messages) + 1
        roll = self.rng.random()
        if roll < self.p_drop:
            self.faults["dropped before the reply"] += 1
            self.drop_before_reply = frozenset({number})
        elif roll < self.p_drop + self.p_late:
            self.faults["reply later than the timeout"] += 1
            self.delay_reply = {number: 1.5}
        return await super().handle_DATA(server, session, envelope)


# --------------------------------------------------------------------------------------------
# Trials of `receivables run`


def receivables(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit.cli", *map(str, args)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def killed_at(process: subprocess.Popen[str], seconds: float | None) -> bool:
    """Wait ``seconds`` and SIGKILL the process (None: let it finish); whether it was killed running."""
    if seconds is not None:
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
    process.communicate()
    return False


def opens(path: Path) -> bool:
    """The file is a workbook: every zip member's CRC holds and openpyxl loads it."""
    import openpyxl

    try:
        with zipfile.ZipFile(path) as archive:
            if archive.testzip() is not None:
                return False
        openpyxl.load_workbook(path, read_only=True).close()
    except Exception:
        return False
    return True


def edited(original: bytes) -> bytes:
    """The workbook with one shared string changed, as if the accountant had typed in a cell."""
    source = zipfile.ZipFile(io.BytesIO(original))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/sharedStrings.xml":
                data = data.replace(b"<t>", b"<t>" + MARKER + b" ", 1)
            target.writestr(item, data)
    return out.getvalue()


def save_like_excel(path: Path, data: bytes) -> None:
    temporary = path.with_name(f"~save-{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def run_trial(folder: Path, original: bytes, accountant: bytes, rng: random.Random, longest: float) -> dict[str, Any]:
    """One killed ``receivables run``, maybe with the accountant saving meanwhile; then a clean rerun."""
    book = folder / "receivables.xlsx"
    for leftover in folder.iterdir():
        if leftover.is_file() and leftover.name != "billing-manual.toml":
            leftover.unlink()
    book.write_bytes(original)
    kill_after = rng.uniform(0.05, longest)
    save_after = rng.uniform(0.05, longest) if rng.random() < 0.5 else None
    process = receivables("run", book, "--as-of", AS_OF_TEXT)
    started = time.monotonic()
    saved = False
    if save_after is not None and save_after < kill_after:
        time.sleep(save_after)
        save_like_excel(book, accountant)
        saved = True
    killed = killed_at(process, max(0.0, kill_after - (time.monotonic() - started)))
    outcome: dict[str, Any] = {"killed": killed, "saved": saved, "damaged": not opens(book)}
    outcome["lost_save"] = saved and MARKER not in _shared_strings(book)
    outcome["leftovers"] = len([p for p in folder.iterdir() if p.name.endswith(".tmp")])
    rerun = receivables("run", book, "--as-of", AS_OF_TEXT)
    rerun.communicate()
    outcome["rerun_ok"] = rerun.returncode in (0, 1) and opens(book)
    return outcome


def _shared_strings(path: Path) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.read("xl/sharedStrings.xml")
    except (OSError, KeyError, zipfile.BadZipFile):
        return b""


# --------------------------------------------------------------------------------------------
# Trials of `receivables run --send`


def send_rows(count: int) -> list[dict[str, Any]]:
    """``count`` customers; every third one is 40 days overdue (the final notice, cc the accountant)."""
    return [invoice(f"INV-{n}", f"Customer {n:02d}", 40 if n % 3 == 0 else 5) for n in range(1, count + 1)]


def expected_pairs(count: int) -> set[tuple[str, str]]:
    """(recipient, the customer the reminder is for) that must each arrive exactly once."""
    pairs = set()
    for row in send_rows(count):
        pairs.add((row["Email"], row["Email"]))
        if row["Due Date"] <= AS_OF - timedelta(days=30):
            pairs.add((ACCOUNTANT, row["Email"]))
    return pairs


def unconfirmed_ids(journal: Path) -> list[str]:
    """Message-IDs of the journal's attempts that have no outcome and are not settled."""
    from toolkit.reminders.journal import Journal

    return [a.message_id for a in Journal(journal).read().unconfirmed()]


def send_trial(folder: Path, customers: int, rng: random.Random, args: argparse.Namespace) -> dict[str, Any]:
    """Send one day's reminders through kills and server faults until nothing is due; count what arrived."""
    book = make_book(folder, send_rows(customers))
    journal = folder / "receivables-journal.jsonl"
    kills = runs = settled_sent = settled_resend = 0
    with smtp_server("none", handler_class=ChaosHandler) as server:
        handler = server.handler
        assert isinstance(handler, ChaosHandler)
        handler.rng, handler.p_drop, handler.p_late, handler.p_defer = rng, args.p_drop, args.p_late, args.p_defer
        env = {**server_env(server), "RECEIVABLES_SMTP_TIMEOUT": CLIENT_TIMEOUT}
        for attempt in range(args.max_runs):
            calm = attempt >= args.max_runs - 2  # the last runs: no faults, no kill (the day must end)
            if calm:
                handler.p_drop = handler.p_late = handler.p_defer = 0.0
            option: list[str] = []
            pending = unconfirmed_ids(journal)
            if pending:
                arrived = {str(m.message["Message-ID"]) for m in handler.messages}
                resolution = "sent" if all(mid in arrived for mid in pending) else "resend"
                settled_sent += resolution == "sent"
                settled_resend += resolution == "resend"
                option = ["--unconfirmed", resolution]
            before = len(handler.messages)
            process = receivables("run", book, "--as-of", AS_OF_TEXT, "--send", *option, env=env)
            kills += killed_at(process, None if calm else _kill_moment(process, handler, before, rng, args))
            runs += 1
            if calm and process.returncode == 0 and not unconfirmed_ids(journal) and _nothing_due(book, env):
                break
        received = Counter((rcpt, _to(m)) for m in handler.messages for rcpt in m.rcpt_tos)
    expected = expected_pairs(customers)
    return {
        "runs": runs,
        "kills": kills,
        "faults": dict(handler.faults),
        "duplicates": sum(n - 1 for n in received.values() if n > 1),
        "missed": len(expected - set(received)),
        "unexpected": len(set(received) - expected),
        "settled_sent": settled_sent,
        "settled_resend": settled_resend,
        "damaged": not opens(book),
    }


def _kill_moment(
    process: subprocess.Popen[str], handler: ChaosHandler, before: int, rng: random.Random, args: argparse.Namespace
) -> float | None:
    """When to kill, in seconds from now: mostly while messages are going out, sometimes at any moment, or never."""
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.35:
        return rng.uniform(0.0, args.longest_send)
    deadline = time.monotonic() + 30
    while len(handler.messages) == before and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # until the first message of this run reaches the server
    return rng.uniform(0.0, 0.6)


def _to(received: Any) -> str:
    return str(received.message["To"].addresses[0].addr_spec)


def _nothing_due(book: Path, env: dict[str, str]) -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "toolkit.cli", "run", str(book), "--as-of", AS_OF_TEXT],
        env=env,
        capture_output=True,
        text=True,
    )
    return "No reminders are due today." in done.stdout


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-trials", type=int, default=40)
    parser.add_argument("--rows", type=int, default=20000, help="invoices in the workbook of the run trials")
    parser.add_argument("--send-trials", type=int, default=12)
    parser.add_argument("--customers", type=int, default=12)
    parser.add_argument("--max-runs", type=int, default=7, help="runs per send trial (the last two calm)")
    parser.add_argument("--p-drop", type=float, default=0.15)
    parser.add_argument("--p-late", type=float, default=0.10)
    parser.add_argument("--p-defer", type=float, default=0.08)
    parser.add_argument("--longest-send", type=float, default=3.0, help="latest kill, seconds after start")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--json", type=Path, help="also write every trial's outcome here")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    started = time.monotonic()
    results: dict[str, list[dict[str, Any]]] = {"run": [], "send": []}
    with tempfile.TemporaryDirectory(prefix="fault-soak-") as tmp:
        base = Path(tmp)
        if args.run_trials:
            source = cached_workbook(ROOT / "bench" / "output", args.rows)
            folder = base / "run"
            folder.mkdir()
            shutil.copy(ROOT / "bench" / "no-reminders.toml", folder / "billing-manual.toml")
            original = source.read_bytes()
            accountant = edited(original)
            longest = _clean_run_seconds(folder, original)
            print(f"run trials: {args.rows:,} rows, a clean run takes {longest:.1f}s; kills within that")
            for n in range(args.run_trials):
                results["run"].append(run_trial(folder, original, accountant, rng, longest))
                print(f"  run {n + 1}: {results['run'][-1]}", flush=True)
        for n in range(args.send_trials):
            folder = base / f"send-{n}"
            folder.mkdir()
            results["send"].append(send_trial(folder, args.customers, rng, args))
            print(f"  send {n + 1}: {results['send'][-1]}", flush=True)
    print_totals(results, time.monotonic() - started)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")


def _clean_run_seconds(folder: Path, original: bytes) -> float:
    book = folder / "receivables.xlsx"
    book.write_bytes(original)
    started = time.monotonic()
    receivables("run", book, "--as-of", AS_OF_TEXT).communicate()
    return time.monotonic() - started


def print_totals(results: dict[str, list[dict[str, Any]]], seconds: float) -> None:
    runs, sends = results["run"], results["send"]
    print(f"\nTotals ({seconds / 60:.1f} min)")
    if runs:
        print(
            f"run:  {len(runs)} trials, {sum(r['killed'] for r in runs)} killed mid-run, "
            f"{sum(r['saved'] for r in runs)} with an accountant's save; "
            f"damaged {sum(r['damaged'] for r in runs)}, lost saves {sum(r['lost_save'] for r in runs)}, "
            f"trials leaving temporary files {sum(r['leftovers'] > 0 for r in runs)}, "
            f"reruns failed {sum(not r['rerun_ok'] for r in runs)}"
        )
    if sends:
        faults: Counter[str] = Counter()
        for s in sends:
            faults.update(s["faults"])
        print(
            f"send: {len(sends)} trials, {sum(s['runs'] for s in sends)} runs, {sum(s['kills'] for s in sends)} killed; "
            f"server faults {dict(faults)}; unconfirmed settled as sent {sum(s['settled_sent'] for s in sends)}, "
            f"as resend {sum(s['settled_resend'] for s in sends)}; duplicates {sum(s['duplicates'] for s in sends)}, "
            f"missed {sum(s['missed'] for s in sends)}, damaged workbooks {sum(s['damaged'] for s in sends)}"
        )


if __name__ == "__main__":
    main()
