"""Helpers that run the real LibreOffice (headless) on workbooks, for the tests.

Every call runs ``soffice`` with a fresh private user profile, so calls may run in
parallel and a stale or locked profile left by an earlier crash cannot break them.
``soffice --convert-to`` exits with status 0 even when it could not load or write a
file, so success is judged by the output file being there.

LibreOffice shows a formula's cached result (``<v>``) as saved in the file and does
not recalculate on load; a formula with no cached result is calculated.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

# The CSV export filter's options (LibreOffice 7.2+): field separator 44 (,), text
# delimiter 34 ("), character set 76 (UTF-8), first line 1, no column formats, language
# 0 (default), do not quote all text, detect special numbers, save cell contents AS
# SHOWN (formatted), no formulas, keep spaces, sheet -1 = every sheet into its own
# file named <stem>-<Sheet name>.csv.
CSV_FILTER = "Text - txt - csv (StarCalc)"
_CSV_OPTIONS = "44,34,76,1,,0,false,true,{as_shown},false,false,{sheet}"

_CANDIDATES = (
    "/usr/bin/soffice",
    "/usr/bin/libreoffice",
    "/usr/lib/libreoffice/program/soffice",
    "/opt/libreoffice/program/soffice",
    "/Applications/LibreOffice.app/Contents/MacOS/soffice",
)


def soffice_path() -> str | None:
    """The LibreOffice binary (``$SOFFICE``, then ``soffice``/``libreoffice`` on PATH, then usual places), or None."""
    env = os.environ.get("SOFFICE")
    if env and Path(env).is_file():
        return env
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    for candidate in _CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    for found_path in sorted(Path("/opt").glob("libreoffice*/program/soffice")):
        return str(found_path)
    return None


def require_soffice() -> str:
    """The LibreOffice binary; skips the calling test when there is none, or fails it when CI is set."""
    import pytest

    path = soffice_path()
    if path is None:
        message = "LibreOffice (soffice) is not installed"
        if os.environ.get("CI"):
            pytest.fail(message + " and CI is set: it is required there", pytrace=False)
        pytest.skip(message)
    return path


def run_soffice(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``soffice --headless --norestore`` with a private throw-away profile and ``args``.

    Raises AssertionError when LibreOffice is missing or does not finish within
    ``timeout`` seconds (its whole process group is killed then).
    """
    binary = soffice_path()
    if binary is None:
        raise AssertionError("LibreOffice (soffice) is not installed")
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        cmd = [
            binary,
            "--headless",
            "--norestore",
            "--nologo",
            "--nodefault",
            "--nolockcheck",
            f"-env:UserInstallation={Path(profile).as_uri()}",
            *args,
        ]
        env = dict(os.environ)
        env.setdefault("HOME", profile)
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            stdout, stderr = proc.communicate()
            raise AssertionError(
                f"LibreOffice did not finish within {timeout} s: {' '.join(cmd)}\nstdout:\n{stdout}\nstderr:\n{stderr}"
            ) from None
        finally:
            if proc.poll() is None:
                _kill_group(proc)
                proc.wait()
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _describe(result: subprocess.CompletedProcess[str], outdir: Path) -> str:
    listing = sorted(p.name for p in outdir.iterdir()) if outdir.is_dir() else []
    return (
        f"command: {' '.join(result.args)}\nexit status: {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\nfiles in {outdir}: {listing}"
    )


def convert(path: str | Path, fmt: str, outdir: str | Path, timeout: float = 120) -> Path:
    """Have LibreOffice convert ``path`` with ``--convert-to fmt`` into ``outdir``; return the new file.

    ``fmt`` is an extension, optionally with a filter (``"pdf"``, ``"xlsx"``,
    ``"csv:Text - txt - csv (StarCalc):44,34,76"``). Raises AssertionError, with what
    LibreOffice printed, when the expected ``<stem>.<ext>`` does not appear.
    """
    path = Path(path).resolve()
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    ext = fmt.split(":", 1)[0]
    target = outdir / f"{path.stem}.{ext}"
    if target == path:
        raise ValueError(f"converting {path} to {fmt} in {outdir} would overwrite it")
    if target.exists():
        target.unlink()
    result = run_soffice(["--convert-to", fmt, "--outdir", str(outdir), str(path)], timeout=timeout)
    if not target.is_file() or target.stat().st_size == 0:
        raise AssertionError(f"LibreOffice produced no {target.name} from {path}\n" + _describe(result, outdir))
    return target


def export_sheets_csv(
    path: str | Path, outdir: str | Path, *, as_shown: bool = True, timeout: float = 120
) -> dict[str, Path]:
    """Export every sheet of the workbook to CSV with LibreOffice: sheet name -> CSV file.

    ``as_shown`` writes cells as LibreOffice displays them (number formats applied,
    e.g. ``1,250.50`` and ``2026-11-20``); otherwise raw values (``1250.5``).
    """
    path = Path(path).resolve()
    outdir = Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    prefix = f"{path.stem}-"
    for old in outdir.glob(f"{prefix}*.csv"):
        old.unlink()
    options = _CSV_OPTIONS.format(as_shown="true" if as_shown else "false", sheet=-1)
    result = run_soffice(
        ["--convert-to", f"csv:{CSV_FILTER}:{options}", "--outdir", str(outdir), str(path)],
        timeout=timeout,
    )
    sheets: dict[str, Path] = {}
    # LibreOffice reports each file as "Writing sheet <name> -> <file>".
    for line in result.stdout.splitlines():
        if line.startswith("Writing sheet ") and " -> " in line:
            name, _, written = line[len("Writing sheet ") :].rpartition(" -> ")
            if Path(written).is_file():
                sheets[name] = Path(written)
    if not sheets:
        for file in sorted(outdir.glob(f"{prefix}*.csv")):
            sheets[file.stem[len(prefix) :]] = file
    if not sheets:
        raise AssertionError(f"LibreOffice exported no CSV from {path}\n" + _describe(result, outdir))
    return sheets


def read_csv(file: str | Path) -> list[list[str]]:
    """The rows of a UTF-8 CSV file as lists of strings."""
    with open(file, encoding="utf-8", newline="") as handle:
        return [list(row) for row in csv.reader(handle)]


def read_sheet_via_libreoffice(
    path: str | Path, sheet_name: str, tmpdir: str | Path, *, as_shown: bool = True, timeout: float = 120
) -> list[list[str]]:
    """The sheet ``sheet_name`` as LibreOffice shows it: rows of cell texts (trailing empty cells kept as '')."""
    outdir = Path(tmpdir) / f"lo-csv-{Path(path).stem}"
    sheets = export_sheets_csv(path, outdir, as_shown=as_shown, timeout=timeout)
    if sheet_name not in sheets:
        raise AssertionError(f"LibreOffice found no sheet {sheet_name!r} in {path}; it exported {sorted(sheets)}")
    return read_csv(sheets[sheet_name])


def read_all_sheets_via_libreoffice(
    path: str | Path, tmpdir: str | Path, *, as_shown: bool = True
) -> dict[str, list[list[str]]]:
    """Every sheet as LibreOffice shows it: sheet name -> rows of cell texts."""
    outdir = Path(tmpdir) / f"lo-csv-{Path(path).stem}"
    return {name: read_csv(file) for name, file in export_sheets_csv(path, outdir, as_shown=as_shown).items()}
