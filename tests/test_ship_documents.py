"""What the shipper sends and when: each document serialised once, batches overlapping the
reading of the next one.

The cluster here is a stand-in object: these tests are about the order of work inside the
shipper; sending to the real node is tested in test_cluster.py.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from pipeline import ship
from pipeline.cluster import ClusterUnavailable


def test_documents_are_serialised_compactly_with_their_text_as_it_is():
    source = {"message": "宛先不明", "log": {"offset": 4096}, "event": {"duration": 1.5}}
    text = ship._serialise(source)
    assert text == '{"message":"宛先不明","log":{"offset":4096},"event":{"duration":1.5}}'
    assert json.loads(text) == source


def test_a_number_too_large_for_64_bits_is_still_sent():
    # The cluster, not the shipper, refuses it (and the document goes to the dead letter).
    assert ship._serialise({"size": 10**30}) == '{"size": 1000000000000000000000000000000}'


def _documents(count: int, journal: list, reached: dict[int, threading.Event]):
    for number in range(count):
        journal.append(f"read {number}")
        if number in reached:
            reached[number].set()
        source = {"event": {"dataset": "epost.senderlog"}, "log": {"offset": number}}
        yield ship.Document(f"id{number}", "logs-epost.senderlog-test", source)


class SlowCluster:
    """Answers a bulk request only once the shipper has read on into the next batch."""

    def __init__(self, journal: list, reached: dict[int, threading.Event]):
        self.journal = journal
        self.reached = reached

    def bulk(self, operations: list[str], pipeline=None) -> dict:
        ids = [json.loads(line)["create"]["_id"] for line in operations[::2]]
        first = int(ids[0][2:])
        waiting = self.reached.get(first + len(ids))
        self.journal.append(f"sending {first}")
        if waiting is not None:
            assert waiting.wait(10), "the shipper did not read on while a batch was sent"
        self.journal.append(f"sent {first}")
        return {"items": [{"create": {"_id": i, "status": 201}} for i in ids]}


def test_the_next_batch_is_read_while_one_is_on_its_way(tmp_path):
    journal: list[str] = []
    reached = {2: threading.Event(), 4: threading.Event()}
    shipper = ship.Shipper(SlowCluster(journal, reached), tmp_path / "dead", batch_size=2)

    stats = shipper.ship(_documents(5, journal, reached))

    assert (stats.sent, stats.indexed, stats.failed) == (5, 5, 0)
    # Document 2 opens the second batch: it is read before the first batch is answered.
    assert journal.index("read 2") < journal.index("sent 0")
    assert journal.index("read 4") < journal.index("sent 2")
    # Never more than one batch on its way: the second is sent after the first is answered.
    assert journal.index("sent 0") < journal.index("sending 2") < journal.index("sent 2")


class AbsentCluster:
    def bulk(self, operations, pipeline=None):
        raise ClusterUnavailable(None, "connection refused")


def test_an_interrupted_run_does_not_sit_out_the_retries_of_the_batch_on_its_way(tmp_path):
    def documents():
        yield from _documents(2, [], {})
        raise KeyboardInterrupt

    shipper = ship.Shipper(AbsentCluster(), tmp_path / "dead", batch_size=2, retry_seconds=600)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        shipper.ship(documents())
    # The first batch would be retried for ten minutes; the interruption ends it at once.
    assert time.monotonic() - started < 30
    assert shipper.stats.sent == 0
