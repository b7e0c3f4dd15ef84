"""The generated ingest pipeline on the real node: the same record events as the parser."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml

from pipeline import errors, events, grok, ingest, setup as cluster_setup
from pipeline.redact import redact
from pipeline.cluster import Cluster, ClusterError, Connection
from tests.conftest import parse_file
from tests import test_redaction as redaction_samples
from tests.golden import ROOT, sample_files

SENDERLOG_SAMPLES = [s for s in sample_files() if "senderlog" in s.parts]
# What the pipeline cannot know: it sees decoded text, not the bytes of the file.
FROM_BYTES = ("epost.senderlog.encoding", "epost.senderlog.truncated_bytes")


@pytest.fixture(scope="module")
def cluster(search_node):
    return Cluster(Connection(search_node.url))


def simulate(cluster, docs: list[dict]) -> list[dict]:
    answer = cluster.request("POST", "/_ingest/pipeline/_simulate",
                             body={"pipeline": ingest.pipeline(),
                                   "docs": [{"_source": doc} for doc in docs]})
    return [result["doc"]["_source"] if "doc" in result else result
            for result in answer["docs"]]


def flatten(event: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in event.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def shipper_document(event: dict, platform: str | None) -> dict:
    """What Filebeat sends for one record, with the date the sample's file name lacks."""
    doc = {"message": event["event"]["original"], "log": dict(event["log"]),
           "epost_file_date": "2025-12-03"}
    if platform:
        doc["epost_platform"] = platform
    return doc


def differences(expected: dict, found: dict) -> list[str]:
    want, got = flatten(expected), flatten(found)
    for field in FROM_BYTES:
        want.pop(field, None)
    return [f"{field}: parser {want.get(field)!r}, pipeline {got.get(field)!r}"
            for field in sorted(set(want) | set(got)) if want.get(field) != got.get(field)]


@pytest.mark.parametrize("sample", SENDERLOG_SAMPLES, ids=str)
def test_pipeline_builds_the_parser_record_events(cluster, sample):
    path = ROOT / sample
    parsed, _ = parse_file(path)
    records = [e for e in parsed if e["event"]["dataset"] == "epost.senderlog"]
    platform = errors.detect_platform(path.read_bytes()[:events.PLATFORM_SCAN_BYTES])

    results = simulate(cluster, [shipper_document(e, platform) for e in records])

    report = []
    for expected, found in zip(records, results):
        for line in differences(expected, found):
            report.append(f"offset {expected['log']['offset']}: {line}")
    assert report == []


EXAMPLES = yaml.safe_load(
    (Path(__file__).parent / "data" / "pattern-examples.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("log", "pattern"), [(log, pattern) for log, patterns in
                                              EXAMPLES.items() for pattern in patterns])
def test_pattern_behaves_the_same_in_joni(cluster, log, pattern):
    """Every pattern compiles in the node's grok (Joni, as in Logstash) and matches its
    examples with exactly the captures Python finds, and rejects what Python rejects."""
    cases = EXAMPLES[log][pattern]
    texts = [case["text"] for case in cases.get("match", [])] + cases.get("reject", [])
    processor = {"grok": {"field": "text", "patterns": [rf"\A%{{{pattern}}}\z(?<matched>)"],
                          "pattern_definitions": ingest.closure([pattern]),
                          "ignore_failure": True}}
    answer = cluster.request("POST", "/_ingest/pipeline/_simulate", body={
        "pipeline": {"processors": [processor]},
        "docs": [{"_source": {"text": text}} for text in texts]})

    python = grok.matcher(pattern)
    for text, result in zip(texts, answer["docs"]):
        source = result["doc"]["_source"]
        joni = source.get("_epost", {}).get("c")
        matched = "matched" in source
        expected = python.match(text)
        assert matched == (expected is not None), text
        if matched:
            assert {k: v for k, v in (joni or {}).items() if v} == expected, text


def filebeat_lines(data: bytes) -> list[str]:
    """Records as the README's Filebeat multiline rule frames them: a line that does not start
    with a time prefix continues the one before."""
    framed: list[str] = []
    for line in data.decode("utf-8").split("\n"):
        line = line.rstrip("\r")
        if framed and not re.match(r"\[[0-9]{2}:[0-9]{2}:[0-9]{2}", line):
            framed[-1] += "\n" + line
        elif line:
            framed.append(line)
    return framed


def test_pipeline_redacts_every_credential(cluster):
    lines = filebeat_lines(redaction_samples.senderlog())
    results = simulate(cluster, [{"message": line} for line in lines])

    text = json.dumps(results, ensure_ascii=False)
    assert [secret for secret in redaction_samples.SECRETS if secret in text] == []
    originals = [result["event"]["original"] for result in results]
    assert originals == [redact(line) for line in lines]
    assert sum("[REDACTED]" in original for original in originals) >= 8


def test_pipeline_failure_is_marked_and_keeps_the_text(cluster):
    results = simulate(cluster, [{"message": ["not", "a", "string"]}])
    assert results[0]["event"]["kind"] == "pipeline_error"
    assert results[0]["error"]["type"] == "grok epost-prefix"
    assert results[0]["event"]["original"] == ["not", "a", "string"]
    assert "_epost" not in results[0]


def test_setup_installs_the_pipeline_and_bulk_indexes_through_it(cluster):
    report = cluster_setup.install(cluster, pipeline_timezone="Asia/Tokyo")
    assert f"ingest pipeline {ingest.NAME} (local time Asia/Tokyo)" in report.done

    try:  # a cluster named by SENDERLOG_TEST_URL may hold an earlier run's documents
        cluster.request("DELETE", "/_data_stream/logs-epost.senderlog-filebeat")
    except ClusterError as error:
        assert error.status == 404

    parsed, _ = parse_file(ROOT / "samples/senderlog/success-windows.log")
    records = [e for e in parsed if e["event"]["dataset"] == "epost.senderlog"]
    operations = []
    for event in records:
        operations.append({"create": {"_index": "logs-epost.senderlog-filebeat"}})
        operations.append({"message": event["event"]["original"], "@timestamp": "2026-01-01",
                           "log": {"file": {"path": "/srv/epost/senderlog/MAIL07/251203.log"},
                                   "offset": event["log"]["offset"]}})
    answer = cluster.bulk(operations, pipeline=ingest.NAME)
    assert not answer["errors"]

    cluster.request("POST", "/logs-epost.senderlog-filebeat/_refresh")
    found = cluster.search("logs-epost.senderlog-filebeat", {
        "size": 0, "aggs": {"kind": {"terms": {"field": "epost.senderlog.kind", "size": 50}},
                            "host": {"terms": {"field": "host.name"}},
                            "first": {"min": {"field": "@timestamp"}}}})
    kinds = {b["key"]: b["doc_count"] for b in found["aggregations"]["kind"]["buckets"]}
    expected: dict[str, int] = {}
    for event in records:
        kind = event["epost"]["senderlog"]["kind"]
        expected[kind] = expected.get(kind, 0) + 1
    assert kinds == expected
    assert [(b["key"], b["doc_count"]) for b in found["aggregations"]["host"]["buckets"]] == [
        ("MAIL07", len(records))]
    first = dt.datetime.fromisoformat(records[0]["@timestamp"]).astimezone(dt.timezone.utc)
    assert found["aggregations"]["first"]["value_as_string"] == \
        first.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
