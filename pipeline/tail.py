"""Tail: a log file that E-Post is still writing, read as a stream of complete lines.

`Tail` hands the reader (`reader.records`) only lines that end with LF: a line without one is
still being written. When the file goes quiet it answers `None` once, so that the last record
is taken as complete. It ends the stream when the file is finished: the next day's file exists
(or the file was deleted or replaced) and nothing was added for the quiet time, in which case
a last line without LF is handed out too, or the file was truncated, in which case what was
cut away cannot be read any more.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from pipeline.registry import FINGERPRINT_BYTES, Identity

log = logging.getLogger("senderlog")

SCAN_BYTES = 1024 * 1024
# Growth is remembered at most this often, for the lag in seconds.
GROWTH_STEP_SECONDS = 1.0


class Stopped(Exception):
    """The follower is shutting down; the stream is abandoned, not finished."""


class Tail:
    """One open log file, read from its beginning."""

    def __init__(self, path: Path, handle, identity: Identity, *, poll: float,
                 quiet: float, stopping: threading.Event,
                 successor: Callable[[], bool] = lambda: False,
                 on_quiet: Callable[[int], None] = lambda position: None,
                 on_identity: Callable[[Identity], None] = lambda identity: None):
        self.path = path
        self.handle = handle
        self.identity = identity
        self.poll = poll
        self.quiet = quiet
        self.stopping = stopping
        self.successor = successor
        self.on_quiet = on_quiet
        self.on_identity = on_identity

        self.position = 0   # the next byte handed out
        self.sealed = 0     # the position when the reader last asked for a line
        self.complete = 0   # the bytes before this are whole lines
        self.scanned = 0    # how far the file has been looked at
        self.lines = 0
        self.reason: str | None = None
        self.finished = False
        self.changed = time.monotonic()
        self.told_quiet = True
        self.growth: deque[tuple[int, float]] = deque()
        self.growth_lock = threading.Lock()

    def readline(self, limit: int = -1) -> bytes | None:
        """A whole line (or `limit` bytes of one), None once when quiet, b"" at the end."""
        self.sealed = self.position
        while self.position >= self.complete:
            if self.finished:
                return b""
            if self._scan():
                continue
            if self._ended():
                continue
            if not self.told_quiet and time.monotonic() - self.changed >= self.quiet:
                self.told_quiet = True
                self.on_quiet(self.position)
                return None
            if self.stopping.wait(self.poll):
                raise Stopped()

        room = self.complete - self.position
        self.handle.seek(self.position)
        data = self.handle.readline(min(limit, room) if limit > 0 else room)
        self.position += len(data)
        if data.endswith(b"\n"):
            self.lines += 1
        self.told_quiet = False
        return data

    def lag(self, acknowledged: int) -> tuple[int, float]:
        """Bytes in the file beyond `acknowledged`, and for how long the oldest of them has
        been there (as far as this follower has seen)."""
        now = time.time()
        with self.growth_lock:
            while self.growth and self.growth[0][0] <= acknowledged:
                self.growth.popleft()
            oldest = self.growth[0][1] if self.growth else now
        return max(self.scanned - acknowledged, 0), round(now - oldest, 3)

    def _scan(self) -> bool:
        """Look at what was added; True when more whole lines can be handed out."""
        found = False
        self.handle.seek(self.scanned)
        while True:
            data = self.handle.read(SCAN_BYTES)
            if not data:
                return found
            self.scanned += len(data)
            self._grew()
            cut = data.rfind(b"\n")
            if cut >= 0:
                self.complete = self.scanned - len(data) + cut + 1
                found = True

    def _grew(self) -> None:
        now = time.time()
        self.changed = time.monotonic()
        with self.growth_lock:
            if self.growth and now - self.growth[-1][1] < GROWTH_STEP_SECONDS:
                self.growth[-1] = (self.scanned, self.growth[-1][1])
            else:
                self.growth.append((self.scanned, now))

        if self.identity.fingerprint_bytes < FINGERPRINT_BYTES:
            self.identity = Identity.of(self.handle)
            self.on_identity(self.identity)

    def _ended(self) -> bool:
        """Decide whether the file is finished; True when it just was."""
        size = os.fstat(self.handle.fileno()).st_size
        if size < self.scanned or not self.identity.matches(self.handle):
            log.warning("%s was truncated or rewritten (%d bytes, %d were read): its new "
                        "content is read from the start", self.path, size, self.scanned)
            return self._finish("truncated", rest=False)

        if time.monotonic() - self.changed < self.quiet:
            return False
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return self._finish("deleted")
        own = os.fstat(self.handle.fileno())
        if own.st_ino and (named.st_dev, named.st_ino) != (own.st_dev, own.st_ino):
            return self._finish("replaced")
        if self.successor():
            return self._finish("rolled over")
        return False

    def _finish(self, reason: str, rest: bool = True) -> bool:
        # A finished file will not get the LF of its last line: hand that line out as it is.
        if rest:
            self.complete = self.scanned
        self.reason = reason
        self.finished = True
        return True
