"""Measurements that run in a child process of the benchmark, one per process.

Each prints one JSON line: what it did, how long it took and the peak resident memory of
the process (and of its own worker processes), so that one measurement's memory never
counts in another's.

    python -m bench.measure parse PATH... --workers N
    python -m bench.measure naive PATH --lines N
    python -m bench.measure cores --workers N
"""

from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
import pygrok

from pipeline import events, grok, records, workers as parallel

SPIN_LOOPS = 20_000_000
PREFIX = re.compile(rb"^\[\d\d:\d\d:\d\d(?::\d\d\d)?\] ")


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory in MB of this process and of its largest child process.

    Linux carries a process's ru_maxrss over exec, so this process's own peak would start at
    that of the benchmark that started it; VmHWM belongs to the new program alone.
    """
    status = Path("/proc/self/status").read_text()
    own = int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return round(own, 1), round(children, 1)


@click.group()
def main() -> None:
    """One measurement per call; the result is a JSON line on standard output."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--workers", default=1, show_default=True)
def parse(paths, workers) -> None:
    """Parse, diagnose and serialise to NDJSON (written to /dev/null), as `senderlog parse`."""
    options, stats = events.Options(), events.Stats()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    with open(os.devnull, "w", encoding="utf-8") as target:
        parallel.parse(list(paths), options, stats, target, workers)
    seconds = time.perf_counter() - started

    own, children = peak_rss_mb()
    _report(records=stats.records, attempts=stats.attempts, unparsed=stats.unparsed,
            seconds=seconds, cpu_seconds=_cpu_seconds() - cpu_before, rss_mb=own,
            worker_rss_mb=children)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished worker processes."""
    return sum(usage.ru_utime + usage.ru_stime for usage in (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN)))


@main.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--lines", default=20_000, show_default=True)
def naive(path, lines) -> None:
    """Every senderlog pattern tried in turn with plain pygrok on each line."""
    by_head, always = records.dispatch("senderlog")
    names = list(dict.fromkeys(name for pairs in (*by_head.values(), always)
                               for name, _kind in pairs))
    known = grok.definitions()
    matchers = [pygrok.Grok("^%{" + name + "}$", custom_patterns=known) for name in names]

    texts = []
    with open(path, "rb") as stream:
        for raw in stream:
            texts.append(PREFIX.sub(b"", raw.rstrip(b"\r\n")).decode("cp932", "replace"))
            if len(texts) >= lines:
                break

    matched = 0
    started = time.perf_counter()
    for text in texts:
        for matcher in matchers:
            if matcher.match(text) is not None:
                matched += 1
                break
    seconds = time.perf_counter() - started

    # The parser's own classification of the same lines: head word, then its candidates.
    records.shapes("senderlog")
    started = time.perf_counter()
    classified = sum(records.classify(text, "senderlog")[1] is not None for text in texts)
    dispatch_seconds = time.perf_counter() - started
    _report(lines=len(texts), matched=matched, patterns=len(matchers), seconds=seconds,
            dispatch_matched=classified, dispatch_seconds=dispatch_seconds)


@main.command()
@click.option("--workers", default=2, show_default=True)
def cores(workers) -> None:
    """How much faster `workers` busy processes finish together than one after the other.

    On a machine shared with other work this is what --workers can get at best.
    """
    one = _spin(SPIN_LOOPS)
    with ProcessPoolExecutor(workers) as pool:
        started = time.perf_counter()
        list(pool.map(_spin, [SPIN_LOOPS] * workers))
        together = time.perf_counter() - started
    _report(seconds=together, speedup=workers * one / together)


def _spin(loops: int) -> float:
    started = time.perf_counter()
    total = 0
    for number in range(loops):
        total += number
    return time.perf_counter() - started


def _report(**values) -> None:
    sys.stdout.write(json.dumps(values) + "\n")


if __name__ == "__main__":
    main()
