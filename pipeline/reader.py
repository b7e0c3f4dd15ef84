"""Reader: from E-Post log files on disk to raw records with byte offsets.

E-Post writes one *record* per call of its trace function, which is not the same as one line:
records without a newline share a line with the next record (its "[hh:mm:ss:mmm] " prefix then
stands in the middle of the line), multi-line SMTP replies continue on lines without a prefix,
and some records leave an empty line behind. The reader undoes this framing on bytes, so that
offsets stay exact, and leaves decoding and classification to `records`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# The longest record text kept; the rest of a longer line is counted, not kept.
MAX_RECORD_BYTES = 64 * 1024

PREFIX = re.compile(rb"\[(\d\d):(\d\d):(\d\d)(?::(\d\d\d))?\] ")

# A line without prefix that still starts a record: the prefix-less form of old builds.
BARE_RECORD_START = re.compile(rb"\[(?:B\d{10}[^\]\s]*| +)?\][\[ :]")

# A mid-line prefix starts a new record only after the records that E-Post writes without a
# final newline (format reference 3.4); anywhere else it is part of a remote reply.
OPEN_ENDING = re.compile(
    rb"(?:SendMailMess:|stoped in processing\.|overflow of token\. \(size=-?\d+\)"
    rb"|the stopping happened\.|Cache Success\.|\" vs\. \"[^\"]*\"\) )$"
)
SENDMAILMESS_NEXT = re.compile(rb"\[[^\]\s]*\] SendMailMess:")

LOG_KINDS = ("senderlog", "outlog", "outlocallog", "faillog", "inlog", "acceptlog", "receivelog")
FILE_DATE = re.compile(r"^(\d{2})(\d{2})(\d{2})(?:_(\d{2}))?$")


@dataclass(frozen=True)
class LogFile:
    """One log file with what its path tells: the log it belongs to, the host, the date."""

    path: Path
    log: str
    host: str | None
    date: dt.date | None
    date_source: str


@dataclass
class RawRecord:
    """The bytes of one record, its prefix time and where it starts in the file."""

    offset: int
    line: int
    time: str | None
    prefix: bytes
    body: bytearray
    mid_line: bool = False
    truncated_bytes: int = 0
    empty_lines: int = 0


def discover(
    paths: list[Path], host: str | None = None, date: dt.date | None = None
) -> Iterator[LogFile]:
    """Yield the log files below the given files and folders, oldest date first per folder."""
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")

        if path.is_file():
            yield describe(path, host, date)
            continue

        found = sorted(
            (Path(root) / name for root, _, names in os.walk(path) for name in names
             if name.lower().endswith(".log")),
        )
        for file in found:
            yield describe(file, host, date)


def describe(path: Path, host: str | None, date: dt.date | None) -> LogFile:
    """Read the log kind, host and date from a path such as senderlog/MAIL01/251203.log."""
    parts = path.resolve().parts[:-1]
    log, folder_host = "senderlog", None
    for index in range(len(parts) - 1, -1, -1):
        if parts[index].lower() in LOG_KINDS:
            log = parts[index].lower()
            if index < len(parts) - 1:
                folder_host = parts[index + 1]
            break

    file_date, source = None, "none"
    match = FILE_DATE.match(path.stem)
    if match:
        year, month, day = (int(g) for g in match.groups()[:3])
        try:
            file_date, source = dt.date(2000 + year, month, day), "file name"
        except ValueError:
            file_date = None
    if file_date is None and date is not None:
        file_date, source = date, "option"
    if file_date is None:
        mtime = dt.datetime.fromtimestamp(path.stat().st_mtime)
        file_date, source = mtime.date(), "modification time"

    return LogFile(path, log, host or folder_host, file_date, source)


def records(stream: BinaryIO, start: int = 0) -> Iterator[RawRecord]:
    """Split a senderlog byte stream into records (format reference, section 3.8).

    A live stream (`tail.Tail`) may answer `None` instead of a line: the writer has gone quiet,
    so the record in hand is taken as complete instead of waiting for the next one.
    """
    current: RawRecord | None = None
    offset = start
    number = 0
    quiet = False

    for line, skipped, size in physical_lines(stream):
        if line is None:
            if current is not None:
                yield current
            current, quiet = None, True
            continue

        number += 1
        line_offset = offset
        offset += size

        content = line.rstrip(b"\r")
        if not content:
            if current is not None:
                current.empty_lines += 1
                continue
            if quiet:
                # The empty line a record leaves behind, written after the pause.
                continue
            content = b""
        quiet = False

        for piece_offset, prefix, piece, mid_line in _split(content, current):
            at = line_offset + piece_offset
            if prefix is None and not mid_line and current is not None and piece_offset == 0:
                if not BARE_RECORD_START.match(piece):
                    # Empty lines inside a multi-line record belong to its text.
                    _append(current, b"\n" * (current.empty_lines + 1) + piece)
                    current.empty_lines = 0
                    continue

            if current is not None:
                yield current
            time = _time_text(prefix) if prefix else None
            current = RawRecord(at, number, time, prefix or b"", bytearray(), mid_line=mid_line)
            _append(current, piece)

        if current is not None:
            current.truncated_bytes += skipped

    if current is not None:
        yield current


def lines(stream: BinaryIO, start: int = 0) -> Iterator[RawRecord]:
    """One record per line: the framing of outlog, faillog and the other sibling logs."""
    offset = start
    for number, (line, skipped, size) in enumerate(physical_lines(stream), 1):
        if line is None:
            # A live stream gone quiet: each line is a whole record already.
            continue
        content = line.rstrip(b"\r")
        if content:
            yield RawRecord(offset, number, None, b"", bytearray(content),
                            truncated_bytes=skipped)
        offset += size


def physical_lines(stream: BinaryIO) -> Iterator[tuple[bytes, int, int]]:
    """Yield (line without LF, bytes dropped from it, bytes it took in the file).

    A line longer than MAX_RECORD_BYTES is cut; what is dropped is counted so that offsets
    stay right and the event can say it was cut. A last line without LF is still yielded.
    A live stream's `None` (nothing new for a while) is passed on as (None, 0, 0).
    """
    while True:
        line = stream.readline(MAX_RECORD_BYTES)
        if line is None:
            yield None, 0, 0
            continue
        if not line:
            return

        size = len(line)
        skipped = 0
        while not line.endswith(b"\n"):
            rest = stream.readline(MAX_RECORD_BYTES)
            if not rest:
                break
            size += len(rest)
            skipped += len(rest) - (1 if rest.endswith(b"\n") else 0)
            if rest.endswith(b"\n"):
                break

        yield line.rstrip(b"\n") if line.endswith(b"\n") else line, skipped, size


def _split(content: bytes, current: RawRecord | None):
    """Cut one physical line at every prefix that starts a record.

    Yields (offset in line, prefix or None, body, began mid-line).
    """
    start = 0
    prefix = None
    body_start = 0
    match = PREFIX.match(content)
    if match:
        prefix, body_start = match.group(0), match.end()

    pending_text = bytes(current.body) if (current is not None and prefix is None) else b""
    position = body_start
    while True:
        cut = _next_cut(content, position, body_start, pending_text)
        if cut is None:
            yield start, prefix, content[body_start:], start > 0
            return

        yield start, prefix, content[body_start:cut.start()], start > 0
        start, prefix, body_start = cut.start(), cut.group(0), cut.end()
        pending_text = b""
        position = body_start


def _next_cut(content: bytes, position: int, body_start: int, pending: bytes):
    for match in PREFIX.finditer(content, position):
        before = pending + content[body_start:match.start()]
        if OPEN_ENDING.search(before) or SENDMAILMESS_NEXT.match(content, match.end()):
            return match
    return None


def _append(record: RawRecord, data: bytes) -> None:
    room = MAX_RECORD_BYTES - len(record.body)
    if len(data) > room:
        record.truncated_bytes += len(data) - max(room, 0)
        data = data[:max(room, 0)]
    record.body += data


def _time_text(prefix: bytes) -> str:
    return prefix[1:-2].decode("ascii")
