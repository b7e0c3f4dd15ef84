"""`senderlog parse --workers`: the same NDJSON and summary as one process."""

from __future__ import annotations

from click.testing import CliRunner

from bench.corpus import Generator
from pipeline.cli import main


def _parse(paths: list[str], workers: int, output) -> str:
    result = CliRunner().invoke(main, ["parse", *paths, "--date", "2025-12-03",
                                       "--workers", str(workers), "-o", str(output)])
    assert result.exit_code == 0, result.output
    return result.stderr


def test_two_workers_write_the_same_bytes_as_one_on_the_samples(tmp_path):
    one = _parse(["samples"], 1, tmp_path / "one.ndjson")
    two = _parse(["samples"], 2, tmp_path / "two.ndjson")

    assert (tmp_path / "two.ndjson").read_bytes() == (tmp_path / "one.ndjson").read_bytes()
    assert two.replace("two.ndjson", "one.ndjson") == one
    assert "18 files (1 acceptlog, 2 faillog, 1 inlog, 1 outlocallog, 1 outlog, 1" in one
    assert len((tmp_path / "one.ndjson").read_text().splitlines()) == 474 + 12


def test_days_of_one_host_stay_in_one_worker(tmp_path):
    # Two hosts, three days each: attempts open at midnight are finished in the next day's
    # file, so a host's days must be read in order by one process.
    Generator(seed=5).write(tmp_path / "fleet", hosts=2, days=3, attempts_per_day=40)
    paths = [str(tmp_path / "fleet"), "samples/mail"]

    one = _parse(paths, 1, tmp_path / "one.ndjson")
    two = _parse(paths, 2, tmp_path / "two.ndjson")

    assert (tmp_path / "two.ndjson").read_bytes() == (tmp_path / "one.ndjson").read_bytes()
    assert two.replace("two.ndjson", "one.ndjson") == one
    assert "0 unparsed records" in one


def test_files_dated_by_modification_time_are_counted_once_by_any_workers(tmp_path):
    # One host's two undated days are one chain, read by one worker, with another log read
    # between them by the command; the summary counts every undated file once.
    sample = open("samples/senderlog/success-windows.log", "rb").read()
    first = tmp_path / "senderlog" / "MAIL01" / "first.log"
    sibling = tmp_path / "outlog" / "MAIL01" / "between.log"
    second = tmp_path / "senderlog" / "MAIL01" / "second.log"
    for path in (first, sibling, second):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sample if path.parent.parent.name == "senderlog" else b"")
    paths = [str(first), str(sibling), str(second)]

    def summary(workers: int, name: str) -> str:
        # Wide enough that no path is wrapped.
        result = CliRunner(env={"COLUMNS": "500"}).invoke(
            main, ["parse", *paths, "--workers", str(workers), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        return result.stderr.replace(name, "out")

    one = summary(1, "one.ndjson")
    assert summary(2, "two.ndjson") == one
    assert "3 files dated by their modification time (not named yymmdd.log" in one
    assert "1 files without a host name" not in one
