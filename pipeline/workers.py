"""Workers: parse with several processes, with the same NDJSON as one process writes.

The unit of work is a chain: one host's senderlog files that follow day by day share open
attempts and what is remembered of a message, so a chain is read by one process, from its
first file to its last. Every sibling log file is a unit of its own. Each process writes the
events of every file, and the attempts still open at the end of its chain, to files of their
own in a temporary folder; the parent copies them out in the order a single process would
have written them. Each process needs the memory of one chain's reading, whatever the corpus
size, and the parent little more than a copy buffer.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pipeline import events, reader

COPY_BUFFER = 1024 * 1024


@dataclass
class Unit:
    """Files read by one process in turn: a chain of senderlogs, or one sibling log."""

    number: int
    files: list[reader.LogFile]


@dataclass
class Written:
    """Where a unit's events are: one NDJSON file per input file, then the chain's end."""

    pieces: list[Path]
    end: Path
    stats: events.Stats


def parse(paths: list[Path], options: events.Options, stats: events.Stats, target: TextIO,
          workers: int = 1) -> None:
    """Write the NDJSON of every event to target, reading with `workers` processes."""
    if workers == 1:
        for event in events.run(paths, options, stats):
            target.write(events.to_ndjson(event))
        return

    order = list(events.sequence(reader.discover(paths, options.host, options.date)))
    units, unit_of = _units(order)

    with tempfile.TemporaryDirectory(prefix="senderlog-") as folder, \
            ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_read, unit, options, Path(folder)) for unit in units]
        done: dict[int, Written] = {}

        def written(number: int) -> Written:
            if number not in done:
                done[number] = futures[number].result()
                stats.merge(done[number].stats)
            return done[number]

        # The same order as events.run: a new chain first ends the one before it.
        chain: int | None = None
        next_piece: dict[int, int] = {}
        for index, (_, starts_chain) in enumerate(order):
            number = unit_of[index]
            if starts_chain:
                if chain is not None:
                    _copy(written(chain).end, target)
                chain = number
            piece = next_piece.get(number, 0)
            next_piece[number] = piece + 1
            _copy(written(number).pieces[piece], target)
        if chain is not None:
            _copy(written(chain).end, target)


def _units(order: list[tuple[reader.LogFile, bool]]) -> tuple[list[Unit], list[int]]:
    """The units of work and, for each file in order, the number of its unit."""
    units: list[Unit] = []
    unit_of: list[int] = []
    chain: Unit | None = None
    for file, starts_chain in order:
        if file.log != "senderlog":
            units.append(Unit(len(units), [file]))
            unit_of.append(units[-1].number)
            continue
        if starts_chain:
            chain = Unit(len(units), [])
            units.append(chain)
        chain.files.append(file)
        unit_of.append(chain.number)
    return units, unit_of


def _read(unit: Unit, options: events.Options, folder: Path) -> Written:
    """Read one unit in a worker process; its events go to NDJSON files in folder."""
    stats = events.Stats()
    chain = events.Chain(options, stats)
    pieces = []
    for number, file in enumerate(unit.files):
        pieces.append(folder / f"{unit.number}-{number}.ndjson")
        _write(chain.read(file), pieces[-1])
    end = folder / f"{unit.number}-end.ndjson"
    _write(chain.finish(), end)
    return Written(pieces, end, stats)


def _write(found, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for event in found:
            out.write(events.to_ndjson(event))


def _copy(piece: Path, target: TextIO) -> None:
    # The pieces are UTF-8 like the target: copied as bytes, not decoded and encoded again.
    target.flush()
    with open(piece, "rb") as source:
        shutil.copyfileobj(source, target.buffer, COPY_BUFFER)
    piece.unlink()
