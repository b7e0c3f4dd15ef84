"""Shipping to a real OpenSearch node: setup, counts, idempotence, mappings, queries, outages."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import query, setup as cluster_setup, ship, templates
from pipeline.cli import main
from pipeline.cluster import Cluster, Connection
from tests.conftest import parse_file
from tests.golden import GOLDEN

SAMPLES = ["samples/senderlog", "samples/mail"]


@pytest.fixture(scope="module")
def cluster(search_node):
    found = Cluster(Connection(search_node.url))
    cluster_setup.install(found)
    return found


def run(*args, url):
    result = CliRunner().invoke(main, [*args], env={"SENDERLOG_URL": url})
    return result


def refresh_and_count(cluster, namespace):
    cluster.request("POST", f"/logs-epost.*-{namespace}/_refresh")
    counts = {}
    for stream in cluster.request("GET", f"/_data_stream/logs-epost.*-{namespace}")[
            "data_streams"]:
        name = stream["name"]
        counts[name.removeprefix("logs-").removesuffix(f"-{namespace}")] = cluster.request(
            "GET", f"/{name}/_count")["count"]
    return counts


def parser_counts():
    found, _ = parse_file(Path("samples/senderlog"))
    more, _ = parse_file(Path("samples/mail"))
    counts = {}
    for event in found + more:
        dataset = event["event"]["dataset"]
        counts[dataset] = counts.get(dataset, 0) + 1
    return counts


@pytest.fixture(scope="module")
def shipped(cluster, search_node):
    result = run("ship", *SAMPLES, "--date", "2025-12-03", "--namespace", "samples",
                 url=search_node.url)
    assert result.exit_code == 0, result.output
    refresh_and_count(cluster, "samples")
    return result


def test_setup_is_idempotent_and_reports_the_missing_lifecycle_plugin(search_node, cluster):
    first = run("setup", url=search_node.url)
    second = run("setup", url=search_node.url)
    assert first.exit_code == second.exit_code == 0
    assert "installed index template logs-epost (logs-epost.*-*)" in second.stderr
    assert "skipped ISM policy (the Index State Management plugin is not installed)" \
        in second.stderr
    template = cluster.request("GET", "/_index_template/logs-epost")["index_templates"][0]
    assert template["index_template"]["index_patterns"] == ["logs-epost.*-*"]
    assert template["index_template"]["composed_of"] == ["logs-epost@mappings"]


def test_every_event_lands_once(shipped, cluster):
    assert refresh_and_count(cluster, "samples") == parser_counts()
    assert "486 indexed" in shipped.stderr
    assert "0 already present, 0 refused" in shipped.stderr


def test_shipping_again_adds_nothing(shipped, cluster, search_node):
    again = run("ship", *SAMPLES, "--date", "2025-12-03", "--namespace", "samples",
                url=search_node.url)
    assert again.exit_code == 0
    assert "0 indexed (-), 486 already present, 0 refused" in again.stderr
    assert refresh_and_count(cluster, "samples") == parser_counts()


def test_mappings_have_the_intended_types(shipped, cluster):
    answer = cluster.request("GET", "/logs-epost.delivery-samples/_mapping")
    mapping = next(iter(answer.values()))["mappings"]

    def leaf(path):
        node = mapping
        for part in path.split("."):
            node = node["properties"][part]
        return node

    assert leaf("@timestamp")["type"] == "date"
    assert leaf("event.duration")["type"] == "long"
    assert leaf("epost.delivery.cause")["type"] == "keyword"
    assert leaf("epost.delivery.socket_error.code")["type"] == "long"
    assert leaf("client.ip")["type"] == "ip"
    assert leaf("event.original") == {"type": "keyword", "index": False, "doc_values": False}

    # Nothing was mapped dynamically: every indexed field is one the template declares.
    declared = set(templates.field_types())
    for stream in ("senderlog", "delivery", "faillog", "acceptlog"):
        answer = cluster.request("GET", f"/logs-epost.{stream}-samples/_mapping")
        properties = next(iter(answer.values()))["mappings"]["properties"]
        assert set(_flatten(properties)) <= declared


def _flatten(properties, prefix=""):
    for name, node in properties.items():
        if "properties" in node:
            yield from _flatten(node["properties"], f"{prefix}{name}.")
        else:
            yield prefix + name


def test_golden_events_use_only_declared_fields():
    declared = set(templates.field_types())
    for golden in GOLDEN.glob("*.json"):
        for event in json.loads(golden.read_text(encoding="utf-8"))["expected"]:
            fields = set(_flatten_event(event))
            assert fields <= declared, (golden.name, fields - declared)


def _flatten_event(event, prefix=""):
    for name, value in event.items():
        if isinstance(value, dict) and f"{prefix}{name}" != "epost.delivery.causes_seen":
            yield from _flatten_event(value, f"{prefix}{name}.")
        else:
            yield prefix + name


def ask(cluster, name, **options):
    index = query.DELIVERY.replace("*", "samples")
    return cluster_search(cluster, index, name, **options)


def cluster_search(cluster, index, name, by=None, **options):
    question = query.QUESTIONS[name]
    return question.rows(cluster.search(index, question.body("all", by=by, **options)), by)


def test_top_causes(shipped, cluster):
    assert ask(cluster, "top-causes") == [
        {"cause": "connect_timeout", "side": "remote_or_network", "attempts": 2},
        {"cause": "remote_service_unavailable", "side": "remote", "attempts": 2},
        {"cause": "connection_closed_by_peer", "side": "remote_or_network", "attempts": 1},
        {"cause": "connection_reset", "side": "remote_or_network", "attempts": 1},
        {"cause": "receive_timeout", "side": "remote_or_network", "attempts": 1},
        {"cause": "recipient_unknown", "side": "remote", "attempts": 1},
        {"cause": "starttls_sticky_ssl_bug", "side": "local", "attempts": 1},
    ]


def test_top_domains_failures_over_time_and_starttls_suspects(shipped, cluster):
    assert ask(cluster, "top-domains") == [
        {"domain": "example.jp", "failed_attempts": 9, "main_cause": "connect_timeout"}]
    assert ask(cluster, "failures-over-time", interval="1d") == [
        {"time": "2025-12-03T00:00:00.000Z", "host.name": "(none)",
         "side": "remote_or_network", "failed_attempts": 5},
        {"time": "2025-12-03T00:00:00.000Z", "host.name": "(none)", "side": "remote",
         "failed_attempts": 3},
        {"time": "2025-12-03T00:00:00.000Z", "host.name": "(none)", "side": "local",
         "failed_attempts": 1},
    ]
    assert ask(cluster, "starttls-suspects") == [
        {"host.name": "(none)", "attempts": 1, "domains": 1,
         "last_seen": "2025-12-03T16:00:00.176+09:00"}]
    found = ask(cluster, "search", query="epost.delivery.cause:recipient_unknown")
    assert [(row["queue_file"], row["cause"], row["side"]) for row in found] == [
        ("B0000097013", "recipient_unknown", "remote")]


def test_query_command_prints_json(shipped, search_node):
    result = run("query", "top-causes", "--since", "all", "--json", "--by", "event.dataset",
                 "--namespace", "samples", url=search_node.url)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sum(row["attempts"] for row in rows) == 9
    assert {row["event.dataset"] for row in rows} == {"epost.delivery"}

    # The samples lie outside host folders: their attempts are a group of their own.
    result = run("query", "top-causes", "--since", "all", "--json", "--by", "host.name",
                 "--namespace", "samples", url=search_node.url)
    rows = json.loads(result.stdout)
    assert {row["host.name"] for row in rows} == {"(none)"}
    assert sum(row["attempts"] for row in rows) == 9


def test_failures_over_time_counts_days_in_the_time_zone_asked(shipped, search_node):
    def days(zone: str) -> list[tuple]:
        result = run("query", "failures-over-time", "--since", "all", "--json", "--timezone",
                     zone, "--namespace", "samples", url=search_node.url)
        assert result.exit_code == 0, result.output
        return [(row["time"], row["side"], row["failed_attempts"])
                for row in json.loads(result.stdout)]

    assert days("Asia/Tokyo") == [("2025-12-03T00:00:00.000+09:00", "remote_or_network", 5),
                                  ("2025-12-03T00:00:00.000+09:00", "remote", 3),
                                  ("2025-12-03T00:00:00.000+09:00", "local", 1)]
    # 10:15 to 13:40 in Tokyo is still the 2nd in New York.
    assert days("America/New_York") == [
        ("2025-12-02T00:00:00.000-05:00", "remote", 3),
        ("2025-12-02T00:00:00.000-05:00", "remote_or_network", 2),
        ("2025-12-03T00:00:00.000-05:00", "remote_or_network", 3),
        ("2025-12-03T00:00:00.000-05:00", "local", 1)]


def test_query_command_checks_its_options_before_asking(search_node):
    result = run("query", "search", url=search_node.url)
    assert result.exit_code == 2
    assert "search needs TEXT" in result.output
    result = run("query", "search", "*", "--by", "host.name", url=search_node.url)
    assert result.exit_code == 2
    assert "--by does not apply" in result.output
    result = run("query", "top-causes", "--since", "30x", url=search_node.url)
    assert result.exit_code == 2
    assert "use a number and a unit: 30m, 24h, 7d, or all" in result.output


def test_an_unknown_namespace_is_named(search_node):
    result = run("query", "top-causes", "--namespace", "nosuch", url=search_node.url)
    assert result.exit_code == 1
    assert result.output == ("Error: nothing was shipped to the namespace 'nosuch' (no data "
                             "stream logs-epost.delivery-nosuch)\n")


def test_an_empty_window_says_how_to_widen_it(shipped, search_node):
    result = run("query", "top-causes", "--since", "1h", "--namespace", "samples",
                 url=search_node.url)
    assert result.exit_code == 0, result.output
    assert " ".join(result.stdout.split()) == (
        "no matching attempts in the last 1h (--since all asks every attempt, however old)")


def test_refused_documents_go_to_the_dead_letter_file(cluster, tmp_path):
    events, _ = parse_file(Path("samples/senderlog/success-windows.log"))
    bad = json.loads(json.dumps(events[0]))
    bad["event"]["duration"] = "not a number"
    bad["log"]["offset"] = 999999
    dead = tmp_path / "dead.ndjson"
    shipper = ship.Shipper(cluster, dead)
    stats = shipper.ship(ship.documents([events[1], bad], "deadletter"))
    assert (stats.indexed, stats.failed) == (1, 1)
    written = [json.loads(line) for line in dead.read_text().splitlines()]
    assert written[0]["event"]["log"]["offset"] == 999999
    assert written[0]["error"]["type"] == "mapper_parsing_exception"


def test_failed_documents_make_the_command_fail(search_node, tmp_path):
    log = tmp_path / "senderlog" / "MAIL01" / "251203.log"
    log.parent.mkdir(parents=True)
    log.write_bytes(b"[10:00:00:000] [B0000000001] SendMailMess\n")
    result = run("ship", str(log), "--namespace", "badindex", "--dead-letter",
                 str(tmp_path / "dead.ndjson"), "--url", "http://127.0.0.1:1",
                 "--retry-seconds", "1", "--engine", "opensearch", url=search_node.url)
    assert result.exit_code == 1
    assert "shipping stopped" in result.stderr
    assert "run the same command again to resume" in result.stderr


def test_shipping_resumes_when_the_node_goes_down_mid_stream(search_node, cluster):
    events, _ = parse_file(Path("samples/senderlog"))
    shipper = ship.Shipper(cluster, Path("unused.ndjson"), batch_size=100, retry_seconds=300)
    timers = []

    def after_batch(count):
        # After the first acknowledged batch the node goes away for a while.
        if not timers:
            search_node.stop()
            timers.append(threading.Timer(5, search_node.start))
            timers[0].start()

    try:
        stats = shipper.ship(ship.documents(events, "midstream"), after_batch)
    finally:
        timers[0].join()
    assert (stats.indexed, stats.duplicates, stats.failed) == (len(events), 0, 0)
    assert stats.retries > 0
    assert sum(refresh_and_count(cluster, "midstream").values()) == len(events)


def test_ship_waits_for_a_cluster_that_is_down_at_start(search_node, cluster):
    search_node.stop()
    restarted = threading.Timer(5, search_node.start)
    restarted.start()
    try:
        result = run("ship", *SAMPLES, "--date", "2025-12-03", "--namespace", "outage",
                     "--retry-seconds", "300", url=search_node.url)
    finally:
        restarted.join()
    assert result.exit_code == 0, result.output
    assert "486 indexed" in result.stderr
    assert refresh_and_count(cluster, "outage") == parser_counts()
