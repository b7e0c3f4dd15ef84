"""`senderlog parse` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from pipeline.cli import main


def test_parse_writes_ndjson_to_stdout_and_a_summary_to_stderr():
    result = CliRunner().invoke(
        main, ["parse", "samples/senderlog/550-user-unknown-windows.log", "--date", "2025-12-03"])
    assert result.exit_code == 0
    found = [json.loads(line) for line in result.stdout.splitlines()]
    attempts = [e for e in found if e["event"]["dataset"] == "epost.delivery"]
    assert (len(found), len(attempts)) == (41, 1)
    assert attempts[0]["epost"]["delivery"]["cause"] == "recipient_unknown"
    assert "1 files (1 senderlog), 40 records, 1 delivery attempts" in result.stderr
    assert "0 unparsed records" in result.stderr
    assert "recipient_unknown" in result.stderr
    assert "example.jp" in result.stderr
    assert "1 files without a host name (not in a senderlog/<computer name>/ folder; " \
        "--host sets one)" in " ".join(result.stderr.split())


def test_host_option_names_files_outside_a_host_folder():
    result = CliRunner().invoke(main, ["parse", "samples/senderlog/success-windows.log",
                                       "--date", "2025-12-03", "--host", "MAIL09"])
    assert result.exit_code == 0
    hosts = {json.loads(line)["host"]["name"] for line in result.stdout.splitlines()}
    assert hosts == {"MAIL09"}
    assert "without a host name" not in result.stderr


def test_a_reader_that_goes_away_ends_the_run_quietly():
    # `senderlog parse ... | head -1`: the pipe closes after the first line.
    command = [sys.executable, "-m", "pipeline.cli", "parse", "samples/senderlog", "--date",
               "2025-12-03"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        first = process.stdout.readline()
        process.stdout.close()
        error = process.stderr.read().decode()
    assert json.loads(first)["event"]["dataset"] == "epost.senderlog"
    assert process.returncode == 0, error
    assert "Traceback" not in error and "Error" not in error


def test_parse_options_change_time_zone_and_platform(tmp_path):
    output = tmp_path / "out.ndjson"
    result = CliRunner().invoke(main, [
        "parse", "samples/senderlog/connect-timeout-60-bsd.log", "--date", "2025-12-03",
        "--timezone", "UTC", "--platform", "linux", "-o", str(output)])
    assert result.exit_code == 0
    found = [json.loads(line) for line in output.read_text().splitlines()]
    attempt = next(e for e in found if e["event"]["dataset"] == "epost.delivery")
    assert attempt["@timestamp"] == "2025-12-03T15:30:00.011+00:00"
    # 60 is not a socket error on Linux (ETIMEDOUT is 110): no label at connect.
    assert attempt["epost"]["delivery"]["socket_error"]["table"] == "linux"
    assert attempt["epost"]["delivery"]["cause"] == "unknown"


def test_bad_time_zone_is_refused():
    result = CliRunner().invoke(main, ["parse", "samples", "--timezone", "Mars/Olympus"])
    assert result.exit_code == 2
    assert "unknown time zone" in result.stderr


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "parse", "samples/senderlog", "--date",
         "2025-12-03", "-o", "-"], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert len(lines) == 462 + 12
    assert "11 files" in result.stderr
