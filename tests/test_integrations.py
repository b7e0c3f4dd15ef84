"""The generated Logstash and ingest pipelines: committed, up to date, and consistent."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from pipeline import ecs, grok, ingest, logstash, records, templates
from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMITTED_INGEST = ROOT / "integrations" / "ingest" / "epost-senderlog.json"
COMMITTED_CONF = ROOT / "integrations" / "logstash" / "conf.d" / logstash.CONF


def test_committed_files_are_what_the_sources_generate():
    # Regenerate with `make generated` after changing patterns or data files.
    assert COMMITTED_INGEST.read_text(encoding="utf-8") == ingest.render()
    assert COMMITTED_CONF.read_text(encoding="utf-8") == logstash.render()


def test_every_ingest_processor_is_tagged_and_shared_by_both_engines():
    body = json.loads(COMMITTED_INGEST.read_text(encoding="utf-8"))
    processors = body["processors"] + body["on_failure"]
    tags = [next(iter(p.values()))["tag"] for p in processors]
    assert len(tags) == len(set(tags))
    assert all(tag.startswith("epost-") for tag in tags)
    # Processors of Elasticsearch 8/9 and OpenSearch 2/3 alike.
    assert {next(iter(p)) for p in processors} <= {
        "set", "gsub", "rename", "grok", "script", "date", "remove"}
    scripts = [p["script"]["source"] for p in processors if "script" in p]
    assert len(scripts) == 3
    assert not any("=~" in source or "==~" in source or "/." in source for source in scripts)


def test_ingest_grok_covers_every_senderlog_pattern_once_per_head():
    body = ingest.pipeline()
    used = set()
    for processor in body["processors"]:
        for pattern in processor.get("grok", {}).get("patterns", []):
            used.update(re.findall(r"%\{(\w+)\}", pattern))
    by_head, always = records.dispatch("senderlog")
    assert used == {name for pairs in [*by_head.values(), always] for name, _ in pairs}


def _conf() -> str:
    return COMMITTED_CONF.read_text(encoding="utf-8")


def test_logstash_patterns_exist_in_the_patterns_dir():
    referenced = set(re.findall(r"%\{(\w+)\}", _conf()))
    by_head, always = records.dispatch("senderlog")
    assert referenced == {name for pairs in [*by_head.values(), always] for name, _ in pairs}
    assert referenced <= set(grok.definitions())


def test_logstash_fields_exist_in_the_index_template():
    conf = _conf()
    renames = dict(re.findall(r'"\[@metadata\]\[epost\]\[c\]\[(\w+)\]" => "([^"]+)"', conf))
    kept = {name for name, spec in ecs.captures().items() if spec.get("type") != "ignore"}
    assert set(renames) == kept

    declared = set(templates.field_types())
    targets = {".".join(re.findall(r"\[([^\]]+)\]", ref)) for ref in renames.values()}
    converted = {".".join(re.findall(r"\[([^\]]+)\]", ref)) for ref in
                 re.findall(r'"((?:\[[a-z_]+\])+)" => "integer"', conf)}
    assert targets <= declared
    assert converted and all(templates.field_types()[f]["type"] == "long" for f in converted)

    kinds = set(re.findall(r'"\[@metadata\]\[epost\]\[kind\]" => "(\w+)"', conf))
    assert kinds == {kind for pairs in [*records.dispatch("senderlog")[0].values(),
                                         records.dispatch("senderlog")[1]] for _, kind in pairs}


def test_logstash_config_is_well_formed():
    conf = re.sub(r'"[^"]*"', '""', _conf())  # strings may hold braces and brackets
    conf = re.sub(r"#.*", "", conf)
    depth = 0
    for char in conf:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    assert re.findall(r"^(\w+) \{", conf, re.M) == ["input", "filter", "output"]
    assert len(set(re.findall(r'id => "([^"]+)"', _conf()))) == len(
        re.findall(r'id => "', _conf()))


def test_export_commands_write_both_artifacts(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["export", "ingest-pipeline", "--timezone", "UTC"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    date = next(p["date"] for p in body["processors"] if "date" in p)
    assert date["timezone"] == "UTC"

    result = runner.invoke(main, ["export", "logstash", str(tmp_path / "ls")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ls" / "conf.d" / logstash.CONF).read_text() == logstash.render()
    copied = sorted(p.name for p in (tmp_path / "ls" / "patterns").iterdir())
    assert copied == sorted(p.name for p in grok.patterns_dir().iterdir() if p.is_file())
    assert (tmp_path / "ls" / "pipelines.yml").is_file()


def test_logstash_finds_its_patterns_where_the_pipelines_snippet_installs_them():
    conf = logstash.render()
    installed = re.search(r'path\.config: "(/.+)/conf\.d/\*\.conf"', logstash.PIPELINES_YML)
    defaults = set(re.findall(r'\$\{EPOST_PATTERNS_DIR:([^}]+)\}', conf))
    assert defaults == {installed.group(1) + "/patterns"} == {"/etc/logstash/epost/patterns"}
