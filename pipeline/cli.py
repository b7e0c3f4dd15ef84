"""Command line: `senderlog parse` and the other jobs of the package."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import re
import sys
import threading
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline import (dashboards, errors, events, follow as following, ingest, logstash, query,
                      report, saved_objects, setup as cluster_setup, ship as shipping, summary,
                      workers as parallel)
from pipeline.cluster import ENGINES, Cluster, ClusterError, Connection
from pipeline.grok import PatternError
from pipeline.registry import Registry, default_path as default_registry

log = logging.getLogger("senderlog")


def _timezone(_ctx, _param, value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise click.BadParameter(f"unknown time zone {value!r}") from error


def _since(_ctx, param, value: str) -> str:
    if value == "all" and param.name == "since":
        return value
    if not re.fullmatch(r"[1-9][0-9]*[smhd]", value):
        raise click.BadParameter("use a number and a unit: 30m, 24h, 7d" +
                                 (", or all" if param.name == "since" else ""))
    return value


def _date(_ctx, _param, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter("use YYYY-MM-DD") from error


CLUSTER_KEYS = ("url", "username", "password", "api_key", "ca_certs", "verify_certs", "engine")


def _section(data: dict, name: str) -> dict:
    return {key.replace("-", "_"): value for key, value in (data.get(name) or {}).items()}


def _load_config(ctx: click.Context, _param, value: str | None) -> str | None:
    """Read the YAML configuration into click's defaults: flags and environment still win.

    The file has a `cluster:` section used by every command and one optional section per
    command (`parse:`, `ship:`, ...) with that command's option names.
    """
    path = Path(value) if value else Path.home() / ".config" / "senderlog" / "config.yaml"
    if not path.is_file():
        if value:
            raise click.BadParameter(f"no such file: {value}")
        return None
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cluster = {key.replace("-", "_"): v for key, v in (data.get("cluster") or {}).items()}
    unknown = set(cluster) - set(CLUSTER_KEYS)
    if unknown:
        raise click.BadParameter(f"{path}: unknown cluster keys {sorted(unknown)}")
    ctx.default_map = {
        name: {**cluster, **_section(data, name)}
        for name in ("parse", "setup", "ship", "query", "follow")
    }
    # Kibana or OpenSearch Dashboards is another server than the cluster, with its own login.
    ctx.default_map["dashboards"] = {"install": _section(data, "dashboards")}
    return value


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--config", envvar="SENDERLOG_CONFIG", callback=_load_config, is_eager=True,
              expose_value=False, help="YAML configuration file "
              "[default: ~/.config/senderlog/config.yaml].")
def main(verbose: int) -> None:
    """Turn E-Post Mail Server senderlogs into diagnosed delivery events."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)
    # The HTTP clients log every request at INFO; the operator wants ours.
    for noisy in ("opensearch", "elastic_transport", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR if level > logging.DEBUG else level)


def _decorate(command, decorators: list):
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def source_options(command):
    """Options every job that reads senderlogs shares."""
    return _decorate(command, [
        click.argument("paths", nargs=-1, required=True,
                       type=click.Path(path_type=Path)),
        click.option("--timezone", default="Asia/Tokyo", show_default=True,
                     callback=_timezone, help="Local time zone of the mail server."),
        click.option("--platform", type=click.Choice(errors.PLATFORMS),
                     help="Server platform; default: read from the paths in the log."),
        click.option("--host", help="host.name for files not in a <host> folder."),
        click.option("--date", callback=_date,
                     help="Date (YYYY-MM-DD) for files not named yymmdd.log."),
    ])


def _login_options(server: str) -> list:
    """How to log in to the cluster or to the dashboards server, also from the environment."""
    return [
        click.option("--username", envvar="SENDERLOG_USERNAME",
                     help="Basic-auth user (env SENDERLOG_USERNAME)."),
        click.option("--password", envvar="SENDERLOG_PASSWORD",
                     help="Basic-auth password (env SENDERLOG_PASSWORD)."),
        click.option("--api-key", envvar="SENDERLOG_API_KEY",
                     help="API key, base64 id:key (env SENDERLOG_API_KEY)."),
        click.option("--ca-certs", envvar="SENDERLOG_CA_CERTS",
                     help="CA bundle for TLS (env SENDERLOG_CA_CERTS)."),
        click.option("--verify-certs/--no-verify-certs", default=True, show_default=True,
                     help=f"Check the {server}'s TLS certificate."),
    ]


def cluster_options(command):
    """Where the cluster is and how to log in; every value can come from the environment."""
    return _decorate(command, [
        click.option("--url", envvar="SENDERLOG_URL", required=True,
                     help="Cluster URL, e.g. https://cluster:9200 (env SENDERLOG_URL, or "
                          "url: in the config file's cluster: section)."),
        *_login_options("cluster"),
        click.option("--engine", type=click.Choice(ENGINES),
                     help="Skip detection: the cluster is this engine."),
    ])


def dashboards_login_options(command):
    """How to log in to Kibana or OpenSearch Dashboards: as to the cluster."""
    return _decorate(command, _login_options("server"))


def connect(url, username, password, api_key, ca_certs, verify_certs, engine,
            wait_seconds: float = 0) -> Cluster:
    """A connected cluster, or a clear error."""
    connection = Connection(url, username, password, api_key, ca_certs, verify_certs, engine)
    try:
        return Cluster(connection, wait_seconds)
    except ClusterError as error:
        raise click.ClickException(str(error)) from None


def _cluster_args(kwargs: dict) -> dict:
    return {key: kwargs.pop(key) for key in CLUSTER_KEYS}


@main.command()
@source_options
@click.option("-o", "--output", default="-", show_default=True,
              help="NDJSON file to write; - for standard output.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Processes reading files in parallel (one host's days stay together).")
def parse(paths, timezone, platform, host, date, output, workers) -> None:
    """Parse senderlog files and folders into NDJSON events.

    Every record becomes an event (dataset epost.senderlog), every delivery attempt another
    (dataset epost.delivery) with its cause and the side at fault. A summary goes to stderr.
    """
    options = events.Options(timezone, platform, host, date)
    stats = events.Stats()
    target = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")
    try:
        parallel.parse(list(paths), options, stats, target, workers)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, as other command-line tools do.
        # Python would try to flush standard output again at exit, so point it elsewhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from error
    except PatternError as error:
        raise click.ClickException(f"grok patterns: {error}") from error
    finally:
        if target is not sys.stdout:
            target.close()

    summary.print_summary(stats, output)


@main.command()
@cluster_options
@click.option("--retention-days", default=90, show_default=True,
              help="Delete data older than this (ILM on Elasticsearch, ISM on OpenSearch).")
@click.option("--no-lifecycle", is_flag=True, help="Install no lifecycle policy.")
@click.option("--ingest-pipeline", is_flag=True,
              help=f"Also install the ingest pipeline {ingest.NAME} (for Filebeat).")
@click.option("--timezone", default="Asia/Tokyo", show_default=True, callback=_timezone,
              help="The servers' local time zone, for the ingest pipeline.")
def setup(retention_days, no_lifecycle, ingest_pipeline, timezone, **kwargs) -> None:
    """Install the index template, mappings and lifecycle policy (safe to run again)."""
    cluster = connect(**_cluster_args(kwargs))
    try:
        report = cluster_setup.install(cluster, retention_days, not no_lifecycle,
                                       timezone.key if ingest_pipeline else None)
    except ClusterError as error:
        raise click.ClickException(f"setup failed: {error}") from None
    console = Console(stderr=True, soft_wrap=True)
    for line in report.done:
        console.print(f"[green]installed[/] {line}")
    for line in report.skipped:
        console.print(f"[yellow]skipped[/] {line}")


@main.command()
@source_options
@cluster_options
@click.option("--namespace", default="default", show_default=True,
              help="Data stream namespace: logs-epost.<dataset>-<namespace>.")
@click.option("--batch-size", default=1000, show_default=True, help="Documents per _bulk.")
@click.option("--retry-seconds", default=900.0, show_default=True,
              help="How long to keep retrying a batch while the cluster is unavailable.")
@click.option("--dead-letter", default="senderlog-failed.ndjson", show_default=True,
              type=click.Path(path_type=Path), help="Where refused documents are written.")
def ship(paths, timezone, platform, host, date, namespace, batch_size, retry_seconds,
         dead_letter, **kwargs) -> None:
    """Parse senderlogs exactly like `parse` and send the events to the cluster.

    Shipping the same files again adds nothing. The exit status is 1 when any document was
    not indexed (they are in the dead-letter file).
    """
    cluster = connect(**_cluster_args(kwargs), wait_seconds=retry_seconds)
    options = events.Options(timezone, platform, host, date)
    stats = events.Stats()
    shipper = shipping.Shipper(cluster, dead_letter, batch_size, retry_seconds=retry_seconds)
    console = Console(stderr=True, soft_wrap=True)

    columns = (SpinnerColumn(), TextColumn("{task.completed} events shipped"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("ship", total=None)
        try:
            found = events.run(list(paths), options, stats)
            result = shipper.ship(shipping.documents(found, namespace),
                                  lambda n: progress.advance(task, n))
        except FileNotFoundError as error:
            raise click.ClickException(str(error)) from error
        except ClusterError as error:
            raise click.ClickException(
                f"shipping stopped: {error}; {shipper.stats.sent} events were sent, run the "
                "same command again to resume (nothing is sent twice)") from None

    summary.print_summary(stats, f"{cluster.engine} {cluster.connection.url}", console)
    console.print(f"{result.indexed} indexed "
                  f"({', '.join(f'{n} {d}' for d, n in sorted(result.created.items())) or '-'}), "
                  f"{result.duplicates} already present, {result.failed} refused, "
                  f"{result.retries} retries")
    if result.failed:
        console.print(f"[red]{result.failed} documents refused[/]: see {dead_letter}")
        sys.exit(1)


@main.command()
@source_options
@cluster_options
@click.option("--namespace", default="default", show_default=True,
              help="Data stream namespace: logs-epost.<dataset>-<namespace>.")
@click.option("--registry", type=click.Path(path_type=Path), default=default_registry,
              show_default="the user's state folder",
              help="JSON file of the files read and the offsets the cluster acknowledged.")
@click.option("--batch-size", default=500, show_default=True, help="Documents per _bulk.")
@click.option("--flush-seconds", default=1.0, show_default=True,
              help="Send a batch that is not full after this long.")
@click.option("--poll-seconds", default=0.5, show_default=True,
              help="How often to look for new lines and new files.")
@click.option("--quiet-seconds", default=5.0, show_default=True,
              help="A file unchanged this long: its last record is complete, and if the next "
              "day's file exists it is finished.")
@click.option("--backoff-max", default=30.0, show_default=True,
              help="Longest wait between two tries while the cluster is unavailable.")
@click.option("--metrics-seconds", default=60.0, show_default=True,
              help="How often the counters are logged (and the metrics file rewritten).")
@click.option("--metrics-file", type=click.Path(path_type=Path),
              help="JSON file rewritten with the counters; SIGUSR1 rewrites it at once.")
@click.option("--dead-letter", default="senderlog-failed.ndjson", show_default=True,
              type=click.Path(path_type=Path), help="Where refused documents are written.")
def follow(paths, timezone, platform, host, date, namespace, registry, batch_size,
           flush_seconds, poll_seconds, quiet_seconds, backoff_max, metrics_seconds,
           metrics_file, dead_letter, **kwargs) -> None:
    """Ship the senderlogs E-Post is writing, as they grow, until SIGTERM or SIGINT.

    PATHS are senderlog folders (with one folder per computer name), host folders or files.
    Today's file is followed, then the next day's; the registry remembers what the cluster
    has acknowledged, so a restart neither loses nor repeats an event.
    """
    cluster = connect(**_cluster_args(kwargs), wait_seconds=math.inf)
    stopping = threading.Event()
    shipper = shipping.Shipper(cluster, dead_letter, batch_size, retry_seconds=math.inf,
                               stopping=stopping, max_wait=backoff_max)
    settings = following.Settings(namespace, batch_size, flush_seconds, poll_seconds,
                                  quiet_seconds, metrics_seconds, metrics_file)
    try:
        follower = following.Follower(list(paths), events.Options(timezone, platform, host, date),
                                      shipper, Registry(registry), settings, stopping)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from error
    sys.exit(follower.run())


@main.command(name="query")
@click.argument("question", type=click.Choice(sorted(query.QUESTIONS)))
@click.argument("text", required=False)
@cluster_options
@click.option("--since", default="7d", show_default=True, callback=_since,
              help="Time window back from now (30m, 24h, 7d), or 'all'.")
@click.option("--by", help="Group by this field, e.g. host.name.")
@click.option("--interval", default="1d", show_default=True, callback=_since,
              help="Bucket size of failures-over-time.")
@click.option("--timezone", default="Asia/Tokyo", show_default=True, callback=_timezone,
              help="Time zone of the failures-over-time buckets.")
@click.option("--namespace", default="*", show_default=True,
              help="Ask only the data streams of this namespace.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON rows instead of a table.")
def query_command(question, text, since, by, interval, timezone, namespace, as_json,
                  **kwargs) -> None:
    """Ask a fleet-wide question: top-causes, top-domains, failures-over-time,
    starttls-suspects, or search TEXT (a query string)."""
    if question == "search" and not text:
        raise click.UsageError("search needs TEXT, a query string such as "
                               "'epost.delivery.cause:connect_timeout' or '*'")
    if question == "search" and by:
        raise click.UsageError("search lists attempts one by one: --by does not apply")
    cluster = connect(**_cluster_args(kwargs))
    try:
        rows = query.ask(cluster, question, since, by, namespace, interval=interval,
                         timezone=timezone.key, query=text)
    except ClusterError as error:
        if error.status == 404 and namespace != "*":
            raise click.ClickException(
                f"nothing was shipped to the namespace {namespace!r} (no data stream "
                f"{query.DELIVERY.replace('*', namespace)})") from None
        raise click.ClickException(f"query failed: {error}") from None

    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{question} (since {since})", title_justify="left")
    for column in (rows[0] if rows else {"result": None}):
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row.values()))
    if rows:
        Console().print(table)
    elif since == "all":
        Console().print("no matching attempts")
    else:
        Console().print(f"no matching attempts in the last {since} (--since all asks every "
                        "attempt, however old)")


@main.group()
def export() -> None:
    """Write the Logstash pipeline or the ingest pipeline, generated from the patterns."""


@export.command(name="ingest-pipeline")
@click.option("--timezone", default="Asia/Tokyo", show_default=True, callback=_timezone,
              help="The servers' local time zone.")
@click.option("-o", "--output", default="-", show_default=True, type=click.File("w"),
              help="Where to write the JSON; - is standard output.")
def export_ingest(timezone, output) -> None:
    """The ingest pipeline JSON for PUT _ingest/pipeline/epost-senderlog."""
    output.write(ingest.render(timezone.key))


@export.command(name="logstash")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--timezone", default="Asia/Tokyo", show_default=True, callback=_timezone,
              help="The servers' local time zone.")
@click.option("--patterns/--no-patterns", default=True, show_default=True,
              help="Copy grok_patterns/ into FOLDER/patterns.")
def export_logstash(folder, timezone, patterns) -> None:
    """conf.d/, patterns/ and a pipelines.yml snippet for Logstash, in FOLDER."""
    for path in logstash.export(folder, timezone.key, patterns):
        click.echo(str(path), err=True)


@main.group(name="dashboards")
def dashboards_group() -> None:
    """Kibana and OpenSearch Dashboards saved objects: the delivery overview."""


@dashboards_group.command(name="export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def dashboards_export(folder) -> None:
    """Write FOLDER/kibana/epost.ndjson and FOLDER/opensearch-dashboards/epost.ndjson."""
    for path in dashboards.export(folder):
        click.echo(str(path), err=True)


@dashboards_group.command(name="install")
@click.option("--kibana", metavar="URL", help="Kibana 8 URL, e.g. https://kibana:5601.")
@click.option("--opensearch-dashboards", metavar="URL",
              help="OpenSearch Dashboards 2 URL, e.g. https://osd:5601.")
@click.option("--space", help="Kibana space to install into (default: the default space).")
@dashboards_login_options
def dashboards_install(kibana, opensearch_dashboards, space, **login) -> None:
    """Import the overview into Kibana or OpenSearch Dashboards (again: overwrites it).

    Exit status 1 when any object was refused; each refusal is printed. The configuration
    file's `dashboards:` section may hold these options (kibana: URL, username: ...).
    """
    osd = opensearch_dashboards
    if bool(kibana) == bool(osd):
        raise click.UsageError("give exactly one of --kibana URL, --opensearch-dashboards URL")
    if space and osd:
        raise click.UsageError("--space is for Kibana; OpenSearch Dashboards has none")
    target, url = (dashboards.KIBANA, kibana) if kibana else (dashboards.OSD, osd)
    console = Console(stderr=True, soft_wrap=True)
    try:
        result = saved_objects.install(target, url, saved_objects.Login(**login), space)
    except saved_objects.ImportFailed as error:
        raise click.ClickException(f"install failed: {error}") from None
    console.print(f"[green]{result.imported} saved objects imported[/] into "
                  f"{saved_objects.PRODUCTS[target]} at {url}")
    for line in result.errors:
        # One line per object, whole, so that it can be searched for.
        console.print(f"[red]refused[/] {escape(line)}")
    if result.errors:
        sys.exit(1)


@main.command(name="report")
@source_options
@click.option("--html", "html_path", required=True, type=click.Path(path_type=Path),
              help="The HTML file to write.")
def report_command(paths, timezone, platform, host, date, html_path) -> None:
    """Parse senderlogs like `parse` and make the dashboard's panels as one HTML page.

    Needs no cluster: the page holds its charts and the plotting library, and opens without a
    network. A summary goes to stderr.
    """
    options = events.Options(timezone, platform, host, date)
    try:
        made = report.build(list(paths), options)
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from error
    except PatternError as error:
        raise click.ClickException(f"grok patterns: {error}") from error
    html_path.write_text(report.render_html(made), encoding="utf-8")
    report.print_summary(made, str(html_path))


if __name__ == "__main__":
    main()
