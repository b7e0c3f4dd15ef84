"""The benchmark: `python -m bench` (or `make bench`) prints figures and ratios to targets.

One run, one generated corpus under .cache/bench/: the parser on one core and with workers,
peak memory for growing file sizes, a naive pygrok baseline, the generated ingest pipeline
on a real OpenSearch node, and `senderlog ship` against a raw `_bulk` loop.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bench import cluster_runs
from bench import corpus as generator
from bench.targets import Figures, fastest

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"


def corpus(name: str, hosts: int, days: int, attempts: int, seed: int,
           console: Console) -> Path:
    """A generated corpus, written once per generator and parameters, reused afterwards."""
    version = hashlib.sha1(Path(generator.__file__).read_bytes()).hexdigest()[:8]
    folder = CACHE / f"{name}-h{hosts}-d{days}-a{attempts}-s{seed}-{version}"
    done = folder / "manifest.json"
    if not done.exists():
        console.print(f"writing corpus {folder.relative_to(ROOT)} ...")
        manifest = generator.Generator(seed=seed).write(folder, hosts, days, attempts)
        done.write_text(json.dumps({"files": len(manifest.files), "bytes": manifest.bytes,
                                    "causes": manifest.causes}))
    return folder


def measure(*args: str) -> dict:
    """Run one measurement in a fresh process and return its JSON line."""
    answer = subprocess.run([sys.executable, "-m", "bench.measure", *map(str, args)],
                            cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(answer.stdout.splitlines()[-1])


def machine() -> str:
    """Cores, CPU model and memory of this machine."""
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return (f"{os.cpu_count()} cores, {model}, {pages / 2**30:.1f} GiB RAM, "
            f"Python {platform.python_version()}")


@click.command()
@click.option("--hosts", default=4, show_default=True, help="Hosts in the main corpus.")
@click.option("--days", default=2, show_default=True, help="Days per host.")
@click.option("--attempts", default=1000, show_default=True, help="Attempts per host and day.")
@click.option("--repeat", default=3, show_default=True,
              help="Runs of each throughput measurement; the fastest counts.")
@click.option("--seed", default=7, show_default=True)
@click.option("--sizes", default="1000,4000,16000", show_default=True,
              help="Attempts in the single files of the memory measurement.")
@click.option("--naive-lines", default=20_000, show_default=True,
              help="Lines given to the naive pygrok baseline.")
@click.option("--cluster-records", default=50_000, show_default=True,
              help="Records sent through the ingest pipeline and shipped.")
@click.option("--url", help="Use this OpenSearch node instead of starting the test node.")
def main(hosts, days, attempts, repeat, seed, sizes, naive_lines, cluster_records,
         url) -> None:
    """Measure the parser and the shipper on a generated corpus; print figures and targets."""
    console = Console(width=max(Console().width, 120))
    cores = os.cpu_count() or 1
    console.print(f"[bold]machine[/]: {machine()}")
    figures = Figures(cores)
    figures.load.append(os.getloadavg())

    main_corpus = corpus("fleet", hosts, days, attempts, seed, console)
    info = json.loads((main_corpus / "manifest.json").read_text())
    console.print(f"corpus: {info['files']} files, {info['bytes'] / 2**20:.0f} MiB, "
                  f"{hosts} hosts x {days} days x {attempts} attempts")

    # The worker counts take turns, so that a busy moment of the machine does not fall on
    # one of them only.
    runs: dict[int, list[dict]] = {workers: [] for workers in sorted({1, 2, cores})}
    free: dict[int, list[float]] = {workers: [] for workers in runs if workers > 1}
    for turn in range(1, repeat + 1):
        for workers, found in runs.items():
            console.print(f"parse with {workers} worker(s) ({turn}) ...")
            found.append(measure("parse", main_corpus, "--workers", workers))
        for workers, speedups in free.items():
            speedups.append(measure("cores", "--workers", workers)["speedup"])
    figures.parse = {workers: fastest(found) for workers, found in runs.items()}
    figures.free = {workers: max(speedups) for workers, speedups in free.items()}

    for size in (int(value) for value in sizes.split(",")):
        single = corpus("file", 1, 1, size, seed, console)
        console.print(f"memory for one file of {size} attempts ...")
        result = measure("parse", single)
        result["bytes"] = json.loads((single / "manifest.json").read_text())["bytes"]
        figures.memory.append(result)

    first_file = sorted(main_corpus.rglob("*.log"))[0]
    console.print(f"naive pygrok baseline on {naive_lines} lines ...")
    figures.naive = fastest([measure("naive", first_file, "--lines", naive_lines)
                             for _ in range(repeat)])

    console.print("ingest pipeline and shipping on OpenSearch ...")
    figures.cluster = cluster_runs.run(main_corpus, cluster_records, url, repeat, console)

    figures.load.append(os.getloadavg())
    figures.print(console)


if __name__ == "__main__":
    main()
