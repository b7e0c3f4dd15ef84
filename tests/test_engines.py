"""Elasticsearch-specific parts, checked against a local stand-in of its HTTP API.

No Elasticsearch node can be assembled from Maven Central (its ingest and data-stream modules
are not published there), so these tests check what our code sends on the Elasticsearch path:
the client chosen from the server's answer, the ILM policy, the template settings, and bulk
requests in the Elasticsearch client's own format. The stand-in answers like Elasticsearch 8.
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pipeline import setup as cluster_setup, ship, templates
from pipeline.cluster import Cluster, Connection
from tests.conftest import parse_file


class StandIn(BaseHTTPRequestHandler):
    """Answers the few Elasticsearch 8 calls senderlog makes; remembers every request."""

    requests: list = []
    distribution: str | None = None

    def log_message(self, *args):
        pass

    def _answer(self, body: dict, status: int = 200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
        return data

    def do_GET(self):
        version = {"number": "8.15.0", "build_flavor": "default"}
        if self.distribution:
            version = {"number": "2.19.6", "distribution": self.distribution}
        self._remember("GET", None)
        self._answer({"name": "stand-in", "version": version, "tagline": "You Know, for Search"})

    def do_PUT(self):
        if self.path.startswith("/_bulk"):
            return self._bulk()
        self._remember("PUT", json.loads(self._body()))
        self._answer({"acknowledged": True})

    def do_POST(self):
        self._bulk()

    def _remember(self, method: str, body) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.requests.append((method, self.path, body, headers))

    def _bulk(self):
        body = self._body().decode()
        self._remember(self.command, body)
        lines = [json.loads(line) for line in body.splitlines() if line]
        items = [{"create": {"_index": op["create"]["_index"], "_id": op["create"]["_id"],
                             "status": 201}} for op in lines[::2]]
        self._answer({"took": 1, "errors": False, "items": items})


@pytest.fixture
def stand_in():
    StandIn.requests = []
    StandIn.distribution = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_elasticsearch_is_detected_and_gets_its_own_client(stand_in):
    cluster = Cluster(Connection(stand_in, username="elastic", password="secret-pw"))
    assert cluster.engine == "elasticsearch"
    assert type(cluster.client).__module__.startswith("elasticsearch")
    assert "secret-pw" not in repr(cluster.connection)


def test_opensearch_is_detected(stand_in):
    StandIn.distribution = "opensearch"
    assert Cluster(Connection(stand_in)).engine == "opensearch"


def test_setup_on_elasticsearch_installs_ilm_and_links_it(stand_in):
    cluster = Cluster(Connection(stand_in, api_key="aWQ6a2V5"))
    report = cluster_setup.install(cluster, retention_days=30)
    puts = {path: body for method, path, body, _ in StandIn.requests if method == "PUT"}

    assert puts["/_ilm/policy/logs-epost"] == templates.ilm_policy(30)
    assert puts["/_ilm/policy/logs-epost"]["policy"]["phases"]["delete"]["min_age"] == "30d"
    settings = puts["/_index_template/logs-epost"]["template"]["settings"]
    assert settings["index.lifecycle.name"] == "logs-epost"
    assert puts["/_index_template/logs-epost"]["data_stream"] == {}
    assert "properties" in puts["/_component_template/logs-epost@mappings"]["template"][
        "mappings"]
    assert report.skipped == []
    headers = [h for method, _, _, h in StandIn.requests if method == "PUT"]
    assert all(h.get("authorization") == "ApiKey aWQ6a2V5" for h in headers)


def test_bulk_on_elasticsearch_creates_into_data_streams(stand_in, tmp_path):
    events, _ = parse_file(Path("samples/senderlog/success-windows.log"))
    cluster = Cluster(Connection(stand_in, engine="elasticsearch"))
    shipper = ship.Shipper(cluster, tmp_path / "dead.ndjson", retry_seconds=0)
    stats = shipper.ship(ship.documents(events, "x"))
    assert stats.indexed == len(events)

    method, path, body, headers = StandIn.requests[-1]
    # elasticsearch-py sends bulk requests as PUT; the answer is cut to what is read.
    assert (method, path) == ("PUT", "/_bulk?filter_path=errors,items.*._id,items.*.status,"
                                     "items.*.error")
    assert "x-ndjson" in headers["content-type"]
    operations = [json.loads(line) for line in body.splitlines()]
    assert operations[0] == {"create": {"_index": "logs-epost.senderlog-x",
                                        "_id": ship.document_id(events[0])}}
    assert operations[1]["data_stream"] == {"type": "logs", "dataset": "epost.senderlog",
                                            "namespace": "x"}


def test_ism_policy_attaches_to_the_data_streams():
    policy = templates.ism_policy(90)["policy"]
    assert policy["ism_template"] == [{"index_patterns": ["logs-epost.*"], "priority": 200}]
    assert [state["name"] for state in policy["states"]] == ["hot", "delete"]
    assert policy["states"][0]["transitions"][0]["conditions"] == {"min_index_age": "90d"}


def test_document_ids_are_stable_and_distinct():
    events, _ = parse_file(Path("samples/senderlog"))
    ids = [ship.document_id(event) for event in events]
    assert len(set(ids)) == len(ids)
    again, _ = parse_file(Path("samples/senderlog"))
    assert [ship.document_id(event) for event in again] == ids
