"""Report: the dashboard's panels made from local senderlogs, for sites without a cluster.

The files are parsed exactly like `senderlog parse`; every event is counted into the panels of
data/dashboards.yaml as it goes by (panels.Tally, the same counts the cluster aggregations
give), and the failed attempts are kept for the drill-down table. The result is one HTML file
with the plotting library inlined, so it opens anywhere without a network, and a short
summary on the terminal.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import plotly.graph_objects as go
import plotly.offline
from rich.console import Console
from rich.table import Table

from pipeline import events, panels, summary
from pipeline.panels import Panel

TEMPLATE = Path(__file__).resolve().parent / "data" / "report.html.j2"
NEWEST_FAILURES = 200
CHART_HEIGHT = 380
PALETTE = ("#0969da", "#1a7f37", "#9a6700", "#bc4c00", "#8250df", "#bf3989", "#57606a",
           "#0550ae", "#116329", "#953800")
# Outcomes and sides keep one colour in every chart: green is fine, red is the remote's
# fault, purple the network path's (or the remote's), amber our own.
COLOURS = {"success": "#2da44e", "delivered": "#2da44e", "none": "#2da44e",
           "failure": "#cf222e", "remote": "#cf222e", "remote_or_network": "#8250df",
           "local": "#bf8700", "unknown": "#6e7781"}


@dataclass
class Report:
    """The panels' rows, the newest failed attempts and the counts of the run."""

    timezone: str
    sources: list[str]
    stats: events.Stats = field(default_factory=events.Stats)
    results: list[tuple[Panel, list[dict]]] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    failed_total: int = 0
    first: str | None = None
    last: str | None = None


def build(paths: list[Path], options: events.Options) -> Report:
    """Parse the files and count every panel; raises FileNotFoundError like `parse`."""
    timezone = options.timezone.key
    report = Report(timezone, [str(p) for p in paths])
    tallies = [panels.Tally(panel, timezone) for panel in panels.panels()]
    search = panels.search()
    failed = []
    # (instant, text) of the first and the last attempt: the text keeps the server's offset.
    first = last = None

    for event in events.run(paths, options, report.stats):
        for tally in tallies:
            tally.add(event)
        if event["event"]["dataset"] != search.dataset:
            continue
        moment = event.get("@timestamp")
        if moment:
            instant = _instant(moment)
            if first is None or instant < first[0]:
                first = instant, moment
            if last is None or instant > last[0]:
                last = instant, moment
        if panels.matches(event, search.filter):
            failed.append(event)

    report.first = first and first[1]
    report.last = last and last[1]
    report.results = [(tally.panel, tally.rows()) for tally in tallies]
    report.failed_total = len(failed)
    newest = heapq.nlargest(NEWEST_FAILURES, failed, key=lambda e: _instant(e["@timestamp"]))
    report.failed = [{column: ", ".join(str(v) for v in panels.values(event, column))
                      for column in ("@timestamp", *search.columns)} for event in newest]
    return report


def _instant(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def render_html(report: Report) -> str:
    """The self-contained HTML page."""
    environment = jinja2.Environment(autoescape=True, keep_trailing_newline=True,
                                     undefined=jinja2.StrictUndefined)
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    charts = [{"panel": panel, "rows": rows, "total": sum(r["count"] for r in rows),
               "html": _chart(panel, rows) if rows else None}
              for panel, rows in report.results]
    return template.render(
        title=panels.definition()["title"], report=report, charts=charts,
        search=panels.search(), plotly_js=plotly.offline.get_plotlyjs(),
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def _chart(panel: Panel, rows: list[dict]) -> str:
    figure = _figure(panel, rows)
    figure.update_layout(height=CHART_HEIGHT, margin={"l": 10, "r": 10, "t": 10, "b": 10},
                         template="plotly_white", legend={"orientation": "h", "y": -0.15})
    return figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{panel.id}",
                          default_width="100%", default_height=f"{CHART_HEIGHT}px",
                          config={"displayModeBar": False, "responsive": True})


def _figure(panel: Panel, rows: list[dict]) -> go.Figure:
    keys = list(dict.fromkeys(_label(panel, row["key"]) for row in rows))
    if panel.chart == "donut":
        return go.Figure(go.Pie(labels=keys, values=[row["count"] for row in rows], hole=0.45,
                                sort=False, marker={"colors": _colours(keys)}))
    if panel.chart == "table":
        names = ["key", *(["split"] if panel.split else []), "count"]
        cells = [[row[name] for row in rows] for name in names]
        headers = [_field_name(panel.buckets), *([_field_name(panel.split)]
                                                  if panel.split else []), "attempts"]
        return go.Figure(go.Table(header={"values": headers, "align": "left"},
                                  cells={"values": cells, "align": "left"},
                                  columnwidth=[5, *([2] if panel.split else []), 1.2]))

    horizontal = panel.chart == "horizontal-bar"
    series = {}
    for row in rows:
        name = row.get("split", "attempts")
        points = series.setdefault(name, {})
        points[_label(panel, row["key"])] = row["count"]
    figure = go.Figure()
    for name, points in series.items():
        labels, counts = list(points), list(points.values())
        figure.add_bar(name=str(name), orientation="h" if horizontal else "v",
                       x=counts if horizontal else labels, y=labels if horizontal else counts,
                       marker_color=COLOURS.get(str(name)))
    figure.update_layout(barmode="stack", showlegend=bool(panel.split))
    # Attempts are whole: up to ten, a tick per attempt rather than plotly's 0.5 steps.
    totals = Counter()
    for points in series.values():
        totals.update(points)
    if max(totals.values(), default=0) <= 10:
        (figure.update_xaxes if horizontal else figure.update_yaxes)(dtick=1)
    if horizontal:
        figure.update_yaxes(categoryorder="array", categoryarray=keys, autorange="reversed")
    elif "date_histogram" not in panel.buckets:
        figure.update_xaxes(categoryorder="array", categoryarray=keys)
    return figure


def _colours(labels: list[str]) -> list[str | None]:
    palette = itertools.cycle(PALETTE)
    return [COLOURS.get(label) or next(palette) for label in labels]


def _label(panel: Panel, key) -> str:
    """A bucket key as shown: times in the server's local time, without the offset."""
    if "date_histogram" in panel.buckets:
        return dt.datetime.fromisoformat(key).strftime("%Y-%m-%d %H:%M")
    return str(key)


def _field_name(spec: dict) -> str:
    """A column title: the last part of the field's name (`reply_text` -> `reply text`)."""
    field = spec.get("terms") or spec.get("date_histogram") or "filter"
    return field.rsplit(".", 1)[-1].replace("_", " ")


def print_summary(report: Report, output: str, console: Console | None = None) -> None:
    """The parse summary, then each panel's leading answer."""
    console = console or Console(stderr=True, soft_wrap=True)
    summary.print_summary(report.stats, output, console)
    table = Table(title="Dashboard panels (top answer)", title_justify="left")
    for column, justify in (("panel", "left"), ("top answer", "left"),
                            ("count", "right"), ("in the chart", "right")):
        table.add_column(column, justify=justify)
    for panel, rows in report.results:
        top = max(rows, key=lambda row: row["count"]) if rows else None
        answer = "-" if top is None else " / ".join(
            str(top[k]) for k in ("key", "split") if k in top)
        table.add_row(panel.title, answer, str(top["count"]) if top else "0",
                      str(sum(row["count"] for row in rows)))
    console.print(table)
