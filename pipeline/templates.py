"""Templates: the index template, data streams and lifecycle policy of the events.

All events go to data streams `logs-<dataset>-<namespace>` (`logs-epost.senderlog-default`,
`logs-epost.delivery-default`, ...). One composable index template covers them; its mapping is
generated from data/fields.yaml (grok captures) and data/index-fields.yaml (fields the parser
sets itself), so that every field an event can carry has its intended type.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from pipeline import ecs

DATA = Path(__file__).resolve().parent / "data" / "index-fields.yaml"
TEMPLATE = "logs-epost"
COMPONENT = "logs-epost@mappings"
POLICY = "logs-epost"
PATTERN = "logs-epost.*-*"
# Above the built-in logs-*-* template of Elasticsearch (priority 100).
PRIORITY = 200
CAPTURE_TYPES = {"keyword": "keyword", "long": "long", "ip": "ip", "address_list": "keyword"}


@cache
def field_types() -> dict[str, dict]:
    """Every event field with its mapping, by dotted name."""
    found: dict[str, dict] = {}
    for entry in ecs.captures().values():
        kind = entry.get("type", "keyword")
        if kind == "ignore":
            continue
        mapping = {"type": CAPTURE_TYPES[kind]}
        found[entry["field"]] = mapping
        if entry["field"].startswith("epost.senderlog."):
            found["epost.log." + entry["field"].removeprefix("epost.senderlog.")] = mapping

    for name, mapping in yaml.safe_load(DATA.read_text(encoding="utf-8"))["fields"].items():
        found[name] = {"type": mapping} if isinstance(mapping, str) else dict(mapping)
    return found


def mappings() -> dict:
    """The `mappings` body: nested properties built from the dotted names."""
    properties: dict = {}
    for name, mapping in sorted(field_types().items()):
        node = properties
        *parents, leaf = name.split(".")
        for part in parents:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[leaf] = mapping
    return {"date_detection": False, "dynamic": True, "properties": properties}


def component_template() -> dict:
    """The component template that holds the mapping."""
    return {"template": {"mappings": mappings()},
            "_meta": {"description": "E-Post senderlog events (ECS)"}}


def index_template(engine: str, lifecycle: bool = True) -> dict:
    """The composable template that makes logs-epost.*-* data streams."""
    settings: dict = {"index.mapping.total_fields.limit": 2000}
    if engine == "elasticsearch" and lifecycle:
        settings["index.lifecycle.name"] = POLICY
    return {
        "index_patterns": [PATTERN],
        "data_stream": {},
        "priority": PRIORITY,
        "composed_of": [COMPONENT],
        "template": {"settings": settings},
        "_meta": {"description": "E-Post senderlog data streams"},
    }


def ilm_policy(delete_after_days: int) -> dict:
    """Elasticsearch ILM: roll over daily or at 50 GB a shard, delete after the retention."""
    return {"policy": {"phases": {
        "hot": {"actions": {"rollover": {"max_age": "1d", "max_primary_shard_size": "50gb"}}},
        "delete": {"min_age": f"{delete_after_days}d", "actions": {"delete": {}}},
    }}}


def ism_policy(delete_after_days: int) -> dict:
    """OpenSearch ISM: the same life cycle, attached to new logs-epost.* data streams."""
    return {"policy": {
        "description": "E-Post senderlog data streams: roll over daily, delete at retention",
        "default_state": "hot",
        "states": [
            {"name": "hot", "actions": [{"rollover": {"min_index_age": "1d",
                                                       "min_primary_shard_size": "50gb"}}],
             "transitions": [{"state_name": "delete",
                              "conditions": {"min_index_age": f"{delete_after_days}d"}}]},
            {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
        ],
        "ism_template": [{"index_patterns": ["logs-epost.*"], "priority": PRIORITY}],
    }}


def data_stream(dataset: str, namespace: str) -> str:
    """The data stream an event of a dataset goes to."""
    return f"logs-{dataset}-{namespace}"
