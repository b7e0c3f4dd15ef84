"""The dashboards: committed saved objects that are complete, and panels that count right."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import causes, dashboards, panels, setup as cluster_setup, templates
from pipeline.cli import main
from pipeline.cluster import Cluster, Connection
from tests import fleet
from tests.conftest import parse_file
from tests.golden import ROOT

COMMITTED = {target: ROOT / "dashboards" / target / dashboards.FILE_NAME
             for target in dashboards.TARGETS}
AGGREGATABLE = {"keyword", "long", "date", "ip"}
NAMESPACE = "dashboards"


def objects(target: str) -> list[dict]:
    lines = COMMITTED[target].read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_committed_files_are_what_the_definition_generates():
    # Regenerate with `make generated` after changing data/dashboards.yaml.
    for target in dashboards.TARGETS:
        assert COMMITTED[target].read_text(encoding="utf-8") == dashboards.render(target)


def test_export_command_writes_both_files(tmp_path):
    result = CliRunner().invoke(main, ["dashboards", "export", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    for target in dashboards.TARGETS:
        written = tmp_path / "out" / target / dashboards.FILE_NAME
        assert written.read_text(encoding="utf-8") == COMMITTED[target].read_text("utf-8")


@pytest.mark.parametrize("target, visualization", [("kibana", "lens"),
                                                   ("opensearch-dashboards", "visualization")])
def test_every_line_is_a_saved_object_with_unique_id(target, visualization):
    found = objects(target)
    kinds = [o["type"] for o in found]
    assert kinds == ["index-pattern"] * 2 + [visualization] * len(panels.panels()) + [
        "search", "dashboard"]
    assert len({o["id"] for o in found}) == len(found)
    for o in found:
        assert set(o) >= {"type", "id", "attributes", "references"}
        assert o["attributes"]["title"]
        for reference in o["references"]:
            assert set(reference) == {"type", "id", "name"}
    patterns = [o["attributes"]["title"] for o in found if o["type"] == "index-pattern"]
    assert patterns == ["logs-epost.delivery-*", "logs-epost.senderlog-*"]
    versions = dashboards.KIBANA_VERSIONS if target == "kibana" else dashboards.OSD_VERSIONS
    assert all(o["migrationVersion"] == {o["type"]: versions[o["type"]]} for o in found)
    if target == "kibana":
        # Nothing newer than the oldest Kibana the objects are meant for (8.6).
        assert {o["coreMigrationVersion"] for o in found} == {"8.0.0"}
        assert max(versions.values(), key=lambda v: tuple(map(int, v.split(".")))) == "8.6.0"


@pytest.mark.parametrize("target", dashboards.TARGETS)
def test_every_reference_resolves_and_every_ref_name_is_used(target):
    found = objects(target)
    by_key = {(o["type"], o["id"]): o for o in found}
    for o in found:
        names = {r["name"] for r in o["references"]}
        assert len(names) == len(o["references"])
        for reference in o["references"]:
            assert (reference["type"], reference["id"]) in by_key, (o["id"], reference)
        assert names == _names_used(o, target), o["attributes"]["title"]


def _names_used(o: dict, target: str) -> set[str]:
    """The reference names an object's own attributes point at."""
    attributes = o["attributes"]
    used = set()
    source = attributes.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
    if source and "indexRefName" in json.loads(source):
        used.add(json.loads(source)["indexRefName"])
    if o["type"] == "lens":
        layers = attributes["state"]["datasourceStates"]["formBased"]["layers"]
        used.update(f"indexpattern-datasource-layer-{layer}" for layer in layers)
    if o["type"] == "dashboard":
        for panel in json.loads(attributes["panelsJSON"]):
            prefix = f"{panel['panelIndex']}:" if target == "kibana" else ""
            used.add(prefix + panel["panelRefName"])
    return used


def test_dashboards_show_every_panel_and_the_saved_search_in_order():
    for target, kind in (("kibana", "lens"), ("opensearch-dashboards", "visualization")):
        found = objects(target)
        titles = {o["id"]: o["attributes"]["title"] for o in found}
        board = found[-1]
        shown = [titles[r["id"]] for r in board["references"]]
        assert shown == [p.title for p in panels.panels()] + ["Failed delivery attempts"]
        layout = json.loads(board["attributes"]["panelsJSON"])
        assert [p["type"] for p in layout] == [kind] * len(panels.panels()) + ["search"]
        assert layout[-1]["gridData"] == {"x": 0, "y": 90, "w": 48, "h": 15, "i": "11"}


def test_lens_columns_and_accessors_agree():
    for o in objects("kibana"):
        if o["type"] != "lens":
            continue
        state = o["attributes"]["state"]
        (layer_id, layer), = state["datasourceStates"]["formBased"]["layers"].items()
        assert sorted(layer["columnOrder"]) == sorted(layer["columns"])
        visual = state["visualization"]
        layers = visual.get("layers", [visual])
        for data_layer in layers:
            assert data_layer["layerId"] == layer_id
            accessors = (data_layer.get("accessors", []) + data_layer.get("metrics", [])
                         + data_layer.get("primaryGroups", [])
                         + [c["columnId"] for c in data_layer.get("columns", [])]
                         + [data_layer[k] for k in ("xAccessor", "splitAccessor")
                            if k in data_layer])
            assert set(accessors) == set(layer["columns"]), o["attributes"]["title"]


def test_lens_panel_of_failing_domains_is_stacked_terms_with_the_failure_query():
    lens = next(o for o in objects("kibana")
                if o["attributes"]["title"] == "Top failing destination domains")
    assert lens["attributes"]["visualizationType"] == "lnsXY"
    state = lens["attributes"]["state"]
    assert state["query"] == {"query": 'event.outcome : "failure"', "language": "kuery"}
    columns = next(iter(state["datasourceStates"]["formBased"]["layers"].values()))["columns"]
    terms = sorted((c["sourceField"], c["params"]["size"]) for c in columns.values()
                   if c["operationType"] == "terms")
    # Room for every cause label: each domain's bar adds up to its failed attempts.
    assert terms == [("destination.domain", 10), ("epost.delivery.cause", 30)]
    assert len(causes.labels()) <= 30
    assert state["visualization"]["layers"][0]["seriesType"] == "bar_horizontal_stacked"


def test_osd_visualizations_carry_their_aggregations():
    found = {o["attributes"]["title"]: o for o in objects("opensearch-dashboards")}
    state = json.loads(found["Delivery attempts over time by outcome"]["attributes"]["visState"])
    assert state["type"] == "histogram"
    assert [(a["type"], a["schema"], a["params"].get("field")) for a in state["aggs"]] == [
        ("count", "metric", None), ("date_histogram", "segment", "@timestamp"),
        ("terms", "group", "event.outcome")]
    state = json.loads(found["What became of the attempts"]["attributes"]["visState"])
    assert state["aggs"][1]["params"]["filters"] == [
        {"label": "delivered", "input": {"query": 'event.outcome : "success"',
                                         "language": "kuery"}},
        {"label": "failed, will retry", "input": {
            "query": 'event.outcome : "failure" and epost.delivery.retry : "retry"',
            "language": "kuery"}},
        {"label": "failed, returned to sender", "input": {
            "query": 'event.outcome : "failure" and epost.delivery.retry : "bounce"',
            "language": "kuery"}}]
    source = json.loads(found["Top refusals by remote servers"]["attributes"][
        "kibanaSavedObjectMeta"]["searchSourceJSON"])
    assert source["query"]["query"] == (
        'event.outcome : "failure" and epost.delivery.smtp.reply_code >= 400')


def test_every_panel_field_is_aggregatable_in_the_index_template():
    declared = templates.field_types()
    used = set().union(*(p.fields() for p in panels.panels()))
    assert "destination.domain" in used and "epost.delivery.carried_cause.label" in used
    for field in used:
        mapping = declared[field]
        assert mapping["type"] in AGGREGATABLE, field
        assert mapping.get("index", True) and mapping.get("doc_values", True), field
    for field in panels.search().columns:
        assert field in declared


def test_filters_become_query_dsl_and_kql_alike():
    condition = {"event.outcome": "failure", "host.name": ["MAIL01", "MAIL02"],
                 "epost.delivery.smtp.reply_code": {"gte": 400, "lt": 500},
                 "epost.delivery.socket_error.code": {"exists": True}}
    assert panels.query(condition) == {"bool": {"filter": [
        {"term": {"event.outcome": "failure"}},
        {"terms": {"host.name": ["MAIL01", "MAIL02"]}},
        {"range": {"epost.delivery.smtp.reply_code": {"gte": 400, "lt": 500}}},
        {"exists": {"field": "epost.delivery.socket_error.code"}}]}}
    assert panels.kql(condition) == (
        'event.outcome : "failure" and (host.name : "MAIL01" or host.name : "MAIL02") and '
        "epost.delivery.smtp.reply_code >= 400 and epost.delivery.smtp.reply_code < 500 and "
        "epost.delivery.socket_error.code : *")
    event = {"event": {"outcome": "failure"}, "host": {"name": "MAIL02"},
             "epost": {"delivery": {"smtp": {"reply_code": 421},
                                    "socket_error": {"code": 0}}}}
    assert panels.matches(event, condition)
    event["epost"]["delivery"]["smtp"]["reply_code"] = 550
    assert not panels.matches(event, condition)


def test_a_wrong_panel_definition_is_refused_with_its_reason():
    with pytest.raises(ValueError) as refused:
        panels.Panel(id="odd", title="Odd", answers="-", data_view="delivery", chart="donut",
                     buckets={"terms": "host.name"}, split={"date_histogram": "@timestamp"})
    assert str(refused.value) == "panel odd: split buckets are terms; a donut has no split"
    with pytest.raises(ValueError, match="unknown chart 'pie'"):
        panels.Panel(id="pie", title="Pie", answers="-", data_view="delivery", chart="pie",
                     buckets={"terms": "host.name"})


# The aggregations on the real node, over the fleet shipped once.

@pytest.fixture(scope="module")
def fleet_folder(tmp_path_factory):
    return fleet.build(tmp_path_factory.mktemp("fleet"))


@pytest.fixture(scope="module")
def shipped_fleet(search_node, fleet_folder):
    cluster = Cluster(Connection(search_node.url))
    cluster_setup.install(cluster)
    result = CliRunner().invoke(main, ["ship", str(fleet_folder), "--date", "2025-12-03",
                                       "--namespace", NAMESPACE],
                                env={"SENDERLOG_URL": search_node.url})
    assert result.exit_code == 0, result.output
    assert "490 indexed" in result.stderr
    cluster.request("POST", f"/logs-epost.*-{NAMESPACE}/_refresh")
    return cluster


def local_rows(folder: Path, timezone: str = fleet.TIMEZONE) -> dict[str, list[dict]]:
    found, _ = parse_file(folder, date=fleet.DATE)
    tallies = [panels.Tally(panel, timezone) for panel in panels.panels()]
    for event in found:
        for tally in tallies:
            tally.add(event)
    return {tally.panel.id: tally.rows() for tally in tallies}


@pytest.mark.parametrize("panel", panels.panels(), ids=lambda p: p.id)
def test_panel_aggregation_on_the_node_gives_what_the_samples_imply(panel, shipped_fleet):
    pattern = panels.data_views()[panel.data_view]["pattern"]
    index = pattern.replace("*", NAMESPACE)
    answer = shipped_fleet.search(index, panels.aggregation(panel, fleet.TIMEZONE))
    assert panels.rows(panel, answer) == fleet.EXPECTED[panel.id]


def test_local_counts_equal_the_expected_panels(fleet_folder):
    assert local_rows(fleet_folder) == fleet.EXPECTED


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_hours_are_cut_alike_in_other_time_zones(timezone, shipped_fleet, fleet_folder):
    panel = next(p for p in panels.panels() if p.id == "outcome-over-time")
    answer = shipped_fleet.search(f"logs-epost.delivery-{NAMESPACE}",
                                  panels.aggregation(panel, timezone))
    found = panels.rows(panel, answer)
    assert found == local_rows(fleet_folder, timezone)[panel.id]
    assert found[0] == {"key": {"UTC": "2025-12-03T00:00:00.000Z",
                                "America/New_York": "2025-12-02T19:00:00.000-05:00",
                                "Asia/Kolkata": "2025-12-03T05:00:00.000+05:30"}[timezone],
                        "split": "failure", "count": 1}


def test_saved_search_query_finds_the_failed_attempts(shipped_fleet):
    search = panels.search()
    answer = shipped_fleet.search(f"logs-epost.delivery-{NAMESPACE}", {
        "size": 20, "query": panels.query(search.filter), "sort": [{"@timestamp": "desc"}],
        "_source": list(search.columns)})
    hits = [hit["_source"] for hit in answer["hits"]["hits"]]
    assert len(hits) == 11
    assert [(h["host"]["name"], h["epost"]["delivery"]["cause"]) for h in hits[:2]] == [
        ("MAIL03", "retry_period_expired"), ("MAIL02", "starttls_sticky_ssl_bug")]
    assert all(h["epost"]["delivery"]["explanation"] for h in hits)
