"""Every grok pattern compiles, matches its examples exactly and rejects what it must."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline import grok, records

EXAMPLES = yaml.safe_load(
    (Path(__file__).parent / "data" / "pattern-examples.yaml").read_text(encoding="utf-8"))
SHAPES = yaml.safe_load(records.DATA.read_text(encoding="utf-8"))


def _cases(key: str) -> list:
    return [
        pytest.param(log, pattern, case, id=f"{pattern}:{str(case)[:50]}")
        for log, patterns in EXAMPLES.items()
        for pattern, cases in patterns.items()
        for case in cases.get(key, [])
    ]


def test_every_pattern_compiles_and_has_examples():
    for log, entries in SHAPES.items():
        for entry in entries:
            grok.matcher(entry["pattern"])
            if log in ("senderlog", "faillog", "outlog"):
                assert entry["pattern"] in EXAMPLES[log], f"no example for {entry['pattern']}"


@pytest.mark.parametrize(("log", "pattern", "case"), _cases("match"))
def test_example_is_classified_with_exact_captures(log, pattern, case):
    kind, found, captures = records.classify(case["text"], log)
    assert found == pattern
    assert captures == {key: str(value) for key, value in case["captures"].items()}


@pytest.mark.parametrize(("log", "pattern", "case"), _cases("reject"))
def test_pattern_rejects(log, pattern, case):
    assert grok.matcher(pattern).match(case) is None


@pytest.mark.parametrize("text", [
    "",
    "\x00\x01\x02 binary",
    "[B0000097013] SomethingNew:happened",
    "hello world",
    "[B0000097013]",
    "SendMailMess:QUIT",
    "[B0000097013] ConnectHost: winsock connect failed.",
])
def test_unknown_shapes_stay_unknown(text):
    assert records.classify(text, "senderlog") == ("unknown", None, {})


def test_bad_pattern_fails_loudly(tmp_path):
    (tmp_path / "bad").write_text("EPOST_BAD %{EPOST_MISSING:value}\n", encoding="utf-8")
    with pytest.raises(grok.PatternError, match="unknown pattern EPOST_MISSING"):
        grok.definitions(tmp_path)


@pytest.mark.parametrize("line", [
    "EPOST_X %{EPOST_Y:with.dot}\nEPOST_Y a",
    "EPOST_X %{EPOST_Y:CamelCase}\nEPOST_Y a",
    "EPOST_X (?<bad-name>a)",
    "EPOST_X %{EPOST_Y:value:int}\nEPOST_Y a",
    "EPOST_X a\nEPOST_X b",
    "not a pattern line",
])
def test_pattern_files_are_checked(tmp_path, line):
    (tmp_path / "bad").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(grok.PatternError):
        grok.definitions(tmp_path)
