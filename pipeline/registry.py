"""Registry: which files `follow` has read and how far the cluster has acknowledged them.

One JSON file, rewritten atomically (temporary file, fsync, rename) after every acknowledged
batch, so that a crash at any moment leaves either the old or the new registry, never half of
one. Each file is known by its path and its identity: device and inode where the platform has
them, and a fingerprint of its first bytes, which also tells a replaced file from the original
on Windows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from platformdirs import user_state_dir

log = logging.getLogger("senderlog")

VERSION = 1
FINGERPRINT_BYTES = 1024
# Finished files are remembered this long, so that a re-created file of the same name is
# recognised as new content.
KEEP_FINISHED = dt.timedelta(days=8)


def default_path() -> Path:
    """~/.local/state/senderlog/registry.json, %LOCALAPPDATA%\\senderlog\\... on Windows."""
    return Path(user_state_dir("senderlog", appauthor=False)) / "registry.json"


@dataclass
class Identity:
    """What tells one file from another that later takes its name."""

    device: int
    inode: int
    fingerprint: str
    fingerprint_bytes: int

    @classmethod
    def of(cls, handle, length: int = FINGERPRINT_BYTES) -> Identity:
        """The identity of an open file from its first `length` bytes (position kept)."""
        status = os.fstat(handle.fileno())
        position = handle.tell()
        handle.seek(0)
        head = handle.read(length)
        handle.seek(position)
        return cls(status.st_dev, status.st_ino, hashlib.sha1(head).hexdigest(), len(head))

    def matches(self, handle) -> bool:
        """The open file is this one: the same first bytes (as many as the fingerprint was
        taken from) and, while those are fewer than a KiB, the same inode where the platform
        has real ones. A full fingerprint alone decides, because device numbers can change
        when the machine restarts."""
        other = Identity.of(handle, self.fingerprint_bytes)
        if (other.fingerprint, other.fingerprint_bytes) != (self.fingerprint,
                                                            self.fingerprint_bytes):
            return False
        if self.fingerprint_bytes >= FINGERPRINT_BYTES or not (self.inode and other.inode):
            return True
        return (self.device, self.inode) == (other.device, other.inode)


@dataclass
class Entry:
    """One followed file: its identity, the generation of its content (a truncated or
    replaced file starts a new one) and the offset the cluster has acknowledged."""

    path: str
    device: int
    inode: int
    fingerprint: str
    fingerprint_bytes: int
    generation: int = 0
    offset: int = 0
    finished: bool = False
    platform: str | None = None
    updated: str = ""

    @property
    def identity(self) -> Identity:
        return Identity(self.device, self.inode, self.fingerprint, self.fingerprint_bytes)


class Registry:
    """The registry file and its entries; safe to use from the reader threads."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.entries: dict[str, Entry] = {}
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            for item in data.get("files", []):
                entry = Entry(**item)
                self.entries[entry.path] = entry
            log.info("registry %s: %d files", path, len(self.entries))

    def get(self, path: str) -> Entry | None:
        with self.lock:
            return self.entries.get(path)

    def start(self, path: str, identity: Identity, generation: int,
              platform: str | None) -> Entry:
        """A file (or a new content of it) is read from its beginning."""
        with self.lock:
            entry = Entry(path, identity.device, identity.inode, identity.fingerprint,
                          identity.fingerprint_bytes, generation, platform=platform)
            self.entries[path] = entry
            return entry

    def identify(self, path: str, identity: Identity) -> None:
        """A longer fingerprint of the same file, once it has grown."""
        with self.lock:
            entry = self.entries[path]
            entry.fingerprint = identity.fingerprint
            entry.fingerprint_bytes = identity.fingerprint_bytes
            entry.device, entry.inode = identity.device, identity.inode

    def acknowledge(self, path: str, generation: int, offset: int,
                    finished: bool = False) -> None:
        """Everything read before `offset` is in the cluster."""
        with self.lock:
            entry = self.entries.get(path)
            if entry is None or entry.generation != generation:
                return
            entry.offset = max(entry.offset, offset)
            entry.finished = entry.finished or finished
            entry.updated = _now().isoformat(timespec="seconds")

    def save(self) -> None:
        """Write the registry atomically; forget finished files after a while."""
        now = _now()
        with self.lock:
            for entry in list(self.entries.values()):
                if not entry.updated:
                    entry.updated = now.isoformat(timespec="seconds")
                if entry.finished and now - dt.datetime.fromisoformat(entry.updated) \
                        > KEEP_FINISHED:
                    del self.entries[entry.path]
            data = {"version": VERSION, "files": [asdict(e) for e in self.entries.values()]}

        write_atomically(self.path, json.dumps(data, indent=1))


def write_atomically(path: Path, text: str) -> None:
    """Replace a file's content in one step: a reader sees the old or the new text, also
    after a crash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
