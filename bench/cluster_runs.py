"""The measurements that need a search node: the ingest pipeline, the shipper, raw `_bulk`.

All three send the same records of the corpus. The ingest pipeline gets what Filebeat sends
(the record text, file path and offset); the shipper and the raw loop send the parser's
events, the raw loop as NDJSON serialised before the clock starts, so the difference between
them is what `senderlog ship` costs on top of the cluster's own work.
"""

from __future__ import annotations

import http.client
import json
import socket
import tempfile
import time
from itertools import islice
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console

from bench.targets import fastest
from pipeline import errors, events, ingest, setup, ship
from pipeline.cluster import Cluster, ClusterError, Connection

BATCH = 1000
NAMESPACES = ("benchingest", "benchship", "benchraw")


def run(corpus: Path, count: int, url: str | None, repeat: int, console: Console) -> dict:
    """Figures of the three runs on a node at url, or on a test node started here.

    The raw loop and the shipper take turns, `repeat` times each into emptied data streams,
    each going first in every other turn (the node is still busy with the run before); the
    fastest run of each counts.
    """
    node = None
    if url is None:
        from tests.searchnode import SearchNode

        console.print("starting the OpenSearch test node ...")
        node = SearchNode()
        url = node.start(timeout=300)
    try:
        cluster = Cluster(Connection(url))
        setup.install(cluster, pipeline_timezone="Asia/Tokyo")
        _clean(cluster)
        found = list(_first_events(corpus, count))
        records = [event for event in found if event["event"]["dataset"] == "epost.senderlog"]

        figures = {"node_processors": _processors(cluster), "version": cluster.version()}
        console.print(f"ingest pipeline: {len(records)} records ...")
        figures["ingest"] = _post(url, _filebeat_bodies(records), ingest.NAME)
        bodies = _event_bodies(found, "benchraw")
        raw, shipped = [], []
        for turn in range(1, repeat + 1):
            console.print(f"raw _bulk and senderlog ship: {len(found)} events ({turn}) ...")
            _clean(cluster)
            if turn % 2:
                raw.append(_post(url, bodies, None))
                shipped.append(_ship(cluster, found))
            else:
                shipped.append(_ship(cluster, found))
                raw.append(_post(url, bodies, None))
        figures["raw"] = fastest(raw)
        figures["ship"] = fastest(shipped)
        _clean(cluster)
        return figures
    finally:
        if node is not None:
            node.close()


def _first_events(corpus: Path, count: int):
    """Events of the corpus up to `count` records, with the attempts among them."""
    stats = events.Stats()
    for event in events.run([corpus], events.Options(), stats):
        yield event
        if stats.records >= count:
            return


def _processors(cluster: Cluster) -> int:
    nodes = cluster.request("GET", "/_nodes/os")["nodes"].values()
    return sum(node["os"]["available_processors"] for node in nodes)


def _clean(cluster: Cluster) -> None:
    for namespace in NAMESPACES:
        for dataset in ("senderlog", "delivery"):
            try:
                cluster.request("DELETE", f"/_data_stream/logs-epost.{dataset}-{namespace}")
            except ClusterError as error:
                if error.status != 404:
                    raise


def _filebeat_bodies(records: list[dict]) -> list[bytes]:
    """What Filebeat would send for these records, as `_bulk` bodies."""
    platforms: dict[str, str | None] = {}
    lines = []
    for event in records:
        path = event["log"]["file"]["path"]
        if path not in platforms:
            with open(path, "rb") as stream:
                platforms[path] = errors.detect_platform(stream.read(events.PLATFORM_SCAN_BYTES))
        document = {"message": event["event"]["original"], "log": event["log"],
                    "epost_platform": platforms[path] or "windows"}
        lines.append((json.dumps({"create": {"_index": "logs-epost.senderlog-benchingest"}}),
                      json.dumps(document, ensure_ascii=False)))
    return _bodies(lines)


def _event_bodies(found: list[dict], namespace: str) -> list[bytes]:
    """The shipper's documents for these events, serialised as `_bulk` bodies."""
    lines = []
    for document in ship.documents([dict(event) for event in found], namespace):
        action = {"create": {"_index": document.index, "_id": document.id}}
        lines.append((json.dumps(action), json.dumps(document.source, ensure_ascii=False)))
    return _bodies(lines)


def _bodies(lines: list[tuple[str, str]]) -> list[bytes]:
    iterator = iter(lines)
    bodies = []
    while batch := list(islice(iterator, BATCH)):
        bodies.append("".join(f"{action}\n{source}\n" for action, source in batch).encode())
    return bodies


def _post(url: str, bodies: list[bytes], pipeline: str | None) -> dict:
    """Send pre-serialised bodies one after the other on one connection."""
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=300)
    connection.connect()
    # http.client writes the headers and the body separately; without this, Nagle's
    # algorithm holds the body back until the server's delayed ACK (the clients set it too).
    connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    path = "/_bulk" + (f"?pipeline={pipeline}" if pipeline else "")
    documents = failed = 0
    started = time.perf_counter()
    for body in bodies:
        connection.request("POST", path, body, {"Content-Type": "application/x-ndjson"})
        answer = json.loads(connection.getresponse().read())
        documents += len(answer["items"])
        failed += sum(1 for item in answer["items"] if item["create"]["status"] >= 300)
    seconds = time.perf_counter() - started
    connection.close()
    return {"documents": documents, "failed": failed, "seconds": seconds}


def _ship(cluster: Cluster, found: list[dict]) -> dict:
    """`senderlog ship`'s Shipper on the same events."""
    with tempfile.TemporaryDirectory() as folder:
        shipper = ship.Shipper(cluster, Path(folder) / "dead.ndjson", batch_size=BATCH)
        started = time.perf_counter()
        result = shipper.ship(ship.documents(found, "benchship"))
        seconds = time.perf_counter() - started
    return {"documents": result.sent, "failed": result.failed + result.duplicates,
            "seconds": seconds}
