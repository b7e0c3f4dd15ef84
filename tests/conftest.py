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
    found = list(events.run([Path(path)], events.Options(**options), stats))
    return found, stats


def write_log(folder: Path, data: bytes, name: str = "251203.log", host: str = "MAIL01") -> Path:
    """A senderlog file at senderlog/<host>/<name> under a temporary folder."""
    target = folder / "senderlog" / host / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


SHARED_SAMPLES = Path(os.environ.get("SENDERLOG_SHARED_SAMPLES",
                                     ROOT.parent / "shared" / "samples" / "senderlog"))


@pytest.fixture(scope="session")
def search_node():
    """A real OpenSearch node for the whole run, or the cluster SENDERLOG_TEST_URL names.

    The node is assembled from Maven Central and started once (tests/searchnode); it is
    stopped at the end of the run. Tests that stop and restart it need the local node.
    """
    url = os.environ.get("SENDERLOG_TEST_URL")
    if url:
        yield ExternalNode(url)
        return

    from tests.searchnode import SearchNode

    node = SearchNode()
    node.start(timeout=300)
    try:
        yield node
    finally:
        node.close()


class ExternalNode:
    """An existing cluster given by URL: it cannot be stopped by the tests."""

    def __init__(self, url: str):
        self.url = url

    def stop(self):
        pytest.skip("an outage cannot be simulated on an external cluster")

    start = stop
