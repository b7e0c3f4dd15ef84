"""Records: decode, redact and classify the raw records of the reader.

Each record is matched against the grok patterns of its head word (data/records.yaml) and
gets a kind and the captures of its pattern. A reply half `[id] SendMailMess:` is joined with
the reply text that follows it, so that one record carries the message id and the reply. A
record that matches no pattern is kept as kind `unknown` with its text.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from pipeline import grok
from pipeline.reader import LogFile, RawRecord
from pipeline.redact import redact

DATA = Path(__file__).resolve().parent / "data" / "records.yaml"

HEAD = re.compile(r"^:?(?:(?:\[[^\]\n]*\]|\([^)\n]*\))(?:->\[[^\]\n]*\])?[: ]?)*([^\s:(=\[.,]+)")
REPLY_HALF = "EPOST_SL_SMTP_REPLY_EMPTY"
# Non-ASCII bytes with the ASCII trail bytes a CP932 character may end in.
HIGH_RUN = re.compile(rb"(?:[\x80-\xff][\x40-\x7e]?)+")
# Records of the SMTP dialogue that can never be the text of a reply.
DIALOGUE = frozenset({"smtp_command", "smtp_start", "smtp_end"})
# How many records an empty reply half may wait for its text when threads interleave.
HALF_PATIENCE = 64


@dataclass
class Record:
    """One classified record: where it is, its redacted text, its kind and its captures."""

    file: LogFile
    offset: int
    line: int
    time: str | None
    original: str
    body: str
    kind: str = "unknown"
    pattern: str | None = None
    captures: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    truncated_bytes: int = 0
    mid_line: bool = False

    @property
    def message_id(self) -> str | None:
        """The id in the record's first bracket, if it is a message id."""
        value = self.captures.get("message_id")
        return value if value and value.startswith("B") else None


def _mixed_decode(error: UnicodeDecodeError) -> tuple[str, int]:
    """Decode what UTF-8 could not as CP932, and escape what neither can (`\\x81`)."""
    data = error.object
    for width in (2, 1):
        piece = data[error.start:error.start + width]
        if len(piece) < width:
            continue
        try:
            return piece.decode("cp932"), error.start + width
        except UnicodeDecodeError:
            continue
    return f"\\x{data[error.start]:02x}", error.start + 1


codecs.register_error("epost-mixed", _mixed_decode)


def decode(data: bytes) -> tuple[str, str | None]:
    """Text of a record and the encoding it was read in (None for plain ASCII); never fails.

    One line can mix text copied from UTF-8 and CP932 peers, so every run of non-ASCII bytes
    is read on its own: strict UTF-8, else strict CP932, else both with escapes (`\\x81`).
    """
    if data.isascii():
        return data.decode("ascii"), None

    parts, found, position = [], set(), 0
    for run in HIGH_RUN.finditer(data):
        parts.append(data[position:run.start()].decode("ascii"))
        position = run.end()
        for encoding in ("utf-8", "cp932"):
            try:
                parts.append(run.group().decode(encoding))
                found.add(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            parts.append(run.group().decode("utf-8", errors="epost-mixed"))
            found.add("mixed")
    parts.append(data[position:].decode("ascii"))
    return "".join(parts), found.pop() if len(found) == 1 else "mixed"


Pair = tuple[str, str]


@dataclass(frozen=True)
class Shape:
    """A pattern of data/records.yaml with its compiled matcher."""

    kind: str
    matcher: grok.Matcher


@cache
def dispatch(log: str) -> tuple[dict[str, tuple[Pair, ...]], tuple[Pair, ...]]:
    """(pattern, kind) pairs of one log: by head word, and those tried for every record.

    The ingest pipeline and the Logstash filters are generated from the same table.
    """
    entries = yaml.safe_load(DATA.read_text(encoding="utf-8"))[log]
    by_head: dict[str, list[Pair]] = {}
    always: list[Pair] = []
    for entry in entries:
        pair = (entry["pattern"], entry["kind"])
        heads = entry.get("head") or []
        if not heads:
            always.append(pair)
        for head in heads:
            by_head.setdefault(str(head), []).append(pair)
    return {head: tuple(found) for head, found in by_head.items()}, tuple(always)


@cache
def shapes(log: str) -> tuple[dict[str, tuple[Shape, ...]], tuple[Shape, ...]]:
    """Compiled patterns of one log: by head word, and those tried for every record."""
    by_head, always = dispatch(log)

    def compiled(pairs):
        return tuple(Shape(kind, grok.matcher(pattern)) for pattern, kind in pairs)

    return {head: compiled(pairs) for head, pairs in by_head.items()}, compiled(always)


def classify(body: str, log: str) -> tuple[str, str | None, dict[str, str]]:
    """The kind, pattern name and captures of a record body; ("unknown", None, {}) if none."""
    by_head, always = shapes(log)
    head = HEAD.match(body)
    candidates = by_head.get(head.group(1), ()) if head else ()
    for shape in (*candidates, *always):
        captures = shape.matcher.match(body)
        if captures is not None:
            return shape.kind, shape.matcher.name, captures
    return "unknown", None, {}


def build(raw: RawRecord, file: LogFile) -> Record:
    """Decode, redact and classify one raw record."""
    text, encoding = decode(bytes(raw.prefix + raw.body))
    original = redact(text)
    body = original[len(raw.prefix):]
    kind, pattern, captures = classify(body, file.log)
    return Record(
        file, raw.offset, raw.line, raw.time, original, body, kind, pattern, captures,
        encoding, raw.truncated_bytes, raw.mid_line,
    )


def parse(raws: Iterable[RawRecord], file: LogFile) -> Iterator[Record]:
    """Classified records of one file, with reply halves joined to their reply text."""
    halves: list[tuple[Record, int]] = []

    for raw in raws:
        record = build(raw, file)

        if halves and _is_reply_text(record):
            # Text on the same line answers the half just before it; text on a line of its
            # own (threads interleaved) answers the oldest half still waiting.
            index = -1 if record.mid_line else 0
            half, _ = halves.pop(index)
            yield _join(half, record, file)
            continue

        if halves and record.message_id and record.kind in DIALOGUE | {"smtp_reply"}:
            for waiting, seen in list(halves):
                if waiting.message_id == record.message_id:
                    halves.remove((waiting, seen))
                    yield waiting

        if record.pattern == REPLY_HALF:
            halves.append((record, 0))
            continue

        yield record
        halves = [(half, seen + 1) for half, seen in halves]
        while halves and halves[0][1] > HALF_PATIENCE:
            yield halves.pop(0)[0]

    yield from (half for half, _ in halves)


def _is_reply_text(record: Record) -> bool:
    if record.kind in DIALOGUE or record.pattern == REPLY_HALF:
        return False
    if record.mid_line:
        return True
    return record.kind == "unknown" or record.pattern == "EPOST_SL_ORPHAN_REPLY"


def _join(half: Record, text: Record, file: LogFile) -> Record:
    """One reply record from a reply half and the reply text that followed it."""
    reply_time = text.time or half.time or "00:00:00"
    body = f"{half.body}[{reply_time}] {text.body}"
    if text.mid_line and text.offset == half.offset + len(half.original.encode()):
        original = half.original + text.original
    else:
        original = f"{half.original}\n{text.original}"

    kind, pattern, captures = classify(body, file.log)
    encodings = {half.encoding, text.encoding} - {None}
    return Record(
        file, half.offset, half.line, half.time, original, body, kind, pattern, captures,
        encodings.pop() if len(encodings) == 1 else ("mixed" if encodings else None),
        half.truncated_bytes + text.truncated_bytes, half.mid_line,
    )
