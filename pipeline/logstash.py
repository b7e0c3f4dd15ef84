"""Logstash: the senderlog filters as a Logstash pipeline, generated from the same sources.

The filters do in Logstash what the parser does one record at a time: redaction, the record
shape by head word and grok pattern (patterns_dir is grok_patterns/), the field table and the
time. Error decoding and record-level causes are scripts of the ingest pipeline with no
Logstash counterpart here; the README says so.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import jinja2

from pipeline import ecs, grok, ingest, records, redact

TEMPLATES = Path(__file__).resolve().parent / "data" / "logstash"
CONF = "epost-senderlog.conf"


def _field_ref(dotted: str) -> str:
    return "".join(f"[{part}]" for part in dotted.split("."))


def _named(regex: str) -> str:
    """Ingest capture names as Logstash field references: _epost.a -> [@metadata][epost][a]."""
    return re.sub(rf"\(\?<{ingest.TEMP}\.([\w.]+)>",
                  lambda m: f"(?<{_field_ref('@metadata.epost.' + m.group(1))}>", regex)


def context(timezone: str = "Asia/Tokyo") -> dict:
    """Everything the template needs, from the package's data files."""
    by_head, always = records.dispatch("senderlog")
    branches = [{"condition": f"[@metadata][epost][head] == {_quote(word)}",
                 "tag": ingest.tag(word), "patterns": list(pairs)}
                for word, pairs in by_head.items()]
    branches.append({"condition": "![@metadata][epost][kind]", "tag": "headless",
                     "patterns": list(always)})

    renames, longs, address_lists = [], [], []
    for capture, spec in ecs.captures().items():
        kind = spec.get("type", "keyword")
        if kind == "ignore":
            continue
        renames.append((capture, _field_ref(spec["field"])))
        if kind == "long":
            longs.append(_field_ref(spec["field"]))
        elif kind == "address_list":
            address_lists.append(capture)

    return {
        "redaction": [{"pattern": ingest.java_regex(rule.pattern.pattern),
                       "replacement": rule.keep} for rule in redact.rules()],
        "prefix": _named(ingest.PREFIX), "join_reply": ingest.JOIN_REPLY,
        "head": _named(ingest.head_regex()), "branches": branches,
        "renames": renames, "longs": sorted(set(longs)), "address_lists": address_lists,
        "host_in_path": _named(ingest.HOST_IN_PATH), "date_in_path": _named(ingest.DATE_IN_PATH),
        "timezone": timezone,
    }


def _quote(text: str) -> str:
    """A Logstash string: taken literally (config.support_escapes is off by default)."""
    if '"' in text:
        raise ValueError(f"cannot quote {text!r} for Logstash")
    return f'"{text}"'


def render(timezone: str = "Asia/Tokyo") -> str:
    """The pipeline configuration file."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                     keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                                     autoescape=False)
    environment.filters["quote"] = _quote
    return environment.get_template(f"{CONF}.j2").render(context(timezone))


PIPELINES_YML = """\
# Add to Logstash's pipelines.yml, with this folder copied to /etc/logstash/epost (the
# patterns are then found in /etc/logstash/epost/patterns; elsewhere, set EPOST_PATTERNS_DIR
# in Logstash's environment or keystore).
- pipeline.id: epost-senderlog
  path.config: "/etc/logstash/epost/conf.d/*.conf"
"""


def export(folder: Path, timezone: str = "Asia/Tokyo", patterns: bool = True) -> list[Path]:
    """Write conf.d/, patterns/ (a copy of grok_patterns/) and a pipelines.yml snippet."""
    written = []
    conf = folder / "conf.d" / CONF
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(render(timezone), encoding="utf-8")
    written.append(conf)

    if patterns:
        target = folder / "patterns"
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(grok.patterns_dir().iterdir()):
            if source.is_file():
                written.append(Path(shutil.copyfile(source, target / source.name)))

    snippet = folder / "pipelines.yml"
    snippet.write_text(PIPELINES_YML, encoding="utf-8")
    written.append(snippet)
    return written
