"""Rewriting a zip package with one member replaced and every other member copied as is.

Untouched members are copied as their raw compressed bytes (local header, data and
data descriptor, byte for byte), so they are not even recompressed: the
accountant's charts, images and styles come out exactly as they went in, and a
large workbook is rewritten at the speed of a file copy. Only the replaced
member is compressed anew, as a stream, with a data descriptor.

Packages this code does not handle byte for byte (zip64, multi-disk) fall back to
``zipfile``, which rewrites every member with the same content.
"""

from __future__ import annotations

import contextlib
import queue
import struct
import sys
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from toolkit.errors import WorkbookError, WriteRefused

_EOCD = struct.Struct("<4sHHHHIIH")  # end of central directory
_CDH = struct.Struct("<4sHHHHHHIIIHHHHHII")  # central directory header
_LFH = struct.Struct("<4sHHHHHIIIHH")  # local file header
_EOCD_SIG, _CDH_SIG, _LFH_SIG, _DD_SIG = b"PK\x05\x06", b"PK\x01\x02", b"PK\x03\x04", b"PK\x07\x08"

# zlib's level 4 deflates a sheet three times faster than its default 6, for a member about
# 13% larger (measured on a 100,000-invoice sheet; see docs/performance.md).
DEFLATE_LEVEL = 4

Producer = Callable[[], Iterable[bytes]]  # yields the new member's bytes, in pieces
Tap = Callable[[bytes], None]  # given each piece of a member as it is written


class _CentralEntry:
    __slots__ = ("comment", "extra", "fields", "name", "raw_name")

    def __init__(self, fields: list[int | bytes], raw_name: bytes, extra: bytes, comment: bytes) -> None:
        self.fields, self.raw_name, self.extra, self.comment = fields, raw_name, extra, comment
        flags = int(fields[3])
        self.name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")

    @property
    def flags(self) -> int:
        return int(self.fields[3])

    @property
    def compress_size(self) -> int:
        return int(self.fields[8])

    @property
    def offset(self) -> int:
        return int(self.fields[16])

    def pack(self, offset: int) -> bytes:
        fields = list(self.fields)
        fields[16] = offset
        return _CDH.pack(*fields) + self.raw_name + self.extra + self.comment


def _read_central_directory(fh: BinaryIO, size: int) -> tuple[list[_CentralEntry], bytes] | None:
    """The central directory entries and the archive comment, or None for what we do not copy raw."""
    tail_len = min(size, 65536 + _EOCD.size)
    fh.seek(size - tail_len)
    tail = fh.read(tail_len)
    pos = tail.rfind(_EOCD_SIG)
    if pos < 0 or pos + _EOCD.size > len(tail):
        return None
    _, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, comment_len = _EOCD.unpack_from(tail, pos)
    comment = tail[pos + _EOCD.size : pos + _EOCD.size + comment_len]
    if disk or cd_disk or n_disk != n_total or n_total == 0xFFFF or cd_offset == 0xFFFFFFFF:
        return None  # multi-disk or zip64
    if cd_offset + cd_size > size:
        return None
    fh.seek(cd_offset)
    data = fh.read(cd_size)
    entries = []
    p = 0
    for _ in range(n_total):
        if data[p : p + 4] != _CDH_SIG:
            return None
        fields = list(_CDH.unpack_from(data, p))
        n, m, k = fields[10], fields[11], fields[12]
        start = p + _CDH.size
        raw_name = data[start : start + n]
        extra = data[start + n : start + n + m]
        entry_comment = data[start + n + m : start + n + m + k]
        if fields[8] == 0xFFFFFFFF or fields[9] == 0xFFFFFFFF or fields[16] == 0xFFFFFFFF:
            return None
        entries.append(_CentralEntry(fields, raw_name, extra, entry_comment))
        p = start + n + m + k
    return entries, comment


def _copy_record(src: BinaryIO, dst: BinaryIO, entry: _CentralEntry) -> None:
    """Copy a member's local header, data and data descriptor verbatim."""
    src.seek(entry.offset)
    header = src.read(_LFH.size)
    if len(header) != _LFH.size or header[:4] != _LFH_SIG:
        raise WorkbookError(f"zip member {entry.name}: local header missing; the file is damaged")
    fields = _LFH.unpack(header)
    name_len, extra_len = fields[9], fields[10]
    rest = src.read(name_len + extra_len)
    dst.write(header)
    dst.write(rest)
    remaining = entry.compress_size
    while remaining:
        chunk = src.read(min(remaining, 1 << 20))
        if not chunk:
            raise WorkbookError(f"zip member {entry.name}: data cut short; the file is damaged")
        dst.write(chunk)
        remaining -= len(chunk)
    if entry.flags & 0x8:
        peek = src.read(16)
        if peek[:4] == _DD_SIG:
            dst.write(peek[:16])
        else:
            dst.write(peek[:12])


def _write_deflated(
    dst: BinaryIO, entry: _CentralEntry, pieces: Iterable[bytes], tap: Tap | None = None
) -> list[int | bytes]:
    """Write a member anew, deflated as a stream with a data descriptor; return its central fields.

    ``tap`` is given every piece, in order, on the thread that deflates them.
    """
    flags = 0x8 | (entry.flags & 0x800)
    mod_time, mod_date = int(entry.fields[5]), int(entry.fields[6])
    dst.write(_LFH.pack(_LFH_SIG, 20, flags, 8, mod_time, mod_date, 0, 0, 0, len(entry.raw_name), 0))
    dst.write(entry.raw_name)
    with quick_handoffs():
        deflater = _Deflater(dst, tap)
        try:
            for piece in pieces:
                deflater.put(piece)
        except BaseException:
            deflater.stop()
            raise
        crc, compressed, size = deflater.finish()
    if not deflater.round_trip():
        raise WriteRefused(
            f"zip member {entry.name}: the deflated bytes did not inflate back to what was written; "
            "nothing was written. Run again, and please report it if it happens again"
        )
    if size >= 0xFFFFFFFF or compressed >= 0xFFFFFFFF:
        raise WorkbookError(f"zip member {entry.name}: larger than 4 GB; refused")
    dst.write(struct.pack("<4sIII", _DD_SIG, crc, compressed, size))
    fields = list(entry.fields)
    fields[2] = max(int(fields[2]), 20)  # version needed
    fields[3] = flags
    fields[4] = 8
    fields[7], fields[8], fields[9] = crc, compressed, size
    fields[11] = 0  # no extra field: the old one may carry sizes that no longer hold
    return fields


# How long a thread may keep the GIL while another waits for it, as the sheet is written. The
# deflating thread needs it for a moment between its zlib calls; at Python's default (5 ms) it
# waits behind the patching thread that long each time, and the write ends up waiting for it:
# at 0.2 ms a sheet of 100,000 rows is written in 0.74 s instead of 0.88 s (docs/performance.md).
HANDOFF_SECONDS = 0.0002


@contextlib.contextmanager
def quick_handoffs() -> Iterator[None]:
    """Python's thread switch interval at ``HANDOFF_SECONDS`` (if longer) for the block, as it was after."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, HANDOFF_SECONDS))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class _Deflater:
    """Deflates and writes a member on a second thread while the caller produces its bytes.

    zlib and file writes release the GIL, so compressing the patched sheet costs
    almost no time next to patching it. The bytes written are the same as
    compressing on the caller's thread.
    """

    def __init__(self, dst: BinaryIO, tap: Tap | None = None) -> None:
        self.dst = dst
        self.tap = tap  # also given each piece: the XML check of the sheet written, off the producing thread
        self.crc = self.size = self.compressed = 0
        self.inflater = zlib.decompressobj(-15)
        self.inflated_crc = self.inflated_size = 0
        self.error: BaseException | None = None
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=6)  # None: no more bytes
        self.thread = threading.Thread(target=self._run, name="deflate", daemon=True)
        self.thread.start()

    def put(self, piece: bytes) -> None:
        if piece:
            self.queue.put(piece)

    def finish(self) -> tuple[int, int, int]:
        """Wait for the last bytes to be written; ``(crc, compressed size, size)``."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.crc, self.compressed, self.size

    def round_trip(self) -> bool:
        """Whether what was written inflates back to exactly the bytes deflated (once ``finish`` returned)."""
        return self.inflater.eof and (self.inflated_crc, self.inflated_size) == (self.crc, self.size)

    def stop(self) -> None:
        """The caller failed: let the thread end without writing more."""
        self.error = self.error or WorkbookError("stopped")
        self.queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        compressor = zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, -15)
        while (piece := self.queue.get()) is not None:
            if self.error is not None:
                continue  # keep taking pieces so the caller never blocks
            try:
                self.crc = zlib.crc32(piece, self.crc)
                self.size += len(piece)
                self._write(compressor.compress(piece))
                if self.tap is not None:
                    self.tap(piece)
            except BaseException as exc:  # a full disk: raised again on the caller's thread
                self.error = exc
        if self.error is None:
            try:
                self._write(compressor.flush())
            except BaseException as exc:
                self.error = exc

    def _write(self, data: bytes) -> None:
        if data:
            self.dst.write(data)
            self.compressed += len(data)
            # What was written is inflated again, here on the second core, and must give back the
            # very bytes deflated (same CRC, same size): the written member needs no reading back.
            inflated = self.inflater.decompress(data)
            self.inflated_crc = zlib.crc32(inflated, self.inflated_crc)
            self.inflated_size += len(inflated)


def rewrite(
    src_path: Path, dst: BinaryIO, replacements: dict[str, Producer], taps: dict[str, Tap] | None = None
) -> None:
    """Copy the zip at ``src_path`` to ``dst``, the members named in ``replacements`` produced anew.

    ``taps`` are given every piece of the member of their name, as it is written.
    """
    taps = taps or {}
    size = src_path.stat().st_size
    with src_path.open("rb") as src:
        directory = _read_central_directory(src, size)
        if directory is None:
            _rewrite_with_zipfile(src_path, dst, replacements, taps)
            return
        entries, comment = directory
        out_entries: list[bytes] = []
        missing = set(replacements) - {e.name for e in entries}
        if missing:
            raise WorkbookError(f"zip member {sorted(missing)[0]} not found in {src_path}")
        for entry in entries:
            offset = dst.tell()
            producer = replacements.get(entry.name)
            if producer is None:
                _copy_record(src, dst, entry)
                out_entries.append(entry.pack(offset))
            else:
                fields = _write_deflated(dst, entry, producer(), taps.get(entry.name))
                fields[16] = offset
                out_entries.append(_CDH.pack(*fields) + entry.raw_name + entry.comment)
        cd_offset = dst.tell()
        for record in out_entries:
            dst.write(record)
        cd_size = dst.tell() - cd_offset
        dst.write(
            _EOCD.pack(_EOCD_SIG, 0, 0, len(out_entries), len(out_entries), cd_size, cd_offset, len(comment)) + comment
        )


def _rewrite_with_zipfile(
    src_path: Path, dst: BinaryIO, replacements: dict[str, Producer], taps: dict[str, Tap]
) -> None:
    with zipfile.ZipFile(src_path) as zin, zipfile.ZipFile(dst, "w", allowZip64=True) as zout:
        for info in zin.infolist():
            producer = replacements.get(info.filename)
            if producer is None:
                zout.writestr(info, zin.read(info), compress_type=info.compress_type)
            else:
                new_info = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                new_info.compress_type = zipfile.ZIP_DEFLATED
                new_info.external_attr = info.external_attr
                tap = taps.get(info.filename)
                with zout.open(new_info, "w", force_zip64=True) as member:
                    for piece in producer():
                        member.write(piece)
                        if tap is not None:
                            tap(piece)
