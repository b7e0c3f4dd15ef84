"""Ingest pipeline: the senderlog record events, built by Elasticsearch or OpenSearch itself.

For teams that ship with Filebeat: the pipeline turns one senderlog record (`message`, with
`log.file.path` and `log.offset`) into the same `epost.senderlog` event the Python parser
makes. It is generated from the same sources: the grok patterns and their dispatch by head
word (data/records.yaml), the field table (data/fields.yaml), the redaction rules, the error
tables and the cause rules that need no context across records. Attempt events need many
records at once and are made only by the Python shipper.

Only processors that Elasticsearch 8/9 and OpenSearch 2/3 share are used, and the painless
scripts use no regular expressions (OpenSearch switches them off by default): regex work is
done by grok and gsub, and the reply rules are expanded into plain strings here.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

from pipeline import causes, ecs, errors, grok, records, redact

NAME = "epost-senderlog"
SCRIPTS = Path(__file__).resolve().parent / "data" / "ingest"
TEMP = "_epost"

REFERENCE = re.compile(r"%\{(\w+)(?::([\w.]+))?\}")
RAW_GROUP = re.compile(r"\(\?<([a-z][a-z0-9_]*)>")
# The part of a log file's path that names the host: senderlog/<host>/<file>.
HOST_IN_PATH = r"\A(?:[\s\S]*[/\\])?(?i:senderlog)[/\\](?<_epost.host>[^/\\]+)[/\\][^/\\]+\z"
DATE_IN_PATH = r"(?:\A|[/\\])(?<_epost.file_date>[0-9]{6})(?:_[0-9]{2})?\.log\z"
# The time prefix and the record body after it.
PREFIX = (rf"\A(?:\[(?<{TEMP}.time>[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(?::[0-9]{{3}})?)\] )?"
          rf"(?<{TEMP}.body>[\s\S]*)\z")
# A reply half and its text on the next line, joined by the shipper's multiline rule.
JOIN_REPLY = r"\A(\[[^\]\n]*\] SendMailMess:)\n(?=\[)"


def java_regex(regex: str) -> str:
    """A Python regex as Joni, Java and Ruby read it: absolute anchors, ASCII digits."""
    return (regex.replace("\\Z", "\\z").replace("\\d", "[0-9]")
            .replace("^", "\\A", 1 if regex.startswith("^") else 0))


def _scoped(regex: str, scope: str) -> str:
    """Move every capture of a pattern under a temporary object: reply_text -> _epost.c.x."""
    regex = REFERENCE.sub(
        lambda m: f"%{{{m.group(1)}:{scope}.{m.group(2)}}}" if m.group(2) else m.group(0), regex)
    return RAW_GROUP.sub(lambda m: f"(?<{scope}.{m.group(1)}>", regex)


@cache
def definitions() -> dict[str, str]:
    """Every pattern of grok_patterns/ with its captures moved under _epost.c."""
    scope = f"{TEMP}.c"
    return {name: java_regex(_scoped(regex, scope)) for name, regex in grok.definitions().items()}


def closure(names: list[str]) -> dict[str, str]:
    """The definitions these patterns need, and nothing more."""
    known = definitions()
    needed, todo = {}, list(names)
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed[name] = known[name]
        todo.extend(reference for reference, _ in REFERENCE.findall(known[name]))
    return dict(sorted(needed.items()))


def _grok(tag: str, pairs: list[records.Pair], condition: str | None) -> dict:
    """One grok processor trying these patterns in order; the match leaves a marker."""
    patterns = [rf"\A%{{{name}}}\z(?<{TEMP}.p.{name}>)" for name, _ in pairs]
    processor = {"tag": tag, "field": f"{TEMP}.body", "patterns": patterns,
                 "pattern_definitions": closure([name for name, _ in pairs]),
                 "ignore_missing": True, "ignore_failure": True}
    if condition:
        processor["if"] = condition
    return {"grok": processor}


def _painless_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def head_regex() -> str:
    """records.HEAD with its word captured as _epost.head."""
    head = java_regex(records.HEAD.pattern)
    last_group = head.rindex("([^")
    return f"{head[:last_group]}(?<{TEMP}.head>{head[last_group + 1:]}"


def _classify() -> list[dict]:
    """Record shape: the head word picks the patterns, as in records.classify."""
    by_head, always = records.dispatch("senderlog")
    steps = [{"grok": {"tag": "epost-head-word", "field": f"{TEMP}.body",
                       "patterns": [head_regex()],
                       "ignore_failure": True}}]
    for word, pairs in by_head.items():
        steps.append(_grok(f"epost-grok-{tag(word)}", list(pairs),
                           f"ctx.{TEMP}.head == {_painless_string(word)}"))
    steps.append(_grok("epost-grok-headless", list(always), f"ctx.{TEMP}.p == null"))
    return steps


def tag(word: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", word).strip("-") or "non-ascii"


def _redaction() -> list[dict]:
    """The redaction rules as gsub processors on the raw message."""
    return [{"gsub": {"tag": f"epost-redact-{rule.name.replace('_', '-')}", "field": "message",
                      "pattern": java_regex(rule.pattern.pattern),
                      "replacement": re.sub(r"\\(\d)", r"$\1", rule.keep)}}
            for rule in redact.rules()]


def _local_answers() -> dict:
    """E-Post's own answers in a stored reply, recognised by grok (first rule that matches)."""
    patterns = []
    for entry in causes.local_answers():
        regex = java_regex(entry["match"])
        if entry["label"] == "local_error_451":
            regex = regex.replace("(-?[0-9]+)", f"(?<{TEMP}.x>-?[0-9]+)", 1)
            regex = regex.replace("([0-9a-fA-F]+)", f"(?<{TEMP}.y>[0-9a-fA-F]+)", 1)
        patterns.append(f"{regex}(?<{TEMP}.answer.{entry['label']}>)")
    return {"grok": {"tag": "epost-local-answer", "field": f"{TEMP}.c.reply_text",
                     "patterns": patterns, "ignore_missing": True, "ignore_failure": True}}


def _expand(regex: str | None) -> dict | None:
    """A reply-rule regex as plain strings: {"strings": [...], "whole": bool, "start": bool}.

    The rules are simple (anchors, literals, character classes), so every string they match
    can be listed and painless needs no regex. Anything else is refused here.
    """
    if not regex:
        return None
    start, whole = regex.startswith("^"), regex.endswith("$") and not regex.endswith("\\$")
    body = regex[1 if start else 0: -1 if whole else None]
    strings = [""]
    for atom in re.findall(r"\[[^\]]+\]|\\.|.", body):
        if atom.startswith("["):
            choices = [c for c in re.findall(r".-.|.", atom[1:-1])]
            chars = [chr(n) for c in choices
                     for n in (range(ord(c[0]), ord(c[2]) + 1) if len(c) == 3 else [ord(c)])]
        elif atom.startswith("\\") and not atom[1].isalnum():
            chars = [atom[1]]
        elif atom.isalnum() or atom in "-_ ":
            chars = [atom]
        else:
            raise ValueError(f"reply rule {regex!r}: {atom!r} cannot be expanded for painless")
        strings = [prefix + char for prefix in strings for char in chars]
    return {"strings": strings, "whole": whole, "start": start}


def _cause_params() -> dict:
    """Data for the record-level cause script: error tables, sides, reply rules."""
    tables = {}
    for table in ("winsock", "windows_system", "freebsd", "linux"):
        tables[table] = {str(code): {key: value for key, value in vars(found).items()
                                     if key != "code" and value is not None}
                         for code, found in errors.table(table).items()}
    rules = [{"label": rule["label"], "codes": _expand(rule.get("codes")),
              "enhanced": _expand(rule.get("enhanced")),
              "text": [phrase.lower() for phrase in rule.get("text", [])],
              "all_text": [phrase.lower() for phrase in rule.get("all_text", [])]}
             for rule in causes.remote_rules() if not rule.get("step")]
    return {"tables": tables, "sides": {label: causes.side(label) for label in causes.labels()},
            "rules": rules, "linux_only_from": errors.LINUX_ONLY_FROM}


def _field_params() -> dict:
    by_head, always = records.dispatch("senderlog")
    kinds = {name: kind for pairs in [*by_head.values(), always] for name, kind in pairs}
    return {"captures": ecs.captures(), "kinds": kinds, "failure_tag": ecs.FAILURE_TAG}


def _script(tag: str, name: str, params: dict) -> dict:
    source = (SCRIPTS / f"{name}.painless").read_text(encoding="utf-8")
    return {"script": {"tag": tag, "lang": "painless", "source": source, "params": params}}


def pipeline(timezone: str = "Asia/Tokyo") -> dict:
    """The ingest pipeline body for PUT _ingest/pipeline/epost-senderlog."""
    processors = [
        {"set": {"tag": "epost-dataset", "field": "event.dataset", "value": "epost.senderlog"}},
        {"set": {"tag": "epost-kind", "field": "event.kind", "value": "event"}},
        {"set": {"tag": "epost-module", "field": "event.module", "value": "epost"}},
        *_redaction(),
        {"rename": {"tag": "epost-original", "field": "message",
                    "target_field": "event.original"}},
        {"grok": {"tag": "epost-prefix", "field": "event.original", "patterns": [PREFIX]}},
        {"gsub": {"tag": "epost-join-reply", "field": f"{TEMP}.body", "pattern": JOIN_REPLY,
                  "replacement": "$1"}},
        *_classify(),
        _local_answers(),
        _script("epost-fields", "fields", _field_params()),
        {"grok": {"tag": "epost-host-from-path", "field": "log.file.path",
                  "patterns": [HOST_IN_PATH], "ignore_missing": True, "ignore_failure": True}},
        {"grok": {"tag": "epost-date-from-path", "field": "log.file.path",
                  "patterns": [DATE_IN_PATH], "ignore_missing": True, "ignore_failure": True}},
        _script("epost-time-and-host", "time", {}),
        {"date": {"tag": "epost-timestamp", "field": f"{TEMP}.when", "target_field": "@timestamp",
                  "formats": ["yyyy-MM-dd HH:mm:ss:SSS", "yyyy-MM-dd HH:mm:ss",
                              "yyMMdd HH:mm:ss:SSS", "yyMMdd HH:mm:ss"],
                  "timezone": timezone, "if": f"ctx.{TEMP}.when != null",
                  "ignore_failure": True}},
        _script("epost-cause", "cause", _cause_params()),
        {"remove": {"tag": "epost-cleanup", "field": [TEMP, "epost_file_date", "epost_platform"],
                    "ignore_missing": True}},
    ]
    return {
        "description": "E-Post Mail Server senderlog records to ECS events "
                       "(generated by `senderlog export ingest-pipeline`)",
        "processors": processors,
        "on_failure": [
            {"set": {"tag": "epost-failed", "field": "event.kind", "value": "pipeline_error"}},
            {"set": {"tag": "epost-failed-message", "field": "error.message",
                     "value": "{{ _ingest.on_failure_message }}"}},
            {"set": {"tag": "epost-failed-processor", "field": "error.type",
                     "value": "{{ _ingest.on_failure_processor_type }} "
                              "{{ _ingest.on_failure_processor_tag }}"}},
            {"rename": {"tag": "epost-failed-original", "field": "message",
                        "target_field": "event.original", "ignore_missing": True,
                        "if": "ctx.event?.original == null"}},
            {"remove": {"tag": "epost-failed-cleanup", "field": TEMP, "ignore_missing": True}},
        ],
    }


def render(timezone: str = "Asia/Tokyo") -> str:
    """The pipeline as the committed JSON file holds it."""
    return json.dumps(pipeline(timezone), ensure_ascii=False, indent=2) + "\n"
