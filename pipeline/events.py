"""Events: the whole job from paths to ECS events, with the counts a run reports.

Files are read in order; the state that spans files (open attempts, what is remembered of a
message) is kept while the files of one host follow day by day, and started afresh otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline import ecs, errors, reader, records
from pipeline.attempts import Assembler, Attempt
from pipeline.diagnosis import diagnose

log = logging.getLogger("senderlog")

PLATFORM_SCAN_BYTES = 256 * 1024
# One encoder for every event: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


@dataclass
class Options:
    """What the user may set for a run."""

    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Tokyo"))
    platform: str | None = None
    host: str | None = None
    date: dt.date | None = None


@dataclass
class Stats:
    """Counts of one run, for the summary."""

    files: int = 0
    records: int = 0
    attempts: int = 0
    unparsed: int = 0
    truncated: int = 0
    datasets: Counter = field(default_factory=Counter)
    logs: Counter = field(default_factory=Counter)
    causes: Counter = field(default_factory=Counter)
    failing_domains: Counter = field(default_factory=Counter)
    dates_guessed: int = 0
    # Files outside a senderlog/<computer name>/ folder, read without --host.
    hostless: int = 0

    def count(self, event: dict) -> None:
        """Account for one event on its way out (`Chain` does, for every event it makes)."""
        dataset = event["event"]["dataset"]
        self.datasets[dataset] += 1
        if dataset == "epost.delivery":
            self.attempts += 1
            delivery = event["epost"]["delivery"]
            self.causes[(delivery["cause"], delivery["side"])] += 1
            domain = event.get("destination", {}).get("domain")
            if event["event"]["outcome"] == "failure" and domain:
                self.failing_domains[domain] += 1
            return

        self.records += 1
        if ecs.FAILURE_TAG in event.get("tags", ()):
            self.unparsed += 1
        if ecs.TRUNCATED_TAG in event.get("tags", ()):
            self.truncated += 1

    def merge(self, other: Stats) -> None:
        """Add the counts of another part of the same run."""
        for name in (f.name for f in fields(self)):
            mine = getattr(self, name)
            if isinstance(mine, Counter):
                mine.update(getattr(other, name))
            else:
                setattr(self, name, mine + getattr(other, name))


def to_ndjson(event: dict) -> str:
    """One NDJSON line: keys sorted, non-ASCII text as it is."""
    return _ENCODER.encode(event) + "\n"


def run(paths: list[Path], options: Options, stats: Stats) -> Iterator[dict]:
    """Every event of the given files and folders, records and attempts interleaved; each is
    counted in `stats` as it is handed out."""
    chain = Chain(options, stats)
    for file, starts_chain in sequence(reader.discover(paths, options.host, options.date)):
        if starts_chain:
            yield from chain.finish()
            chain = Chain(options, stats)
        yield from chain.read(file)
    yield from chain.finish()


def sequence(files: Iterable[reader.LogFile]) -> Iterator[tuple[reader.LogFile, bool]]:
    """Each file, and whether it starts a new chain of one host's consecutive senderlogs.

    Sibling logs neither start nor break a chain.
    """
    previous: reader.LogFile | None = None
    for file in files:
        if file.log != "senderlog":
            yield file, False
            continue
        yield file, not _continues(previous, file)
        previous = file


class Chain:
    """Reads the files of one chain, keeping the attempts that span them."""

    def __init__(self, options: Options, stats: Stats):
        self.options = options
        self.stats = stats
        self.assembler = Assembler()
        self.platforms: dict[Path, str | None] = {}

    def read(self, file: reader.LogFile) -> Iterator[dict]:
        """The events of one file: its records, and the attempts they complete."""
        options, stats = self.options, self.stats
        stats.files += 1
        stats.logs[file.log] += 1
        if file.date_source == "modification time":
            stats.dates_guessed += 1
            log.warning("%s: no date in the file name; using its modification date %s",
                        file.path, file.date)
        if file.host is None:
            stats.hostless += 1

        with open(file.path, "rb") as stream:
            platform = options.platform or errors.detect_platform(
                stream.read(PLATFORM_SCAN_BYTES))
            stream.seek(0)
            yield from self.events(file, stream, platform)

    def events(self, file: reader.LogFile, stream, platform: str | None) -> Iterator[dict]:
        """The events of one file read from `stream`, which may be a file still growing."""
        self.platforms[file.path] = platform
        log.info("reading %s (%s, host %s, platform %s)", file.path, file.log,
                 file.host or "unknown", platform or "unknown")

        last_time = None
        split = reader.records if file.log == "senderlog" else reader.lines
        for record in records.parse(split(stream), file):
            event = ecs.record_event(record, self.options.timezone, platform, last_time)
            if record.time and event.get("@timestamp"):
                last_time = record.time
            self.stats.count(event)
            yield event
            if file.log == "senderlog":
                for attempt in self.assembler.feed(record):
                    yield self._attempt_event(attempt)

    def finish(self) -> Iterator[dict]:
        """The attempts still open at the end of the chain."""
        for attempt in self.assembler.flush():
            yield self._attempt_event(attempt)

    def _attempt_event(self, attempt: Attempt) -> dict:
        platform = self.platforms.get(attempt.first.file.path)
        found = diagnose(attempt, self.assembler, platform)
        event = ecs.attempt_event(attempt, found, self.options.timezone, platform)
        self.stats.count(event)
        return event


def _continues(previous: reader.LogFile | None, file: reader.LogFile) -> bool:
    """A file continues the previous one when it is the same host's next day (or hour)."""
    if previous is None or previous.host != file.host or file.host is None:
        return False
    return previous.date is not None and file.date is not None and (
        dt.timedelta(0) <= file.date - previous.date <= dt.timedelta(days=1)
    ) and previous.path != file.path
