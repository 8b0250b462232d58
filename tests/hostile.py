"""Building workbook packages by hand, part by part, to break them on purpose; and running code under limits.

A package here is a ``dict`` of part name -> bytes, written with ``write_package``.
``workbook_parts`` gives a small, complete workbook (shared strings, a date style,
an invoice sheet) that Excel, LibreOffice and the reader all open; tests then
replace, corrupt or remove parts. ``run_bounded`` runs a call in a forked child
with a cap on its address space and a time limit, so a test can show that a
hostile file is refused without the machine paying for it.
"""

from __future__ import annotations

import csv
import multiprocessing
import resource
import struct
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from tests.factory import CORE_HEADERS
from tests.libreoffice import require_soffice
from toolkit.errors import ToolkitError
from toolkit.rows.layout import CellError
from toolkit.text import column_letter, xml_safe

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
NS_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET = "xl/worksheets/sheet1.xml"
DATE_STYLE = 1  # cellXfs index of the yyyy-mm-dd style below

HEADERS = list(CORE_HEADERS)


def sample_rows() -> list[list[Any]]:
    """The header and three invoices: one open, one overdue, one paid (as of 2026-11-20)."""
    return [
        HEADERS,
        ["INV-1001", "Acme Ltd", "ap@acme.example", date(2026, 10, 1), date(2026, 12, 1), 1200.0, 0],
        ["INV-1002", "Beta Corp", "pay@beta.example", date(2026, 9, 1), date(2026, 10, 1), 850.5, 100],
        ["INV-1003", "Gamma SA", "fin@gamma.example", date(2026, 8, 1), date(2026, 9, 1), 300, 300],
    ]


CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/xl/workbook.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    b'<Override PartName="/xl/worksheets/sheet1.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    b'<Override PartName="/xl/styles.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    b'<Override PartName="/xl/sharedStrings.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    b"</Types>"
)

ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{NS_PKG}">'
    f'<Relationship Id="rId1" Type="{NS_R}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
).encode()

WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<workbook xmlns="{NS}" xmlns:r="{NS_R}">'
    '<sheets><sheet name="Invoices" sheetId="1" r:id="rId1"/></sheets>'
    "</workbook>"
).encode()

WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<Relationships xmlns="{NS_PKG}">'
    f'<Relationship Id="rId1" Type="{NS_R}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{NS_R}/styles" Target="styles.xml"/>'
    f'<Relationship Id="rId3" Type="{NS_R}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>"
).encode()

STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    f'<styleSheet xmlns="{NS}">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
).encode()

_EPOCH = date(1899, 12, 30)


def _cell(ref: str, value: Any, strings: dict[str, int]) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return f'<c r="{ref}" s="{DATE_STYLE}"><v>{(value - _EPOCH).days}</v></c>'
    if isinstance(value, int | float):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    if isinstance(value, CellError):
        return f'<c r="{ref}" t="e"><v>{escape(value.code)}</v></c>'
    text = xml_safe(str(value))
    index = strings.setdefault(text, len(strings))
    return f'<c r="{ref}" t="s"><v>{index}</v></c>'


def sheet_xml(rows: Iterable[list[Any]], strings: dict[str, int]) -> bytes:
    """A worksheet part for ``rows`` (row 1 first); text goes into ``strings``, the shared strings."""
    out = []
    for number, row in enumerate(rows, start=1):
        cells = "".join(_cell(f"{column_letter(col)}{number}", v, strings) for col, v in enumerate(row, start=1))
        out.append(f'<row r="{number}">{cells}</row>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{NS}" xmlns:r="{NS_R}"><dimension ref="A1"/>'
        f"<sheetData>{''.join(out)}</sheetData></worksheet>"
    ).encode()


def shared_strings_xml(strings: dict[str, int]) -> bytes:
    items = "".join(
        f'<si><t xml:space="preserve">{escape(text)}</t></si>'
        for text, _ in sorted(strings.items(), key=lambda i: i[1])
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<sst xmlns="{NS}" count="{len(strings)}" uniqueCount="{len(strings)}">{items}</sst>'
    ).encode()


def workbook_parts(rows: list[list[Any]] | None = None) -> dict[str, bytes]:
    """A complete small workbook, part name -> bytes, in the order Excel writes them."""
    strings: dict[str, int] = {}
    sheet = sheet_xml(sample_rows() if rows is None else rows, strings)
    return {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": ROOT_RELS,
        "xl/workbook.xml": WORKBOOK,
        "xl/_rels/workbook.xml.rels": WORKBOOK_RELS,
        "xl/styles.xml": STYLES,
        "xl/sharedStrings.xml": shared_strings_xml(strings),
        SHEET: sheet,
    }


def write_package(path: Path, parts: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Zip ``parts`` into ``path``, in order; duplicate names are allowed (zipfile only warns)."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return path


def read_package(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def central_entry(data: bytes, member: str) -> int:
    """Offset of ``member``'s record in the zip's central directory."""
    name = member.encode()
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    assert at >= 0 and data[at + 46 : at + 46 + len(name)] == name, member
    return at


def set_central_sizes(
    data: bytes, member: str, *, file_size: int | None = None, compress_size: int | None = None
) -> bytes:
    """Rewrite what the central directory says about a member's sizes (a header that lies)."""
    out = bytearray(data)
    at = central_entry(data, member)
    if compress_size is not None:
        struct.pack_into("<I", out, at + 20, compress_size)
    if file_size is not None:
        struct.pack_into("<I", out, at + 24, file_size)
    return bytes(out)


def libreoffice_csv(paths: list[Path], folder: Path) -> dict[Path, list[list[str]]]:
    """Open each workbook in LibreOffice headless (one run, a private profile) and read its first sheet as CSV."""
    soffice = require_soffice()
    out = folder / "csv"
    command = [
        soffice,
        f"-env:UserInstallation={(folder / 'lo-profile').as_uri()}",
        "--headless",
        "--convert-to",
        "csv:Text - txt - csv (StarCalc):44,34,76,1",
        "--outdir",
        str(out),
        *map(str, paths),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=180)
    result = {}
    for path in paths:
        with (out / f"{path.stem}.csv").open(newline="", encoding="utf-8") as fh:
            result[path] = list(csv.reader(fh))
    return result


# -- running under limits ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """How a bounded call ended."""

    error: str | None  # the exception's class name, None when the call returned
    message: str  # the exception's message, or repr of what was returned
    toolkit_error: bool  # the exception is a ToolkitError (a refusal meant for the user)
    seconds: float
    memory_mb: float  # how much the resident memory grew while it ran


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def _child(conn: Any, call: Callable[[], Any], megabytes: int) -> None:
    limit = _status_kb("VmSize") * 1024 + megabytes * 1024**2
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    rss_before = _status_kb("VmRSS")
    start = time.monotonic()
    try:
        result: tuple[str | None, str, bool] = (None, repr(call())[:2000], False)
    except BaseException as exc:
        result = (type(exc).__name__, str(exc), isinstance(exc, ToolkitError))
    seconds = time.monotonic() - start
    grown = max(_status_kb("VmHWM") - rss_before, 0) / 1024
    conn.send(Outcome(result[0], result[1], result[2], seconds, grown))
    conn.close()


def run_bounded(call: Callable[[], Any], *, seconds: float = 10, megabytes: int = 512) -> Outcome:
    """Run ``call()`` in a forked child that may use ``megabytes`` more address space and ``seconds``.

    Fails the test when the child is still running after ``seconds``, or dies.
    """
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, call, megabytes), daemon=True)
    child.start()
    send.close()
    try:
        if not receive.poll(seconds):
            raise AssertionError(f"still running after {seconds} s: not bounded in time")
        outcome: Outcome = receive.recv()
    except EOFError:
        child.join(5)
        raise AssertionError(f"the child died (exit code {child.exitcode}), likely out of memory") from None
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    return outcome
