"""Redaction: remove the credentials E-Post writes into the senderlog.

AUTH PLAIN and AUTH LOGIN answers, CRAM-MD5 answers, the XOAUTH2 token request, the token
endpoint's JSON answer and the XOAUTH2 bearer string all appear as command halves
(`[id] SendMailMess:...`). The rules in data/redaction.yaml replace them in the record text
before it is parsed, so no captured field and no `event.original` can hold them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent / "data" / "redaction.yaml"


@dataclass(frozen=True)
class Rule:
    """One substitution: a regex and what replaces each match."""

    name: str
    pattern: re.Pattern
    keep: str


@cache
def rules() -> tuple[Rule, ...]:
    """The redaction rules, compiled once."""
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    return tuple(
        Rule(rule["name"], re.compile(rule["match"]), rule["keep"]) for rule in data["rules"]
    )


@cache
def marker() -> str:
    """The text that stands where a secret was."""
    return yaml.safe_load(DATA.read_text(encoding="utf-8"))["marker"]


def redact(text: str) -> str:
    """The record text with every credential replaced by the marker."""
    if "SendMailMess:" not in text:
        return text
    for rule in rules():
        text = rule.pattern.sub(rule.keep, text)
    return text
