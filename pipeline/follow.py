"""Follow: ship the senderlogs E-Post is writing, as a long-running service.

One reader thread per followed folder (or file) turns today's file into events with the same
reader, parser and assembler as `parse`, and puts them on a bounded queue; the main thread
sends them in batches with `ship.Shipper`. While the cluster is away the queue fills and the
readers wait, so memory stays bounded and nothing is dropped.

Every event is tagged with the file position the reader had reached before it was made. When
the cluster has answered for a batch, the registry records that position as acknowledged. On
start a file is read again from its beginning, so that the attempts still open (and what the
earlier attempts of a message say) are rebuilt exactly as `parse` would, and only the events
made after the acknowledged position are sent. Document ids depend only on where a record
is, and documents are sent with `create`, so whatever is sent twice after a crash is counted
as "already present": the index holds every record and attempt once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline import errors, events, reader, ship
from pipeline.cluster import ClusterError
from pipeline.registry import Identity, Registry, write_atomically
from pipeline.tail import Stopped, Tail

log = logging.getLogger("senderlog")


@dataclass
class Settings:
    """How the follower reads and sends (the options of `senderlog follow`)."""

    namespace: str
    batch_size: int
    flush_seconds: float
    poll_seconds: float
    quiet_seconds: float
    metrics_seconds: float
    metrics_file: Path | None


@dataclass
class Item:
    """What a reader hands to the sender: an event, or news of a file's position.

    `sealed` is a byte offset of the file: every event made before the reader got that far
    was handed over before this item, so once this item is acknowledged, so is `sealed`.
    """

    path: str
    generation: int
    sealed: int
    event: dict | None = None
    finished: bool = False


class Source(threading.Thread):
    """Follows one host folder (today's file, then the next day's) or one file."""

    def __init__(self, target: Path, follower: Follower):
        super().__init__(name=f"follow {target}", daemon=True)
        self.target = target
        self.follower = follower
        # The file being read: its registry key, generation and tail.
        self.reading: tuple[str, int, Tail] | None = None
        self.lines_done = 0

    def run(self) -> None:
        try:
            self._follow_all()
        except Stopped:
            return
        except Exception:
            log.exception("reading %s failed", self.target)
            self.follower.fail()

    @property
    def lines(self) -> int:
        reading = self.reading
        return self.lines_done + (reading[2].lines if reading else 0)

    def _follow_all(self) -> None:
        path, renew = self._first(), False
        while True:
            reason = self._follow(path, renew)
            path, renew = self._next(path, reason)

    def _files(self) -> list[Path]:
        if self.target.is_file() or not self.target.exists():
            return [self.target] if self.target.exists() else []
        return sorted(p for p in self.target.iterdir()
                      if p.suffix.lower() == ".log" and p.is_file())

    def _first(self) -> Path:
        """Where to begin: an unfinished file the registry knows, the file after the newest
        finished one, or else today's file (the newest)."""
        registry = self.follower.registry
        while True:
            files = self._files()
            known = [(f, registry.get(_key(f))) for f in files]
            known = [(f, entry) for f, entry in known if entry is not None]
            unfinished = [f for f, entry in known if not entry.finished]
            if unfinished:
                return unfinished[0]
            if known:
                later = [f for f in files if f.name > known[-1][0].name]
                if later:
                    return later[0]
                # The newest known file may have new content (replaced), or it stays done.
                return known[-1][0]
            if files:
                return files[-1]
            self._wait()

    def _next(self, current: Path, reason: str | None) -> tuple[Path, bool]:
        """The file to follow after `current` ended for `reason`, and whether its content
        is new (a truncated or replaced file keeps its name)."""
        while True:
            if reason in ("truncated", "replaced") and current.exists():
                return current, True
            later = [f for f in self._files() if f.name > current.name]
            if later:
                return later[0], False
            if reason == "deleted" and current.exists():
                return current, True
            self._wait()

    def _wait(self) -> None:
        if self.follower.stopping.wait(self.follower.settings.poll_seconds):
            raise Stopped()

    def _follow(self, path: Path, renew: bool) -> str | None:
        """Read one file until it is finished; returns why it ended."""
        follower = self.follower
        registry = follower.registry
        key = _key(path)
        handle = open(path, "rb")
        try:
            entry = registry.get(key)
            size = os.fstat(handle.fileno()).st_size
            same = (entry is not None and not renew and entry.identity.matches(handle)
                    and size >= entry.offset)
            if same and entry.finished:
                log.info("%s was shipped completely before", path)
                return "done"
            if same:
                generation, skip, platform = entry.generation, entry.offset, entry.platform
                if skip:
                    log.info("resuming %s: reading it again from the start to rebuild the "
                             "open attempts; %d bytes were acknowledged", path, skip)
            else:
                generation = entry.generation + 1 if entry is not None else 0
                if entry is not None:
                    log.warning("%s has new content (truncated or replaced): reading it "
                                "from the start as generation %d", path, generation)
                platform = follower.options.platform or self._platform(path, handle)
                registry.start(key, Identity.of(handle), generation, platform)
                skip = 0
            return self._read(path, handle, key, generation, skip, platform)
        finally:
            handle.close()

    def _platform(self, path: Path, handle) -> str | None:
        """The platform as `parse` judges it from the first bytes: wait for a path to show
        up in them, unless they are all there already or the file is finished."""
        told = False
        while True:
            handle.seek(0)
            head = handle.read(events.PLATFORM_SCAN_BYTES)
            found = errors.detect_platform(head)
            if found or len(head) >= events.PLATFORM_SCAN_BYTES or self._successor(path):
                return found
            if not told:
                log.info("%s: waiting for a path in the log to tell the platform (set "
                         "--platform to start at once)", path)
                told = True
            self._wait()

    def _successor(self, path: Path) -> bool:
        return any(f.name > path.name for f in self._files())

    def _read(self, path: Path, handle, key: str, generation: int, skip: int,
              platform: str | None) -> str | None:
        """Hand over the events of one file, except those made before byte `skip`."""
        follower = self.follower
        tail = Tail(path, handle, Identity.of(handle), poll=follower.settings.poll_seconds,
                    quiet=follower.settings.quiet_seconds, stopping=follower.stopping,
                    successor=lambda: self._successor(path),
                    on_quiet=lambda position: follower.put(Item(key, generation, position)),
                    on_identity=lambda identity: follower.registry.identify(key, identity))
        self.reading = (key, generation, tail)
        file = reader.describe(path, follower.options.host, follower.options.date)
        chain = events.Chain(follower.options, events.Stats())

        for event in chain.events(file, tail, platform):
            # Events made before the acknowledged position are in the cluster already.
            if tail.position >= skip:
                follower.put(Item(key, generation, tail.sealed, event))
        for event in chain.finish():
            follower.put(Item(key, generation, tail.sealed, event))

        log.info("%s finished (%s) at byte %d", path, tail.reason, tail.position)
        follower.put(Item(key, generation, tail.position, finished=tail.reason != "truncated"))
        self.reading = None
        self.lines_done += tail.lines
        return tail.reason


def _key(path: Path) -> str:
    return str(path.resolve())


def sources(paths: list[Path]) -> list[Path]:
    """What to follow: files, host folders (holding .log files), or folders of host folders."""
    found = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
        if path.is_file() or any(p.suffix.lower() == ".log" for p in path.iterdir()):
            found.append(path)
            continue
        hosts = sorted(p for p in path.iterdir() if p.is_dir())
        if not hosts:
            raise FileNotFoundError(f"no .log files or host folders in {path}")
        found.extend(hosts)
    return found


class Follower:
    """The readers, the queue between them and the cluster, and the metrics."""

    def __init__(self, paths: list[Path], options: events.Options, shipper: ship.Shipper,
                 registry: Registry, settings: Settings, stopping: threading.Event):
        self.options = options
        self.shipper = shipper
        self.registry = registry
        self.settings = settings
        self.stopping = stopping
        self.failed = False
        self.dump = threading.Event()
        # Two batches in flight at most: one being sent, one being filled by the readers.
        self.queue: queue.Queue[Item] = queue.Queue(maxsize=2 * settings.batch_size)
        self.sources = [Source(path, self) for path in sources(paths)]
        self.unsent = 0

    def put(self, item: Item) -> None:
        """Hand an item to the sender; waits while the queue is full (backpressure)."""
        while True:
            if self.stopping.is_set():
                raise Stopped()
            try:
                self.queue.put(item, timeout=self.settings.poll_seconds)
                return
            except queue.Full:
                continue

    def fail(self) -> None:
        self.failed = True
        self.stopping.set()

    def run(self) -> int:
        """Follow until SIGTERM or SIGINT; the exit status."""
        self._handle_signals()
        for source in self.sources:
            log.info("following %s", source.target)
            source.start()
        reporter = threading.Thread(target=self._report, name="metrics", daemon=True)
        reporter.start()

        batch: list[Item] = []
        documents = 0
        started = time.monotonic()
        while not self.stopping.is_set():
            try:
                item = self.queue.get(timeout=self.settings.poll_seconds)
            except queue.Empty:
                item = None
            if item is not None:
                if not batch:
                    started = time.monotonic()
                batch.append(item)
                documents += item.event is not None
            if batch and (item is None or documents >= self.settings.batch_size
                          or time.monotonic() - started >= self.settings.flush_seconds):
                self._send(batch)
                batch, documents = [], 0

        self._shut_down(batch)
        self.dump.set()
        reporter.join()
        self.write_metrics()
        return 1 if self.failed else 0

    def _send(self, batch: list[Item]) -> None:
        """Send a batch's events; once the cluster has answered, acknowledge its positions."""
        documents = [_document(item, self.settings.namespace) for item in batch
                     if item.event is not None]
        try:
            if documents:
                self.shipper.send(documents)
        except ClusterError as error:
            # Only when stopping: the events are made again from the file on the next start.
            self.unsent += len(documents)
            log.warning("not sent at shutdown (%s): %d events will be read again on start",
                        error, len(documents))
            return

        for item in batch:
            self.registry.acknowledge(item.path, item.generation, item.sealed, item.finished)
        self.registry.save()

    def _shut_down(self, batch: list[Item]) -> None:
        log.info("stopping: sending what was read, saving the registry")
        for source in self.sources:
            source.join(timeout=10)
        while True:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        unsent = sum(1 for item in batch if item.event is not None)
        if self.unsent:
            # The cluster did not answer a moment ago: do not hold up the shutdown again.
            self.unsent += unsent
            log.warning("%d more events will be read again on start", unsent)
        elif batch:
            self._send(batch)
        self.registry.save()

    def _handle_signals(self) -> None:
        def stop(number, _frame):
            log.warning("%s received", signal.Signals(number).name)
            self.stopping.set()

        for name in ("SIGTERM", "SIGINT", "SIGBREAK"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), stop)
        if hasattr(signal, "SIGUSR1"):
            signal.signal(signal.SIGUSR1, lambda _number, _frame: self.dump.set())

    # --- metrics -------------------------------------------------------------------------

    def metrics(self) -> dict:
        """The counters an operator watches, as one JSON-ready dict."""
        stats = self.shipper.stats
        files = []
        for source in self.sources:
            if source.reading is None:
                continue
            key, generation, tail = source.reading
            entry = self.registry.get(key)
            acknowledged = entry.offset if entry and entry.generation == generation else 0
            lag_bytes, lag_seconds = tail.lag(acknowledged)
            files.append({"path": key, "generation": generation, "read": tail.position,
                          "acknowledged": acknowledged, "size": tail.scanned,
                          "lag_bytes": lag_bytes, "lag_seconds": lag_seconds})
        return {
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "lines_read": sum(source.lines for source in self.sources),
            "events_shipped": stats.indexed,
            "events_already_present": stats.duplicates,
            "events_refused": stats.failed,
            "events_unsent_at_shutdown": self.unsent,
            "retries": stats.retries,
            "failures": stats.failed + self.unsent,
            "queued": self.queue.qsize(),
            "lag_bytes": sum(f["lag_bytes"] for f in files),
            "lag_seconds": max((f["lag_seconds"] for f in files), default=0.0),
            "files": files,
        }

    def write_metrics(self) -> dict:
        """Log the counters, and rewrite the metrics file (atomically) if there is one."""
        found = self.metrics()
        log.info("lines read %d, events shipped %d (%d already present, %d refused), lag %d "
                 "bytes / %.1f s, retries %d", found["lines_read"], found["events_shipped"],
                 found["events_already_present"], found["events_refused"], found["lag_bytes"],
                 found["lag_seconds"], found["retries"])
        target = self.settings.metrics_file
        if target is not None:
            write_atomically(target, json.dumps(found, indent=1))
        return found

    def _report(self) -> None:
        while not self.stopping.is_set():
            self.dump.wait(self.settings.metrics_seconds)
            self.dump.clear()
            if not self.stopping.is_set():
                self.write_metrics()


def _document(item: Item, namespace: str) -> ship.Document:
    document = next(ship.documents([item.event], namespace))
    if item.generation:
        # New content under an old name must not take the ids of what was there before.
        document.id = hashlib.sha1(f"{document.id}|{item.generation}".encode()).hexdigest()
    return document
