"""Which clients a command covers: workbooks named, the workbooks of a folder, or a clients file.

A clients file is CSV (Excel writes it), one client a line, with a first line naming
the columns::

    workbook,manual,name
    acme/receivables.xlsx,acme/billing-manual.toml,Acme Supplies
    gsheet:1AbCdEf,manuals/bakery.toml,Corner Bakery
    beta/receivables.xlsx,,

``workbook`` is a workbook file or a Google Sheet (``gsheet:KEY`` or its address);
``manual`` and ``name`` may be left empty. Relative paths are read from the clients
file's folder. Without a manual, a client's manual is found as for one workbook:
``billing-manual.toml`` next to the workbook, else the built-in defaults.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from toolkit.errors import BatchError
from toolkit.pipeline import GOOGLE_SHEET_PREFIXES
from toolkit.xlsx.safe_write import BACKUP_FOLDER

CLIENTS_COLUMNS = ("workbook", "manual", "name")
GOOGLE_PREFIXES = GOOGLE_SHEET_PREFIXES
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
# Folders of a client's own that hold workbooks which are not the client's ledger.
SKIPPED_FOLDERS = frozenset({BACKUP_FOLDER, "outbox"})


@dataclass(frozen=True)
class Client:
    """One client of a batch: a name for the summary, its workbook or sheet, and its manual if given."""

    name: str
    target: str  # a workbook path, or a Google Sheet as gsheet:KEY or its address
    manual: Path | None = None  # None: found as for one workbook

    @property
    def is_google_sheet(self) -> bool:
        return is_google_sheet(self.target)

    @property
    def workbook(self) -> Path | None:
        """The workbook file, or None for a Google Sheet."""
        return None if self.is_google_sheet else Path(self.target)


def is_google_sheet(target: str) -> bool:
    """Whether a command-line target names a Google Sheet rather than a file."""
    return target.startswith(GOOGLE_PREFIXES)


def is_batch(targets: Sequence[str], clients_file: Path | None) -> bool:
    """Whether a command covers many clients: several targets, a folder, or a clients file."""
    if clients_file is not None or len(targets) != 1:
        return True
    return not is_google_sheet(targets[0]) and Path(targets[0]).is_dir()


def collect_clients(targets: Sequence[str], clients_file: Path | None) -> list[Client]:
    """Every client the command line names, in order, each workbook once."""
    clients: list[Client] = []
    for target in targets:
        if not is_google_sheet(target) and Path(target).is_dir():
            clients += clients_in_folder(Path(target))
        else:
            clients.append(Client(target, target))
    if clients_file is not None:
        clients += read_clients_file(clients_file)
    if not clients:
        where = ", ".join([*targets, *([str(clients_file)] if clients_file else [])])
        raise BatchError(f"{where}: no workbooks found (.xlsx or .xlsm, in the folder or one folder down)")
    return _once_each(clients)


def clients_in_folder(folder: Path) -> list[Client]:
    """The workbooks in ``folder`` and in each folder directly inside it (one client a workbook)."""
    clients: list[Client] = []
    try:
        for entry in sorted(folder.iterdir()):
            if entry.is_dir() and entry.name not in SKIPPED_FOLDERS and not entry.name.startswith("."):
                inside = [p for p in sorted(entry.iterdir()) if _is_workbook(p)]
                # A client's folder with one workbook is named by the folder: "acme", not "acme/receivables.xlsx".
                clients += [
                    Client(entry.name if len(inside) == 1 else f"{entry.name}/{p.name}", str(p)) for p in inside
                ]
            elif _is_workbook(entry):
                clients.append(Client(entry.name, str(entry)))
    except OSError as exc:
        raise BatchError(f"{folder}: cannot list the folder ({exc.strerror})") from None
    return clients


def read_clients_file(path: Path) -> list[Client]:
    """The clients listed in a CSV clients file (see the module's docstring for its columns)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise BatchError(f"{path}: clients file not found") from None
    except UnicodeDecodeError:
        raise BatchError(f"{path}: not a text file; save the clients list as CSV (UTF-8)") from None
    except OSError as exc:
        raise BatchError(f"{path}: cannot read the clients file ({exc.strerror})") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    lines = [(n, line) for n, line in lines if not line.lstrip().startswith("#")]
    if not lines:
        raise BatchError(f"{path}: the clients file lists no clients")
    rows = csv.reader(line for _, line in lines)
    header = [h.strip().lower() for h in next(rows)]
    if "workbook" not in header or set(header) - set(CLIENTS_COLUMNS) - {""}:
        raise BatchError(
            f"{path}:{lines[0][0]}: the first line must name the columns, from: {', '.join(CLIENTS_COLUMNS)} "
            f"(found: {', '.join(header)})"
        )
    base = path.parent
    clients = []
    for (number, _), cells in zip(lines[1:], rows, strict=False):
        row = dict(zip(header, (c.strip() for c in cells), strict=False))
        target = row.get("workbook", "")
        if not target:
            raise BatchError(f"{path}:{number}: no workbook given (the 'workbook' column is empty)")
        if not is_google_sheet(target):
            target = str(_from(base, target))
        manual = _from(base, row["manual"]) if row.get("manual") else None
        clients.append(Client(row.get("name") or row["workbook"], target, manual))
    return clients


def _from(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _is_workbook(path: Path) -> bool:
    name = path.name
    # Excel's "~$book.xlsx" and LibreOffice's ".~lock.book.xlsx#" are lock files, not workbooks.
    return path.suffix.lower() in WORKBOOK_SUFFIXES and not name.startswith(("~$", ".")) and path.is_file()


def _once_each(clients: Iterable[Client]) -> list[Client]:
    seen: set[str] = set()
    kept = []
    for client in clients:
        key = client.target if client.is_google_sheet else os.path.realpath(client.target)
        if key not in seen:
            seen.add(key)
            kept.append(client)
    return kept
