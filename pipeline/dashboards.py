"""Dashboards: saved objects for Kibana 8 and OpenSearch Dashboards 2, from the panel list.

Both files hold the data views (index patterns) of the data streams, one visualization per
panel of data/dashboards.yaml, the saved search of failed attempts and the dashboard that
lays them out. Kibana gets Lens visualizations; OpenSearch Dashboards, which has no Lens,
gets the legacy `visualization` objects it imports. Ids are derived from the panel ids, so
installing again overwrites the same objects instead of adding copies, and the files are the
same on every run (they are committed; a test fails when they drift from the definition).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from pipeline import panels
from pipeline.panels import Panel

# A fixed namespace: the same panel id always gives the same saved-object id.
ID_SPACE = uuid.UUID("6f1f3c2e-8a63-4c55-9a0e-5e4e2f1d7c01")
KIBANA = "kibana"
OSD = "opensearch-dashboards"
TARGETS = (KIBANA, OSD)
FILE_NAME = "epost.ndjson"
COUNT = "Attempts"
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
# The dashboard grid is 48 columns wide in both; two panels a row.
PANEL_WIDTH, PANEL_HEIGHT = 24, 15
LENS_XY = {"stacked-bar": "bar_stacked", "bar": "bar", "horizontal-bar": "bar_horizontal"}
# The version of each saved-object type whose shape these objects have, so that the importer
# runs only the migrations written after it: Lens state with `formBased` layers and partition
# `metrics` is 8.6, the dashboard's prefixed panel references 7.17.3. Kibana refuses objects
# newer than itself, so 8.6 is the oldest Kibana they import into. OpenSearch Dashboards knows
# these versions from its 7.10 roots.
KIBANA_VERSIONS = {"index-pattern": "7.11.0", "search": "7.9.3", "lens": "8.6.0",
                   "dashboard": "7.17.3"}
KIBANA_CORE = "8.0.0"
OSD_VERSIONS = {"index-pattern": "7.6.0", "search": "7.9.3", "visualization": "7.10.0",
                "dashboard": "7.9.3"}
OSD_TYPES = {"stacked-bar": "histogram", "bar": "histogram", "horizontal-bar": "horizontal_bar",
             "donut": "pie", "table": "table"}


def object_id(kind: str, name: str) -> str:
    """The stable id of one saved object."""
    return str(uuid.uuid5(ID_SPACE, f"epost-senderlog/{kind}/{name}"))


def _json(value) -> str:
    """JSON embedded in a saved object's attribute, compact and ordered."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def render(target: str) -> str:
    """The NDJSON file of one target, one saved object a line."""
    objects = kibana_objects() if target == KIBANA else osd_objects()
    return "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n" for o in objects)


def export(folder: Path) -> list[Path]:
    """Write <folder>/kibana/epost.ndjson and <folder>/opensearch-dashboards/epost.ndjson."""
    written = []
    for target in TARGETS:
        path = folder / target / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(target), encoding="utf-8")
        written.append(path)
    return written


def _data_view_id(name: str) -> str:
    return object_id("index-pattern", name)


def _data_views(kibana: bool) -> list[dict]:
    found = []
    for name, view in panels.data_views().items():
        attributes = {"title": view["pattern"], "timeFieldName": "@timestamp"}
        if kibana:
            attributes["name"] = view["name"]
        found.append({"type": "index-pattern", "id": _data_view_id(name),
                      "attributes": attributes, "references": []})
    return found


def _index_reference(data_view: str, name: str = INDEX_REF) -> dict:
    return {"type": "index-pattern", "id": _data_view_id(data_view), "name": name}


def _search_source(query: str, with_index: bool = True) -> dict:
    source = {"query": {"query": query, "language": "kuery"}, "filter": []}
    if with_index:
        source["indexRefName"] = INDEX_REF
    return {"searchSourceJSON": _json(source)}


def _saved_search() -> dict:
    search = panels.search()
    return {
        "type": "search", "id": object_id("search", search.id),
        "attributes": {
            "title": search.title, "description": search.answers,
            "columns": list(search.columns), "sort": [["@timestamp", "desc"]],
            "kibanaSavedObjectMeta": _search_source(panels.kql(search.filter)),
        },
        "references": [_index_reference(search.data_view)],
    }


def _grid(index: int, full_width: bool = False) -> dict:
    if full_width:
        # Below the last row, also when that row has one panel only.
        row = (index + 1) // 2
        return {"x": 0, "y": row * PANEL_HEIGHT, "w": 2 * PANEL_WIDTH, "h": PANEL_HEIGHT,
                "i": str(index)}
    return {"x": (index % 2) * PANEL_WIDTH, "y": (index // 2) * PANEL_HEIGHT,
            "w": PANEL_WIDTH, "h": PANEL_HEIGHT, "i": str(index)}


def _dashboard(visualization_type: str, kibana: bool) -> dict:
    """The dashboard: every panel's visualization, then the saved search at full width."""
    spec = panels.definition()
    items = [(visualization_type, object_id(visualization_type, p.id), False)
             for p in panels.panels()]
    items.append(("search", object_id("search", panels.search().id), True))

    layout, references = [], []
    for index, (kind, target_id, full_width) in enumerate(items):
        ref = f"panel_{index}"
        panel = {"panelIndex": str(index), "gridData": _grid(index, full_width),
                 "type": kind, "panelRefName": ref, "embeddableConfig": {}}
        if kibana:
            panel["version"] = KIBANA_VERSIONS[kind]
        layout.append(panel)
        # Kibana 8 prefixes a panel's reference name with its panel index.
        references.append({"type": kind, "id": target_id,
                           "name": f"{index}:{ref}" if kibana else ref})
    return {
        "type": "dashboard", "id": object_id("dashboard", "overview"),
        "attributes": {
            "title": spec["title"], "description": spec["description"],
            "panelsJSON": _json(layout),
            "optionsJSON": _json({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": True, "timeFrom": "now-7d", "timeTo": "now",
            "refreshInterval": {"pause": True, "value": 0},
            "kibanaSavedObjectMeta": _search_source("", with_index=False),
        },
        "references": references,
    }


# Kibana 8: Lens.

def kibana_objects() -> list[dict]:
    """Data views, Lens visualizations, the saved search and the dashboard for Kibana 8."""
    objects = [*_data_views(kibana=True), *(_lens(p) for p in panels.panels()),
               _saved_search(), _dashboard("lens", kibana=True)]
    return [{**o, "coreMigrationVersion": KIBANA_CORE,
             "migrationVersion": {o["type"]: KIBANA_VERSIONS[o["type"]]}} for o in objects]


def _lens(panel: Panel) -> dict:
    layer = object_id("lens-layer", panel.id)
    bucket = object_id("lens-column", f"{panel.id}/buckets")
    split = object_id("lens-column", f"{panel.id}/split") if panel.split else None
    count = object_id("lens-column", f"{panel.id}/count")

    columns = {bucket: _lens_bucket(panel.buckets, count),
               count: {"label": COUNT, "customLabel": True, "dataType": "number",
                       "operationType": "count", "sourceField": "___records___",
                       "isBucketed": False, "scale": "ratio", "params": {"emptyAsNull": True}}}
    if split:
        columns[split] = _lens_bucket(panel.split, count)
    order = [bucket, *([split] if split else []), count]

    return {
        "type": "lens", "id": object_id("lens", panel.id),
        "attributes": {
            "title": panel.title, "description": panel.answers,
            "visualizationType": _lens_type(panel),
            "state": {
                "datasourceStates": {"formBased": {"layers": {layer: {
                    "columns": columns, "columnOrder": order, "incompleteColumns": {}}}}},
                "visualization": _lens_visualization(panel, layer, bucket, split, count),
                "query": {"query": panels.kql(panel.filter), "language": "kuery"},
                "filters": [], "internalReferences": [], "adHocDataViews": {},
            },
        },
        "references": [_index_reference(panel.data_view,
                                        f"indexpattern-datasource-layer-{layer}")],
    }


def _lens_type(panel: Panel) -> str:
    return {"donut": "lnsPie", "table": "lnsDatatable"}.get(panel.chart, "lnsXY")


def _lens_bucket(spec: dict, count: str) -> dict:
    if "date_histogram" in spec:
        return {"label": "@timestamp", "dataType": "date", "operationType": "date_histogram",
                "sourceField": spec["date_histogram"], "isBucketed": True, "scale": "interval",
                "params": {"interval": spec["interval"], "includeEmptyRows": True,
                           "dropPartials": False}}
    if "filters" in spec:
        return {"label": "Filters", "dataType": "string", "operationType": "filters",
                "isBucketed": True, "scale": "ordinal",
                "params": {"filters": [{"label": label, "input": {
                    "query": panels.kql(condition), "language": "kuery"}}
                    for label, condition in spec["filters"].items()]}}
    return {"label": spec["terms"], "dataType": "string", "operationType": "terms",
            "sourceField": spec["terms"], "isBucketed": True, "scale": "ordinal",
            "params": {"size": spec.get("size", 10), "orderDirection": "desc",
                       "orderBy": {"type": "column", "columnId": count},
                       "otherBucket": False, "missingBucket": "missing" in spec}}


def _lens_visualization(panel: Panel, layer: str, bucket: str, split: str | None,
                        count: str) -> dict:
    if panel.chart == "donut":
        return {"shape": "donut", "layers": [{
            "layerId": layer, "layerType": "data", "primaryGroups": [bucket],
            "metrics": [count], "numberDisplay": "value", "categoryDisplay": "default",
            "legendDisplay": "default"}]}
    if panel.chart == "table":
        return {"layerId": layer, "layerType": "data",
                "columns": [{"columnId": c} for c in (bucket, split, count) if c]}
    series = LENS_XY[panel.chart]
    if split and panel.chart == "horizontal-bar":
        series = "bar_horizontal_stacked"
    data_layer = {"layerId": layer, "layerType": "data", "seriesType": series,
                  "xAccessor": bucket, "accessors": [count]}
    if split:
        data_layer["splitAccessor"] = split
    return {"preferredSeriesType": series, "legend": {"isVisible": True, "position": "right"},
            "valueLabels": "hide", "layers": [data_layer]}


# OpenSearch Dashboards 2: legacy visualizations.

def osd_objects() -> list[dict]:
    """Index patterns, legacy visualizations, the saved search and the dashboard for OSD 2."""
    objects = [*_data_views(kibana=False), *(_visualization(p) for p in panels.panels()),
               _saved_search(), _dashboard("visualization", kibana=False)]
    return [{**o, "migrationVersion": {o["type"]: OSD_VERSIONS[o["type"]]}} for o in objects]


def _visualization(panel: Panel) -> dict:
    kind = OSD_TYPES[panel.chart]
    table = kind == "table"
    aggs = [{"id": "1", "enabled": True, "type": "count", "schema": "metric",
             "params": {"customLabel": COUNT}},
            _osd_bucket("2", panel.buckets, "bucket" if table else "segment")]
    if panel.split:
        aggs.append(_osd_bucket("3", panel.split, "bucket" if table else "group"))
    state = {"title": panel.title, "type": kind, "aggs": aggs, "params": _osd_params(kind)}
    return {
        "type": "visualization", "id": object_id("visualization", panel.id),
        "attributes": {
            "title": panel.title, "description": panel.answers, "visState": _json(state),
            "uiStateJSON": "{}", "version": 1,
            "kibanaSavedObjectMeta": _search_source(panels.kql(panel.filter)),
        },
        "references": [_index_reference(panel.data_view)],
    }


def _osd_bucket(agg_id: str, spec: dict, schema: str) -> dict:
    if "date_histogram" in spec:
        params = {"field": spec["date_histogram"], "interval": spec["interval"],
                  "min_doc_count": 1, "extended_bounds": {}}
        kind = "date_histogram"
    elif "filters" in spec:
        params = {"filters": [{"label": label, "input": {"query": panels.kql(condition),
                                                         "language": "kuery"}}
                              for label, condition in spec["filters"].items()]}
        kind = "filters"
    else:
        params = {"field": spec["terms"], "size": spec.get("size", 10), "order": "desc",
                  "orderBy": "1", "otherBucket": False, "otherBucketLabel": "Other",
                  "missingBucket": "missing" in spec,
                  "missingBucketLabel": spec.get("missing", "Missing")}
        kind = "terms"
    return {"id": agg_id, "enabled": True, "type": kind, "schema": schema, "params": params}


def _osd_params(kind: str) -> dict:
    """The chart options a legacy visualization of this type needs to draw."""
    common = {"type": kind, "addTooltip": True, "addLegend": kind != "table",
              "legendPosition": "right"}
    if kind == "table":
        return {**common, "perPage": 10, "showPartialRows": False, "showMetricsAtAllLevels":
                False, "showTotal": False, "totalFunc": "sum", "percentageCol": ""}
    if kind == "pie":
        return {**common, "isDonut": True,
                "labels": {"show": False, "values": True, "last_level": True, "truncate": 100}}
    horizontal = kind == "horizontal_bar"
    return {
        **common, "times": [], "addTimeMarker": False,
        "grid": {"categoryLines": False},
        "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "show": True,
                          "position": "left" if horizontal else "bottom",
                          "scale": {"type": "linear"}, "labels": {"show": True, "filter": True,
                                                                 "truncate": 100},
                          "title": {}}],
        "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value",
                       "show": True, "position": "bottom" if horizontal else "left",
                       "scale": {"type": "linear", "mode": "normal"},
                       "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                       "title": {"text": COUNT}}],
        "seriesParams": [{"show": True, "type": "histogram", "mode": "stacked",
                          "data": {"label": COUNT, "id": "1"}, "valueAxis": "ValueAxis-1",
                          "drawLinesBetweenPoints": True, "showCircles": True}],
    }
