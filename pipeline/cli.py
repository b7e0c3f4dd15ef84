"""Command line: `senderlog parse` and the other jobs of the package."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from pipeline import errors, events, summary
from pipeline.grok import PatternError

log = logging.getLogger("senderlog")


def _timezone(_ctx, _param, value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise click.BadParameter(f"unknown time zone {value!r}") from error


def _date(_ctx, _param, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter("use YYYY-MM-DD") from error


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def main(verbose: int) -> None:
    """Turn E-Post Mail Server senderlogs into diagnosed delivery events."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(message)s", stream=sys.stderr)


def source_options(command):
    """Options every job that reads senderlogs shares."""
    decorators = [
        click.argument("paths", nargs=-1, required=True,
                       type=click.Path(path_type=Path)),
        click.option("--timezone", default="Asia/Tokyo", show_default=True,
                     callback=_timezone, help="Local time zone of the mail server."),
        click.option("--platform", type=click.Choice(errors.PLATFORMS),
                     help="Server platform; default: read from the paths in the log."),
        click.option("--host", help="host.name for files not in a <host> folder."),
        click.option("--date", callback=_date,
                     help="Date (YYYY-MM-DD) for files not named yymmdd.log."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


@main.command()
@source_options
@click.option("-o", "--output", default="-", show_default=True,
              help="NDJSON file to write; - for standard output.")
def parse(paths, timezone, platform, host, date, output) -> None:
    """Parse senderlog files and folders into NDJSON events.

    Every record becomes an event (dataset epost.senderlog), every delivery attempt another
    (dataset epost.delivery) with its cause and the side at fault. A summary goes to stderr.
    """
    options = events.Options(timezone, platform, host, date)
    stats = events.Stats()
    target = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")
    try:
        for event in events.run(list(paths), options, stats):
            stats.count(event)
            target.write(json.dumps(event, ensure_ascii=False, sort_keys=True) + "\n")
    except FileNotFoundError as error:
        raise click.ClickException(str(error)) from error
    except PatternError as error:
        raise click.ClickException(f"grok patterns: {error}") from error
    finally:
        if target is not sys.stdout:
            target.close()

    summary.print_summary(stats, output)


if __name__ == "__main__":
    main()
