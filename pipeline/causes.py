"""Causes: the labels of the diagnosis contract and the rules that need no context.

Everything here judges one piece of evidence: a remote reply, an answer E-Post wrote itself,
the `code=X/Y` of a failed read, a socket error. Combining evidence across the records of an
attempt is the job of `attempts`. Labels, sides, explanations and reply rules are data in
data/causes.yaml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from pipeline import errors

DATA = Path(__file__).resolve().parent / "data" / "causes.yaml"

SIDES = ("local", "remote", "network", "remote_or_network", "none", "unknown")
RETRY_CLASSES = ("none", "refusal", "line_error", "no_response", "unclassified_3xx", "terminal")
LOCAL_451 = re.compile(r"error in processing\. ?\(code=(-?\d+)/([0-9a-fA-F]+)\)")


class _Explanation(dict):
    """Values for an explanation template; a value the attempt lacks reads 'unknown'."""

    def __missing__(self, key: str) -> str:
        return "unknown"


@dataclass(frozen=True)
class Rule:
    """One line of the remote-reply table: every condition it sets must hold."""

    label: str
    codes: re.Pattern | None
    enhanced: re.Pattern | None
    text: tuple[str, ...]
    all_text: tuple[str, ...]
    steps: tuple[str, ...]

    def matches(self, code: str, enhanced: str, text: str, step: str | None) -> bool:
        if self.steps and step not in self.steps:
            return False
        if self.codes and not self.codes.search(code):
            return False
        if self.enhanced and not self.enhanced.search(enhanced):
            return False
        if self.text and not any(phrase in text for phrase in self.text):
            return False
        return all(phrase in text for phrase in self.all_text)


@cache
def _data() -> dict:
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    for label, entry in data["labels"].items():
        if entry["side"] not in SIDES:
            raise ValueError(f"causes.yaml: {label} has unknown side {entry['side']}")
    for rule in data["remote_rules"]:
        if rule["label"] not in data["labels"]:
            raise ValueError(f"causes.yaml: rule for unknown label {rule['label']}")
    return data


@cache
def _rules() -> tuple[Rule, ...]:
    def pattern(value: str | None) -> re.Pattern | None:
        return re.compile(value) if value else None

    return tuple(
        Rule(
            rule["label"], pattern(rule.get("codes")), pattern(rule.get("enhanced")),
            tuple(p.lower() for p in rule.get("text", ())),
            tuple(p.lower() for p in rule.get("all_text", ())),
            tuple(rule.get("step", ())),
        )
        for rule in remote_rules()
    )


def remote_rules() -> list[dict]:
    """The remote-reply rules of data/causes.yaml, in order."""
    return _data()["remote_rules"]


def local_answers() -> list[dict]:
    """The answers E-Post writes itself, in the order they are tried."""
    return _data()["local_answers"]


def labels() -> list[str]:
    """Every label of the contract, in the order of data/causes.yaml."""
    return list(_data()["labels"])


def side(label: str) -> str:
    """The side at fault a label stands for."""
    return _data()["labels"][label]["side"]


def explain(label: str, **values: object) -> str:
    """The label's one-sentence explanation, filled with what the attempt knows."""
    template = " ".join(_data()["labels"][label]["explanation"].split())
    known = {key: value for key, value in values.items() if value not in (None, "")}
    return template.format_map(_Explanation(known))


def retry_class(result: int | None) -> str | None:
    """The retry class E-Post applies to an attempt that ended with `return code=N`."""
    if result is None:
        return None
    for entry in _data()["retry_classes"]:
        if entry["from"] <= result <= entry["to"]:
            return entry["class"]
    return None


def classify_reply(
    code: str | None, enhanced: str | None, text: str, step: str | None = None
) -> str | None:
    """Label a remote reply (contract 2.4); None for a positive reply (2xx, 3xx)."""
    if not code:
        return "unknown"
    if code[0] in "123":
        return None

    lowered = text.lower()
    for rule in _rules():
        if rule.matches(code, enhanced or "", lowered, step):
            return rule.label
    return "unknown"


def local_answer(text: str) -> str | None:
    """The label of an answer E-Post generated itself, or None for a remote reply."""
    for pattern, label in _local_patterns():
        if pattern.search(text):
            return label
    return None


@cache
def _local_patterns() -> tuple[tuple[re.Pattern, str], ...]:
    return tuple((re.compile(entry["match"]), entry["label"]) for entry in local_answers())


def parse_local_451(text: str) -> tuple[int, str] | None:
    """X and Y of `...error in processing.(code=X/Y)`, Y as printed (hex)."""
    match = LOCAL_451.search(text)
    if match is None:
        return None
    return int(match.group(1)), match.group(2).lower()


def received_size(code_y: str) -> int:
    """Y is printed with %x: ffffffff is -1 (time-out or error), 0 is a closed connection."""
    value = int(code_y, 16)
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclass(frozen=True)
class ReadFailure:
    """What a failed read (`code=X/Y`) means on its own."""

    label: str
    decoded: errors.ErrorCode
    underlying: str | None = None
    note: str | None = None


def read_failure(x: int, y: str, platform: str | None, inside_tls: bool = False) -> ReadFailure:
    """Label a local 451 from X and Y alone (contract 3.7, rows without attempt context)."""
    decoded = errors.last_error(x, platform)
    by_y = "receive_timeout" if received_size(y) == -1 else "connection_closed_by_peer"
    tls_note = "inside TLS a TLS read error looks the same" \
        if inside_tls and by_y == "connection_closed_by_peer" else None

    if x == 0:
        return ReadFailure(by_y, decoded, note=tls_note)

    # Not a socket error: a value the failed read left over from an earlier call.
    if decoded.table in (None, "windows_system"):
        if x == 183 and decoded.table == "windows_system":
            return ReadFailure("local_file_conflict", decoded, underlying=by_y)
        return ReadFailure(by_y, decoded, note=f"error value {x} is stale; {y} tells the event")

    label = decoded.label_on_read
    if decoded.name and label is None and decoded.label_at_connect is None:
        return ReadFailure(by_y, decoded, note=f"error value {x} is stale; {y} tells the event")
    if label == "receive_timeout":
        if by_y != "receive_timeout":
            return ReadFailure("unknown", decoded)
        return ReadFailure(label, decoded, note="the operating system timed out the connection")
    return ReadFailure(label or "unknown", decoded)
