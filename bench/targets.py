"""Targets: the figures of a benchmark run, compared with what the parser should reach."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

RECORDS_PER_SECOND = 250_000
OVER_NAIVE = 20.0
OVER_INGEST_PER_CORE = 5.0
PEAK_RSS_MB = 300.0
# "Near-linear": each added worker brings at least 90 % of what the first one does.
SCALING_EFFICIENCY = 0.9
SHIP_OF_RAW = 0.9


def at_least(value: float, target: float) -> str:
    """Met, or by how much the value falls short of the target."""
    if value >= target:
        return f"[green]met[/] ({value / target:.2f}x the target)"
    return (f"[red]missed[/] by {(1 - value / target) * 100:.0f} % "
            f"(needs {target / value:.1f}x)")


def at_most(value: float, target: float) -> str:
    if value <= target:
        return f"[green]met[/] ({target - value:.0f} MB to spare)"
    return f"[red]missed[/] by {value - target:.0f} MB ({value / target:.2f}x the limit)"


def fastest(runs: list[dict]) -> dict:
    """Other work on the machine only ever slows a run down: the fastest run counts."""
    return min(runs, key=lambda run: run["seconds"])


def rate(run: dict, count: str = "records") -> float:
    return run[count] / run["seconds"]


@dataclass
class Figures:
    """What one run measured."""

    cores: int
    load: list[tuple[float, float, float]] = field(default_factory=list)
    parse: dict[int, dict] = field(default_factory=dict)
    # What N busy processes got at once on this machine, as a speed-up over one.
    free: dict[int, float] = field(default_factory=dict)
    memory: list[dict] = field(default_factory=list)
    naive: dict = field(default_factory=dict)
    cluster: dict = field(default_factory=dict)

    def print(self, console: Console) -> None:
        """The measurements, then each target with its verdict."""
        console.print(self.measurements())
        console.print(self.verdicts())

    def measurements(self) -> Table:
        table = Table(title="Measurements", title_justify="left")
        for column in ("run", "items", "seconds", "per second", "peak RSS MB"):
            table.add_column(column, justify="left" if column == "run" else "right")

        for workers, run in sorted(self.parse.items()):
            rss = max(run["rss_mb"], run["worker_rss_mb"])
            table.add_row(f"parse, {workers} worker(s), {run['unparsed']} unparsed",
                          f"{run['records']:,} records", f"{run['seconds']:.1f}",
                          f"{rate(run):,.0f}", f"{rss:.0f}")
        for run in self.memory:
            table.add_row(f"parse one file of {run['bytes'] / 2**20:.0f} MiB",
                          f"{run['records']:,} records", f"{run['seconds']:.1f}",
                          f"{rate(run):,.0f}", f"{run['rss_mb']:.0f}")
        naive = self.naive
        table.add_row(f"naive pygrok, {naive['patterns']} patterns in turn",
                      f"{naive['lines']:,} lines", f"{naive['seconds']:.2f}",
                      f"{rate(naive, 'lines'):,.0f}", "")
        table.add_row("parser's dispatch on the same lines (matching only)",
                      f"{naive['lines']:,} lines", f"{naive['dispatch_seconds']:.2f}",
                      f"{naive['lines'] / naive['dispatch_seconds']:,.0f}", "")
        for name, label in (("ingest", "ingest pipeline, bulk ?pipeline="),
                            ("raw", "raw _bulk loop, pre-serialised events"),
                            ("ship", "senderlog ship (Shipper)")):
            run = self.cluster[name]
            table.add_row(f"{label}, {run['failed']} failed", f"{run['documents']:,} docs",
                          f"{run['seconds']:.1f}", f"{rate(run, 'documents'):,.0f}", "")
        return table

    def verdicts(self) -> Table:
        loads = " then ".join(f"{one:.1f}" for one, _, _ in self.load)
        table = Table(title=f"Targets ({self.cores} cores here, 1-minute load average "
                            f"{loads}; OpenSearch "
                            f"{self.cluster['version']} with "
                            f"{self.cluster['node_processors']} processors on this machine)",
                      title_justify="left")
        for column in ("target", "measured", "goal", "result"):
            table.add_column(column)

        one = rate(self.parse[1])
        table.add_row("parse + diagnose + serialise, one core", f"{one:,.0f} records/s",
                      f">= {RECORDS_PER_SECOND:,}", at_least(one, RECORDS_PER_SECOND))

        naive = rate(self.naive, "lines")
        table.add_row("the same over naive pygrok (matching only)", f"{one / naive:.2f}x",
                      f">= {OVER_NAIVE:.0f}x", at_least(one / naive, OVER_NAIVE))
        dispatch = self.naive["lines"] / self.naive["dispatch_seconds"]
        table.add_row("  matching alone: dispatch over naive", f"{dispatch / naive:.2f}x",
                      "(for reference)", "")

        ingest = rate(self.cluster["ingest"], "documents") / self.cluster["node_processors"]
        table.add_row("parser per core over ingest pipeline per core",
                      f"{one / ingest:.2f}x ({ingest:,.0f} docs/s per core)",
                      f">= {OVER_INGEST_PER_CORE:.0f}x", at_least(one / ingest,
                                                                   OVER_INGEST_PER_CORE))

        peak = max([run["rss_mb"] for run in self.memory]
                   + [max(run["rss_mb"], run["worker_rss_mb"]) for run in self.parse.values()])
        sizes = ", ".join(f"{run['bytes'] / 2**20:.0f} MiB: {run['rss_mb']:.0f} MB"
                          for run in self.memory)
        table.add_row("peak RSS of any process", f"{peak:.0f} MB ({sizes})",
                      f"<= {PEAK_RSS_MB:.0f} MB", at_most(peak, PEAK_RSS_MB))

        for workers, run in sorted(self.parse.items()):
            if workers == 1:
                continue
            speedup = rate(run) / one
            goal = 1 + (workers - 1) * SCALING_EFFICIENCY
            table.add_row(f"scaling with --workers {workers}", f"{speedup:.2f}x one worker",
                          f">= {goal:.1f}x", at_least(speedup, goal))
            # Wall time shows what the machine gave; CPU time what the workers cost.
            cost = (run["cpu_seconds"] / run["records"]) / (
                self.parse[1]["cpu_seconds"] / self.parse[1]["records"])
            table.add_row("  CPU time per record over one worker's", f"{cost:.2f}x",
                          "(for reference)", f"{workers / cost:.2f}x if the cores were free")
            table.add_row(f"  {workers} busy loops at once over one (free cores)",
                          f"{self.free[workers]:.2f}x", "(for reference)",
                          "what the machine gave to any program")

        shipped = rate(self.cluster["ship"], "documents") / rate(self.cluster["raw"],
                                                                  "documents")
        table.add_row("senderlog ship over raw _bulk", f"{shipped * 100:.0f} %",
                      f">= {SHIP_OF_RAW * 100:.0f} %", at_least(shipped, SHIP_OF_RAW))
        return table
