"""Shared fixtures: run from the repository root, parse helpers."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from pipeline import events
from tests.golden import ROOT


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    """Sample paths in events are relative to the repository root."""
    monkeypatch.chdir(ROOT)


def parse_file(path: Path, **options) -> tuple[list[dict], events.Stats]:
    """All events of one file or folder, and the run's counts."""
    options.setdefault("date", dt.date(2025, 12, 3))
    stats = events.Stats()
    found = []
    for event in events.run([Path(path)], events.Options(**options), stats):
        stats.count(event)
        found.append(event)
    return found, stats


def write_log(folder: Path, data: bytes, name: str = "251203.log", host: str = "MAIL01") -> Path:
    """A senderlog file at senderlog/<host>/<name> under a temporary folder."""
    target = folder / "senderlog" / host / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


SHARED_SAMPLES = Path(os.environ.get("SENDERLOG_SHARED_SAMPLES",
                                     ROOT.parent / "shared" / "samples" / "senderlog"))
