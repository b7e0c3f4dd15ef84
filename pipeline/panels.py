"""Panels: the overview's questions, answered on the cluster or from local events alike.

data/dashboards.yaml declares each panel: a data view, a filter, buckets and optional split
buckets. From that one declaration come the aggregation a panel runs on OpenSearch or
Elasticsearch (`aggregation`, read back by `rows`), the same counts made from events in
memory (`Tally`, for the HTML report), and the saved objects of the dashboards module.
A panel's answer is a list of rows {"key", "split" (when split), "count"}, ordered like the
engines order their buckets, so that the two ways of counting compare equal.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

DATA = Path(__file__).resolve().parent / "data" / "dashboards.yaml"
DATASETS = {"delivery": "epost.delivery", "senderlog": "epost.senderlog"}
RANGES = ("gt", "gte", "lt", "lte")
KQL_RANGES = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
CHARTS = ("stacked-bar", "bar", "horizontal-bar", "donut", "table")
BUCKETS = ("terms", "date_histogram", "filters")


@dataclass(frozen=True)
class Panel:
    """One panel of the overview."""

    id: str
    title: str
    answers: str
    data_view: str
    chart: str
    buckets: dict
    split: dict | None = None
    filter: dict | None = None

    def __post_init__(self):
        # A mistake in the YAML should stop the generator, not produce a broken dashboard.
        problems = []
        if self.data_view not in DATASETS:
            problems.append(f"unknown data view {self.data_view!r}")
        if self.chart not in CHARTS:
            problems.append(f"unknown chart {self.chart!r}, use one of {', '.join(CHARTS)}")
        if len(set(self.buckets) & set(BUCKETS)) != 1:
            problems.append(f"buckets need one of {', '.join(BUCKETS)}")
        if self.split and "terms" not in self.split:
            problems.append("split buckets are terms")
        if self.split and self.chart == "donut":
            problems.append("a donut has no split")
        if problems:
            raise ValueError(f"panel {self.id}: " + "; ".join(problems))

    @property
    def dataset(self) -> str:
        return DATASETS[self.data_view]

    def fields(self) -> set[str]:
        """Every field the panel filters or counts on."""
        found = set((self.filter or {}))
        for spec in (self.buckets, self.split or {}):
            found.update(spec[kind] for kind in ("terms", "date_histogram") if kind in spec)
            for condition in spec.get("filters", {}).values():
                found.update(condition)
        return found


@dataclass(frozen=True)
class Search:
    """The saved search of the overview: matching events with chosen columns."""

    id: str
    title: str
    answers: str
    data_view: str
    filter: dict
    columns: tuple[str, ...]

    @property
    def dataset(self) -> str:
        return DATASETS[self.data_view]


@cache
def definition() -> dict:
    """The parsed data/dashboards.yaml."""
    return yaml.safe_load(DATA.read_text(encoding="utf-8"))


def panels() -> list[Panel]:
    """The panels, in the order of the dashboard."""
    return [Panel(**spec) for spec in definition()["panels"]]


def search() -> Search:
    """The saved search of failed attempts."""
    spec = dict(definition()["search"])
    spec["columns"] = tuple(spec["columns"])
    return Search(**spec)


def data_views() -> dict[str, dict]:
    """Data view name -> {pattern, name}."""
    return definition()["data_views"]


# Filters, in the three languages that need them.

def query(condition: dict | None) -> dict:
    """A filter as query DSL (OpenSearch and Elasticsearch)."""
    clauses = []
    for field, value in (condition or {}).items():
        if isinstance(value, list):
            clauses.append({"terms": {field: value}})
        elif isinstance(value, dict) and "exists" in value:
            clauses.append({"exists": {"field": field}})
        elif isinstance(value, dict):
            clauses.append({"range": {field: {op: value[op] for op in RANGES if op in value}}})
        else:
            clauses.append({"term": {field: value}})
    return {"bool": {"filter": clauses}}


def kql(condition: dict | None) -> str:
    """A filter as a KQL query string (Kibana and OpenSearch Dashboards)."""
    parts = []
    for field, value in (condition or {}).items():
        if isinstance(value, list):
            parts.append("(" + " or ".join(f"{field} : {_kql_value(v)}" for v in value) + ")")
        elif isinstance(value, dict) and "exists" in value:
            parts.append(f"{field} : *")
        elif isinstance(value, dict):
            parts.extend(f"{field} {KQL_RANGES[op]} {value[op]}" for op in RANGES if op in value)
        else:
            parts.append(f"{field} : {_kql_value(value)}")
    return " and ".join(parts)


def _kql_value(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def matches(event: dict, condition: dict | None) -> bool:
    """Whether an event passes a filter, with the engines' semantics for arrays and absence."""
    for field, value in (condition or {}).items():
        found = values(event, field)
        if isinstance(value, list):
            ok = any(v in value for v in found)
        elif isinstance(value, dict) and "exists" in value:
            ok = bool(found)
        elif isinstance(value, dict):
            ok = any(_in_range(v, value) for v in found)
        else:
            ok = value in found
        if not ok:
            return False
    return True


def _in_range(found, bounds: dict) -> bool:
    if not isinstance(found, (int, float)):
        return False
    return all(COMPARE[op](found, bounds[op]) for op in RANGES if op in bounds)


def values(event: dict, field: str) -> list:
    """The values of a dotted field of an event (a list field gives each of its values)."""
    node = event
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    if node is None:
        return []
    return list(node) if isinstance(node, list) else [node]


# The aggregation a panel runs on the cluster, and its answer as rows.

def aggregation(panel: Panel, timezone: str = "UTC") -> dict:
    """The search body of a panel (size 0), for the index pattern of its data view."""
    outer = _bucket_agg(panel.buckets, timezone)
    if panel.split:
        outer["aggs"] = {"split": _bucket_agg(panel.split, timezone)}
    return {"size": 0, "query": query(panel.filter), "aggs": {"buckets": outer}}


def _bucket_agg(spec: dict, timezone: str) -> dict:
    if "terms" in spec:
        terms = {"field": spec["terms"], "size": spec.get("size", 10)}
        if "missing" in spec:
            terms["missing"] = spec["missing"]
        return {"terms": terms}
    if "date_histogram" in spec:
        return {"date_histogram": {"field": spec["date_histogram"],
                                   "fixed_interval": spec["interval"],
                                   "time_zone": timezone, "min_doc_count": 1}}
    return {"filters": {"filters": {label: query(condition)
                                    for label, condition in spec["filters"].items()}}}


def rows(panel: Panel, answer: dict) -> list[dict]:
    """A search answer as the panel's rows."""
    found = []
    for key, bucket in _buckets(panel.buckets, answer["aggregations"]["buckets"]):
        if not panel.split:
            found.append({"key": key, "count": bucket["doc_count"]})
            continue
        for split, inner in _buckets(panel.split, bucket["split"]):
            found.append({"key": key, "split": split, "count": inner["doc_count"]})
    return found


def _buckets(spec: dict, agg: dict):
    if "filters" in spec:
        # The engines answer named filters as an object; keep the order of the definition.
        return [(label, agg["buckets"][label]) for label in spec["filters"]]
    if "date_histogram" in spec:
        return [(bucket["key_as_string"], bucket) for bucket in agg["buckets"]]
    return [(bucket["key"], bucket) for bucket in agg["buckets"]]


# The same counts from events in memory.

class Tally:
    """Counts events into a panel's buckets one at a time, then gives the panel's rows."""

    def __init__(self, panel: Panel, timezone: str = "UTC"):
        self.panel = panel
        self.zone = ZoneInfo(timezone)
        self.counts: Counter = Counter()
        self.totals: Counter = Counter()

    def add(self, event: dict) -> None:
        if event.get("event", {}).get("dataset") != self.panel.dataset:
            return
        if not matches(event, self.panel.filter):
            return
        for key in self._keys(self.panel.buckets, event):
            self.totals[key] += 1
            if self.panel.split:
                for split in self._keys(self.panel.split, event):
                    self.counts[key, split] += 1

    def _keys(self, spec: dict, event: dict) -> list:
        if "filters" in spec:
            return [label for label, condition in spec["filters"].items()
                    if matches(event, condition)]
        if "date_histogram" in spec:
            return [self._time_bucket(value, spec["interval"])
                    for value in values(event, spec["date_histogram"])]
        found = values(event, spec["terms"])
        if not found and "missing" in spec:
            return [spec["missing"]]
        return list(dict.fromkeys(found))

    def _time_bucket(self, value: str, interval: str) -> str:
        step = int(interval[:-1]) * UNIT_SECONDS[interval[-1]]
        moment = dt.datetime.fromisoformat(value).astimezone(self.zone)
        # Fixed intervals are counted from the epoch in the zone's local time.
        local = moment.replace(tzinfo=dt.timezone.utc).timestamp()
        start = dt.datetime.fromtimestamp(local - local % step, dt.timezone.utc)
        start = start.replace(tzinfo=None).replace(tzinfo=self.zone)
        text = start.isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")

    def rows(self) -> list[dict]:
        keys = self._ordered(self.panel.buckets, self.totals)
        if not self.panel.split:
            return [{"key": key, "count": self.totals[key]} for key in keys]
        found = []
        for key in keys:
            inner = Counter({split: n for (k, split), n in self.counts.items() if k == key})
            for split in self._ordered(self.panel.split, inner):
                found.append({"key": key, "split": split, "count": inner[split]})
        return found

    @staticmethod
    def _ordered(spec: dict, counts: Counter) -> list:
        if "filters" in spec:
            return list(spec["filters"])
        if "date_histogram" in spec:
            return sorted(counts, key=dt.datetime.fromisoformat)
        # The engines' terms order: most frequent first, then by value.
        ranked = sorted(counts, key=lambda key: (-counts[key], key))
        return ranked[:spec.get("size", 10)]
