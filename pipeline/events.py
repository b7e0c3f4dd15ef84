"""Events: the whole job from paths to ECS events, with the counts a run reports.

Files are read in order; the state that spans files (open attempts, what is remembered of a
message) is kept while the files of one host follow day by day, and started afresh otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline import ecs, errors, reader, records
from pipeline.attempts import Assembler, Attempt
from pipeline.diagnosis import diagnose

log = logging.getLogger("senderlog")

PLATFORM_SCAN_BYTES = 256 * 1024


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
    dates_guessed: list[str] = field(default_factory=list)

    def count(self, event: dict) -> None:
        """Account for one event on its way out."""
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


def run(paths: list[Path], options: Options, stats: Stats) -> Iterator[dict]:
    """Every event of the given files and folders, records and attempts interleaved."""
    assembler = Assembler()
    previous: reader.LogFile | None = None
    platforms: dict[Path, str | None] = {}

    for file in reader.discover(paths, options.host, options.date):
        stats.files += 1
        stats.logs[file.log] += 1
        if file.date_source == "modification time":
            stats.dates_guessed.append(str(file.path))
            log.warning("%s: no date in the file name; using its modification date %s",
                        file.path, file.date)

        if file.log == "senderlog" and not _continues(previous, file):
            yield from finish(assembler, options, platforms)
            assembler = Assembler()
        if file.log == "senderlog":
            previous = file

        with open(file.path, "rb") as stream:
            platform = options.platform or errors.detect_platform(
                stream.read(PLATFORM_SCAN_BYTES))
            stream.seek(0)
            yield from file_events(file, stream, platform, assembler, options, platforms)

    yield from finish(assembler, options, platforms)


def file_events(file: reader.LogFile, stream, platform: str | None, assembler: Assembler,
                options: Options, platforms: dict) -> Iterator[dict]:
    """The events of one file read from `stream`; attempts still open stay in `assembler`."""
    platforms[file.path] = platform
    log.info("reading %s (%s, host %s, platform %s)", file.path, file.log,
             file.host or "unknown", platform or "unknown")

    last_time = None
    split = reader.records if file.log == "senderlog" else reader.lines
    for record in records.parse(split(stream), file):
        event = ecs.record_event(record, options.timezone, platform, last_time)
        if record.time and event.get("@timestamp"):
            last_time = record.time
        yield event
        if file.log == "senderlog":
            for attempt in assembler.feed(record):
                yield _attempt_event(attempt, assembler, options, platforms)


def finish(assembler: Assembler, options: Options, platforms: dict) -> Iterator[dict]:
    """The events of the attempts still open or waiting: the input has ended."""
    for attempt in assembler.flush():
        yield _attempt_event(attempt, assembler, options, platforms)


def _continues(previous: reader.LogFile | None, file: reader.LogFile) -> bool:
    """A file continues the previous one when it is the same host's next day (or hour)."""
    if previous is None or previous.host != file.host or file.host is None:
        return False
    return previous.date is not None and file.date is not None and (
        dt.timedelta(0) <= file.date - previous.date <= dt.timedelta(days=1)
    ) and previous.path != file.path


def _attempt_event(attempt: Attempt, assembler: Assembler, options: Options,
                   platforms: dict) -> dict:
    platform = platforms.get(attempt.first.file.path)
    found = diagnose(attempt, assembler, platform)
    return ecs.attempt_event(attempt, found, options.timezone, platform)
