"""Query: fleet-wide questions an administrator asks of the delivery events.

Each question is one aggregation over the `logs-epost.delivery-*` data streams; the answer is
a list of rows (dicts) that the command line prints as a table or as JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.cluster import Cluster

DELIVERY = "logs-epost.delivery-*"
BUCKETS = 20


@dataclass(frozen=True)
class Question:
    """One named query: how to ask it and how to read the answer into rows."""

    name: str
    help: str
    body: Callable[..., dict]
    rows: Callable[[dict, str | None], list[dict]]


def _window(since: str | None, *filters: dict) -> dict:
    clauses = list(filters)
    if since and since != "all":
        clauses.append({"range": {"@timestamp": {"gte": f"now-{since}"}}})
    return {"bool": {"filter": clauses}}


FAILED = {"term": {"event.outcome": "failure"}}


def _grouped(by: str | None, inner: dict) -> dict:
    if not by:
        return inner
    # Events without the field are a group of their own, as in failures-over-time.
    return {"by": {"terms": {"field": by, "size": BUCKETS, "missing": "(none)"},
                   "aggs": inner}}


def _each_group(answer: dict, by: str | None):
    aggs = answer["aggregations"]
    if not by:
        yield {}, aggs
        return
    for bucket in aggs["by"]["buckets"]:
        yield {by: bucket["key"]}, bucket


def top_causes_body(since: str | None, by: str | None = None, **_) -> dict:
    inner = {"cause": {"terms": {"field": "epost.delivery.cause", "size": BUCKETS},
                       "aggs": {"side": {"terms": {"field": "epost.delivery.side"}}}}}
    return {"size": 0, "query": _window(since, FAILED), "aggs": _grouped(by, inner)}


def top_causes_rows(answer: dict, by: str | None) -> list[dict]:
    rows = []
    for group, aggs in _each_group(answer, by):
        for cause in aggs["cause"]["buckets"]:
            for side in cause["side"]["buckets"]:
                rows.append({**group, "cause": cause["key"], "side": side["key"],
                             "attempts": side["doc_count"]})
    return rows


def top_domains_body(since: str | None, by: str | None = None, **_) -> dict:
    inner = {"domain": {"terms": {"field": "destination.domain", "size": BUCKETS},
                        "aggs": {"cause": {"terms": {"field": "epost.delivery.cause",
                                                     "size": 1}}}}}
    return {"size": 0, "query": _window(since, FAILED), "aggs": _grouped(by, inner)}


def top_domains_rows(answer: dict, by: str | None) -> list[dict]:
    rows = []
    for group, aggs in _each_group(answer, by):
        for domain in aggs["domain"]["buckets"]:
            top = domain["cause"]["buckets"][0] if domain["cause"]["buckets"] else {}
            rows.append({**group, "domain": domain["key"], "failed_attempts": domain["doc_count"],
                         "main_cause": top.get("key")})
    return rows


def over_time_body(since: str | None, by: str | None = None, interval: str = "1d",
                   timezone: str = "UTC", **_) -> dict:
    # Days begin at the servers' midnight, not at UTC's.
    return {"size": 0, "query": _window(since, FAILED), "aggs": {"time": {
        "date_histogram": {"field": "@timestamp", "fixed_interval": interval,
                           "time_zone": timezone, "min_doc_count": 1},
        "aggs": {"host": {"terms": {"field": by or "host.name", "size": BUCKETS,
                                    "missing": "(none)"},
                          "aggs": {"side": {"terms": {"field": "epost.delivery.side"}}}}}}}}


def over_time_rows(answer: dict, by: str | None) -> list[dict]:
    rows = []
    for moment in answer["aggregations"]["time"]["buckets"]:
        for host in moment["host"]["buckets"]:
            for side in host["side"]["buckets"]:
                rows.append({"time": moment["key_as_string"], by or "host.name": host["key"],
                             "side": side["key"], "failed_attempts": side["doc_count"]})
    return rows


def starttls_body(since: str | None, by: str | None = None, **_) -> dict:
    bug = {"term": {"epost.delivery.cause": "starttls_sticky_ssl_bug"}}
    return {"size": 0, "query": _window(since, bug), "aggs": {"host": {
        "terms": {"field": by or "host.name", "size": BUCKETS, "missing": "(none)"},
        # The newest event itself rather than a max: its @timestamp keeps the server's offset.
        "aggs": {"last": {"top_hits": {"size": 1, "_source": ["@timestamp"],
                                       "sort": [{"@timestamp": "desc"}]}},
                 "domains": {"cardinality": {"field": "destination.domain"}}}}}}


def starttls_rows(answer: dict, by: str | None) -> list[dict]:
    return [{by or "host.name": host["key"], "attempts": host["doc_count"],
             "domains": host["domains"]["value"],
             "last_seen": host["last"]["hits"]["hits"][0]["_source"]["@timestamp"]}
            for host in answer["aggregations"]["host"]["buckets"]]


def search_body(since: str | None, query: str = "*", size: int = 20, **_) -> dict:
    text = {"query_string": {"query": query or "*", "default_field": "*"}}
    return {"size": size, "query": _window(since, text), "sort": [{"@timestamp": "desc"}]}


def search_rows(answer: dict, _by: str | None) -> list[dict]:
    rows = []
    for hit in answer["hits"]["hits"]:
        event = hit["_source"]
        delivery = event.get("epost", {}).get("delivery", {})
        rows.append({"time": event.get("@timestamp"), "host": event.get("host", {}).get("name"),
                     "queue_file": delivery.get("queue_file"),
                     "domain": event.get("destination", {}).get("domain"),
                     "cause": delivery.get("cause"), "side": delivery.get("side"),
                     "explanation": delivery.get("explanation")})
    return rows


QUESTIONS = {q.name: q for q in (
    Question("top-causes", "failed attempts by cause and side", top_causes_body, top_causes_rows),
    Question("top-domains", "destination domains with the most failed attempts",
             top_domains_body, top_domains_rows),
    Question("failures-over-time", "failed attempts per interval, by host and side",
             over_time_body, over_time_rows),
    Question("starttls-suspects", "hosts with attempts that show the STARTTLS sticky-SSL bug",
             starttls_body, starttls_rows),
    Question("search", "attempts matching a query string (newest first)", search_body,
             search_rows),
)}


def ask(cluster: Cluster, name: str, since: str | None, by: str | None = None,
        namespace: str = "*", **options) -> list[dict]:
    """Run one question over the delivery data streams of `namespace` (all by default)."""
    question = QUESTIONS[name]
    index = DELIVERY.replace("*", namespace)
    answer = cluster.search(index, question.body(since, by=by, **options))
    return question.rows(answer, by)
