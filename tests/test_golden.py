"""Every sample file against its exact golden file, and every sample line accounted for."""

from __future__ import annotations

import re

import pytest

from tests.conftest import SHARED_SAMPLES
from tests.golden import ROOT, events_of, golden_path, render, sample_files

PREFIX = re.compile(rb"\[\d\d:\d\d:\d\d(?::\d\d\d)?\] ")


@pytest.mark.parametrize("sample", sample_files(), ids=str)
def test_events_equal_golden_file(sample):
    expected = golden_path(sample).read_text(encoding="utf-8")
    assert render(events_of(sample)) == expected


@pytest.mark.parametrize("sample", sample_files(), ids=str)
def test_every_line_is_in_an_event(sample):
    found = [e for e in events_of(sample) if e["event"]["dataset"] != "epost.delivery"]
    originals = "\n".join(e["event"]["original"] for e in found)
    for line in (ROOT / sample).read_bytes().split(b"\n"):
        text = line.rstrip(b"\r").decode("utf-8")
        assert text in originals, f"line not in any event: {text!r}"

    prefixes = len(PREFIX.findall((ROOT / sample).read_bytes()))
    joined = sum(e["event"]["original"].count("] SendMailMess:[") for e in found)
    if "senderlog" in sample.parts:
        assert len(found) + joined == prefixes


def test_golden_files_have_no_orphans():
    expected = {golden_path(sample).name for sample in sample_files()}
    present = {path.name for path in (ROOT / "tests" / "golden").glob("*.json")}
    assert present == expected


@pytest.mark.skipif(not SHARED_SAMPLES.is_dir(), reason="shared samples not beside the repo")
def test_bundled_samples_are_the_shared_ones():
    for shared in sorted(SHARED_SAMPLES.iterdir()):
        bundled = ROOT / "samples" / "senderlog" / shared.name
        assert bundled.read_bytes() == shared.read_bytes(), shared.name


def test_mail_tree_holds_every_related_log_line():
    related = (ROOT / "samples" / "senderlog" / "related-logs.txt").read_text(encoding="utf-8")
    lines = [line for line in related.splitlines() if line and not line.startswith("#")]
    tree = {
        line
        for path in (ROOT / "samples" / "mail").rglob("*.log")
        for line in path.read_bytes().decode("utf-8").split("\r\n")
    }
    assert [line for line in lines if line not in tree] == []
