"""`senderlog report`: the panels from local files, as HTML that a real browser draws."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline import panels
from pipeline.cli import main
from tests import fleet
from tests.golden import ROOT

ARTIFACTS = ROOT / ".cache" / "artifacts"
CHROMIUM_TIMEOUT = 120


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = fleet.build(tmp_path_factory.mktemp("fleet"))
    html = tmp_path_factory.mktemp("report") / "report.html"
    result = CliRunner().invoke(main, ["report", str(folder), "--date", "2025-12-03",
                                       "--timezone", fleet.TIMEZONE, "--html", str(html)])
    assert result.exit_code == 0, result.output
    return html, result


def figures(page: str) -> dict[str, list[dict]]:
    """The traces each chart is drawn with, read back from the page's Plotly calls."""
    found = {}
    decoder = json.JSONDecoder()
    for match in re.finditer(r'Plotly\.newPlot\(\s*"chart-([\w-]+)",\s*', page):
        found[match.group(1)], _ = decoder.raw_decode(page, match.end())
    return found


def drawn_rows(panel, traces: list[dict]) -> list[dict]:
    """A chart's data as the panel's rows (order of the chart)."""
    trace = traces[0]
    if trace["type"] == "pie":
        return [{"key": k, "count": v} for k, v in zip(trace["labels"], trace["values"])]
    if trace["type"] == "table":
        columns = trace["cells"]["values"]
        names = ["key", "split", "count"] if panel.split else ["key", "count"]
        return [dict(zip(names, row)) for row in zip(*columns)]
    found = []
    for bar in traces:
        labels, counts = (bar["y"], bar["x"]) if bar["orientation"] == "h" else (bar["x"],
                                                                                 bar["y"])
        for label, count in zip(labels, counts):
            row = {"key": label, "count": count}
            if panel.split:
                row["split"] = bar["name"]
            found.append(row)
    return found


def as_drawn(panel, rows: list[dict]) -> list[dict]:
    """The expected rows as a chart shows them: local times without offset."""
    shown = []
    for row in rows:
        row = dict(row)
        if "date_histogram" in panel.buckets:
            row["key"] = row["key"][:16].replace("T", " ")
        shown.append(row)
    return shown


def _key(row: dict):
    return (str(row["key"]), str(row.get("split")), row["count"])


def test_every_chart_draws_exactly_the_panel_numbers(made):
    html, _ = made
    page = html.read_text(encoding="utf-8")
    drawn = figures(page)
    assert list(drawn) == [p.id for p in panels.panels()]
    for panel in panels.panels():
        expected = as_drawn(panel, fleet.EXPECTED[panel.id])
        assert sorted(drawn_rows(panel, drawn[panel.id]), key=_key) == sorted(
            expected, key=_key), panel.id
        total = sum(row["count"] for row in expected)
        assert f'id="panel-{panel.id}" data-total="{total}"' in page


def test_report_is_self_contained_and_lists_the_failed_attempts(made):
    html, _ = made
    page = html.read_text(encoding="utf-8")
    # No script, style or image is fetched: the plotting library is inline.
    assert not re.search(r'<script[^>]+src=|<link[^>]+href=|<img[^>]+src="http', page)
    assert "Plotly.newPlot" in page and len(page) > 3_000_000
    assert "<b>14</b> delivery attempts" in page and "<b>11</b> failed" in page
    table = page[page.index('id="search-failed-attempts"'):]
    assert table.count("<tr><td>") == 11
    assert ("<td>2025-12-04T09:30:00.000+09:00</td><td>MAIL03</td><td>B0000000301</td>"
            "<td>example.net</td><td>retry_period_expired</td><td>remote_or_network</td>"
            ) in table


def test_terminal_summary_gives_each_panels_top_answer(made):
    _, result = made
    lines = [" ".join(line.split("│")[1:-1]).split() for line in result.stderr.splitlines()
             if line.startswith("│")]
    assert ["Failed", "attempts", "by", "cause", "connect_timeout", "3", "11"] in lines
    assert ["STARTTLS", "sticky-SSL", "bug", "MAIL02", "1", "1"] in lines
    assert "14 delivery attempts" in result.stderr
    assert "1 unparsed records" in result.stderr


def test_panels_without_events_say_so_instead_of_drawing(tmp_path):
    html = tmp_path / "one.html"
    result = CliRunner().invoke(main, ["report", "samples/senderlog/success-windows.log",
                                       "--date", "2025-12-03", "--html", str(html)])
    assert result.exit_code == 0, result.output
    page = html.read_text(encoding="utf-8")
    # One delivered attempt of a file outside any host folder: no failure, no host.
    assert list(figures(page)) == ["outcome-over-time", "attempt-results"]
    assert page.count('<p class="empty">Nothing to show') == len(panels.panels()) - 2
    assert "No failed attempts." in page
    assert 'id="panel-attempt-results" data-total="1"' in page


def test_report_of_a_missing_path_fails_clearly(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nothing"), "--html",
                                       str(tmp_path / "r.html")])
    assert result.exit_code == 1
    assert "no such file or folder" in result.stderr
    assert not (tmp_path / "r.html").exists()


class Charts(HTMLParser):
    """Which chart containers hold a drawn Plotly SVG with data traces."""

    def __init__(self):
        super().__init__()
        self.stack: list[str | None] = []
        self.drawn: dict[str, set[str]] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        chart = attrs.get("id", "")
        classes = set((attrs.get("class") or "").split())
        if tag == "div" and chart.startswith("chart-") and "js-plotly-plot" in classes:
            self.stack.append(chart.removeprefix("chart-"))
            self.drawn[self.stack[-1]] = set()
        elif tag not in ("br", "img", "input", "meta", "link", "path", "rect", "line"):
            self.stack.append(self.stack[-1] if self.stack else None)
        current = self.stack[-1] if self.stack else None
        if current:
            self.drawn[current].update(classes & {"main-svg", "trace", "bars", "slice",
                                                  "table"})

    def handle_endtag(self, tag):
        if tag not in ("br", "img", "input", "meta", "link", "path", "rect", "line") \
                and self.stack:
            self.stack.pop()


def chromium(*args: str, log: Path) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium package is needed (.ci/run installs it)"
    profile = log.parent / "profile"
    with log.open("w") as stderr:
        return subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=CHROMIUM_TIMEOUT,
            check=True)


def test_chromium_draws_every_chart_without_console_errors(made, tmp_path):
    html, _ = made
    log = tmp_path / "chromium.log"
    dom = chromium("--window-size=1280,3000", "--dump-dom", html.as_uri(), log=log).stdout

    charts = Charts()
    charts.feed(dom)
    assert sorted(charts.drawn) == sorted(p.id for p in panels.panels())
    for panel in panels.panels():
        marks = {"donut": "slice", "table": "table"}.get(panel.chart, "bars")
        assert {"main-svg", marks} <= charts.drawn[panel.id], panel.id

    # Chromium logs every console message of the page (and uncaught errors) as CONSOLE.
    console = [line for line in log.read_text().splitlines() if ":CONSOLE" in line]
    assert console == []

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    chromium("--window-size=1280,2200", f"--screenshot={shot}", html.as_uri(), log=log)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
