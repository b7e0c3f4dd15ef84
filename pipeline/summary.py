"""Summary: what a run read and found, printed to stderr for the operator."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pipeline.events import Stats

TOP = 10


def print_summary(stats: Stats, output: str, console: Console | None = None) -> None:
    """Files, records, attempts, unparsed records, causes by side, top failing domains."""
    console = console or Console(stderr=True, soft_wrap=True)
    where = "standard output" if output == "-" else output
    logs = ", ".join(f"{count} {name}" for name, count in sorted(stats.logs.items()))
    console.print(
        f"[bold]{stats.files}[/] files ({logs or 'none'}), [bold]{stats.records}[/] records, "
        f"[bold]{stats.attempts}[/] delivery attempts -> {where}"
    )

    unparsed = "[red]" if stats.unparsed else "[green]"
    console.print(f"{unparsed}{stats.unparsed} unparsed records[/] "
                  f"(kept with tag _grokparsefailure), {stats.truncated} cut at 64 KiB")
    if stats.dates_guessed:
        console.print(f"[yellow]{stats.dates_guessed} files dated by their modification "
                      "time[/] (not named yymmdd.log; --date sets the date)")
    if stats.hostless:
        console.print(f"[yellow]{stats.hostless} files without a host name[/] (not in a "
                      "senderlog/<computer name>/ folder; --host sets one)")

    if stats.causes:
        table = Table(title="Attempts by cause", title_justify="left")
        table.add_column("cause")
        table.add_column("side")
        table.add_column("attempts", justify="right")
        for (label, side), count in stats.causes.most_common():
            table.add_row(label, side, str(count))
        console.print(table)

    if stats.failing_domains:
        table = Table(title="Top failing destination domains", title_justify="left")
        table.add_column("domain")
        table.add_column("failed attempts", justify="right")
        for domain, count in stats.failing_domains.most_common(TOP):
            table.add_row(domain, str(count))
        console.print(table)
